"""Data parallel at the edges: parts with no row, parts that do not match, lbfgs, a signal as MPI starts.

The MPI tests launch ``mpiexec`` as :mod:`test_distributed` does (its helpers
are reused) and are skipped, with the reason, where mpi4py or mpiexec is
missing. Each compares with one process trained here on the same data, float64,
within 1e-10 relative, or checks that every process ends with the one line and
the exit code the README gives -- and never waits for ever.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_distributed import HOOKS, RTOL, _gpubp, _start, _wait_for, _weights, env_with, mpiexec, needs_mpi

from gpubp import MLPClassifier, MLPRegressor, to_host
from gpubp.cli.stop import Stop
from gpubp.estimators import inputs
from gpubp.estimators.regressor import _R2

# ---------------------------------------------------------------------------
# Without MPI: the pieces


def test_a_regressor_part_holding_no_row_of_a_set_is_scored_by_the_sums_of_the_others():
    X, y = np.empty((0, 3)), np.empty((0,))  # one target column, no row: reshape(y, (0, -1)) is ambiguous
    val = _R2(X, y, None, False)
    assert val.total_sq.shape == (1,)
    val.share(lambda v: np.asarray(v, dtype=np.float64) + 1.0)  # the other processes' sums, here 1 each
    assert val.total_sq.shape == (1,)


def test_a_part_may_hold_no_row_or_only_rows_of_weight_zero():
    est = MLPRegressor()
    X, y = inputs.check_fit_data(est, np.empty((0, 4)), np.empty((0,)), reset=True, numeric=True, part=True)
    assert X.shape == (0, 4) and y.shape == (0,) and est.n_features_in_ == 4
    assert inputs.check_sample_weight(np.zeros(3), np.ones((3, 4)), part=True).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="at least one non-zero"):  # one process alone: as scikit-learn
        inputs.check_sample_weight(np.zeros(3), np.ones((3, 4)))
    with pytest.raises(ValueError, match="0 sample"):
        inputs.check_fit_data(est, np.empty((0, 4)), np.empty((0,)), reset=True, numeric=True)


def test_a_part_may_be_a_list_and_a_part_to_evaluate_may_be_empty_with_empty_weights():
    """``part=True`` read ``X.shape`` before validating: a list X raised AttributeError; evaluate's part
    with no row refused ``sample_weight=[]``."""
    est = MLPClassifier()
    X, y = inputs.check_fit_data(est, [[0.0, 1.0], [1.0, 0.0]], [0, 1], reset=True, numeric=False, part=True)
    assert X.shape == (2, 2) and y.tolist() == [0, 1]
    X = inputs.check_X(est, np.empty((0, 2)), reset=False, part=True)
    assert X.shape == (0, 2) and inputs.check_sample_weight([], X, part=True).shape == (0,)


def test_a_signal_an_enclosing_handler_deferred_is_kept_by_the_next():
    with Stop() as outer, outer.deferred():
        signal.raise_signal(signal.SIGTERM)  # e.g. while MPI starts: deferred, not acted on
        assert outer.signum == signal.SIGTERM
        with Stop() as inner:  # the command's own handler, once the processes have met
            assert inner.is_set() and inner.interrupted().exit_code == 143


# ---------------------------------------------------------------------------
# With mpiexec: the library

WORKER = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from gpubp import MLPClassifier, MLPRegressor, to_host
from gpubp.distributed import data_parallel

cfg = json.loads(sys.argv[1])
d = np.load(cfg["data"])
with data_parallel() as group:
    cut = cfg["cuts"]
    mine = slice(cut[group.rank], cut[group.rank + 1])
    X, y, w = d["X"][mine], d["y_" + cfg["kind"]][mine], d["w"][mine] if cfg["weighted"] else None
    if group.rank == cfg.get("drop_column_on", -1):
        X = X[:, 1:]
    params = dict(cfg["params"])
    if group.rank == cfg.get("other_batch_on", -1):
        params["batch_size"] += 1
    est = (MLPClassifier if cfg["kind"] == "classifier" else MLPRegressor)(**params)
    try:
        est.fit(X, y, sample_weight=w)
    except ValueError as exc:
        print(f"rank {group.rank}: {type(exc).__name__}: {exc}", flush=True)
        sys.exit(0)
    if group.rank == 0:
        np.savez(cfg["out"], *[to_host(a) for a in est.coefs_ + est.intercepts_])
"""


def _data(tmp_path: Path, n: int = 61) -> Path:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, 4)) * [1.0, 5.0, 0.3, 2.0]
    y_classifier = np.array(["low", "mid", "high"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 2)]
    y_regressor = np.column_stack([X[:, 0] - X[:, 3], 0.5 * X[:, 2]])  # two outputs
    w = rng.uniform(0.2, 2.0, n)
    w[:20] = 0.0  # the first part weighs nothing
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y_classifier=y_classifier, y_regressor=y_regressor, w=w)
    return path


def _launch(tmp_path: Path, n: int, cfg: dict) -> subprocess.CompletedProcess:
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    args = [*mpiexec(n), sys.executable, "-m", "mpi4py", str(worker), json.dumps(cfg)]
    return subprocess.run(args, capture_output=True, text=True, env=env_with(), timeout=120)


def _params(**extra) -> dict:
    common = {"dtype": "float64", "random_state": 0, "hidden_layer_sizes": [5, 3], "batch_size": 16, "max_iter": 3}
    return {**common, "tol": 0.0, "n_iter_no_change": 1000, **extra}


@needs_mpi
@pytest.mark.slow  # reason: four launches of two and three processes
@pytest.mark.parametrize(
    ("n", "cuts", "kind", "weighted", "extra"),
    [
        pytest.param(2, [0, 0, 61], "classifier", False, {}, id="2-first-part-empty"),
        pytest.param(3, [0, 30, 30, 61], "regressor", False, {"early_stopping": True}, id="3-middle-empty-es"),
        pytest.param(3, [0, 20, 40, 61], "classifier", True, {"alpha": 0.01}, id="3-first-part-weighs-nothing"),
        pytest.param(3, [0, 20, 61, 61], "regressor", True, {"early_stopping": True}, id="3-weightless-and-empty"),
    ],
)
def test_a_part_with_no_row_or_no_weight_still_gives_the_model_of_one_process(tmp_path, n, cuts, kind, weighted, extra):
    data = _data(tmp_path)
    params = _params(**extra)
    proc = _launch(
        tmp_path, n, {"data": str(data), "cuts": cuts, "kind": kind, "weighted": weighted, "params": params,
                      "out": str(tmp_path / "par.npz")},
    )  # fmt: skip
    assert proc.returncode == 0 and "Error" not in proc.stdout, proc.stdout + proc.stderr
    d = np.load(data)
    est = (MLPClassifier if kind == "classifier" else MLPRegressor)(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(d["X"], d["y_" + kind], sample_weight=d["w"] if weighted else None)
    par = np.load(tmp_path / "par.npz")
    for i, a in enumerate(est.coefs_ + est.intercepts_):
        one = to_host(a)
        assert np.max(np.abs(one - par[f"arr_{i}"])) <= RTOL * np.max(np.abs(one)), i


@needs_mpi
@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("drop_column_on", "different numbers of features (columns of X): 4, 3"),
        ("other_batch_on", "different settings (batch_size)"),
    ],
)
def test_parts_that_do_not_make_one_data_set_fail_on_every_process_instead_of_waiting(tmp_path, what, said):
    cfg = {"data": str(_data(tmp_path)), "cuts": [0, 30, 61], "kind": "regressor", "weighted": False,
           "params": _params(), "out": str(tmp_path / "par.npz"), what: 1}  # fmt: skip
    proc = _launch(tmp_path, 2, cfg)  # before: a buffer of another size, then a wait for ever
    assert proc.returncode == 0, proc.stderr
    # the launcher relays each process's output in chunks of its own: lines may interleave, so count
    out = proc.stdout
    assert out.count(said) == 2, out
    assert out.count("rank 0: GpubpError") == 1 and out.count("rank 1: GpubpError") == 1, out


# ---------------------------------------------------------------------------
# With mpiexec: the command


@needs_mpi
@pytest.mark.slow  # reason: a launch of three processes and one process to compare with
def test_fewer_rows_than_processes_train_and_test_as_one_process(tmp_path):
    rng = np.random.default_rng(2)
    rows = [f"{a:.4f},{b:.4f},{a - 2 * b:.4f}" for a, b in rng.standard_normal((5, 2))]
    (tmp_path / "five.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")  # 4 train rows, 1 test row, 3 processes
    args = ["train", "--data", "five.csv", "--hidden", "3", "--dtype", "float64", "--epochs", "3",
            "--no-early-stopping", "--batch-size", "2", "--json"]  # fmt: skip
    one, _ = _gpubp(1, [*args, "--out", "one"], tmp_path, env_with())
    three, seconds = _gpubp(3, [*args, "--out", "three"], tmp_path, env_with(), 120)
    assert one.returncode == 0 and three.returncode == 0, three.stderr  # before: a part with no row failed fit
    a, b = _weights(tmp_path / "one" / "model.safetensors"), _weights(tmp_path / "three" / "model.safetensors")
    assert all(np.max(np.abs(a[k] - b[k])) <= RTOL * np.max(np.abs(a[k])) for k in a)
    test_one, test_three = json.loads(one.stdout)["test"], json.loads(three.stdout)["test"]
    assert test_three == pytest.approx(test_one, rel=1e-10)  # two processes held no test row


@needs_mpi
def test_lbfgs_under_mpiexec_is_refused_in_the_flag_s_words_before_reading_data(tmp_path):
    proc, _ = _gpubp(2, ["train", "--data", "missing.csv", "--optimizer", "lbfgs", "--out", "run"], tmp_path,
                     env_with(), 120)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("gpubp: error: --optimizer lbfgs: lbfgs is not data parallel yet")
    assert not (tmp_path / "run").exists()


#: Added to test_distributed's hooks: one rank sends itself SIGTERM just before MPI starts.
TERM_AT_START = r"""
if rank is not None and rank == os.environ.get("GPUBP_TEST_TERM_AT_START"):
    import signal
    import gpubp.distributed.group as group
    real_mpi = group._mpi
    def _mpi():
        os.kill(os.getpid(), signal.SIGTERM)
        return real_mpi()
    group._mpi = _mpi
"""


#: One rank never finishes reading its data.
HANG_IN_READ = r"""
if rank is not None and rank == os.environ.get("GPUBP_TEST_HANG_READ"):
    import time
    import gpubp.distributed.shards as shards
    real_open = shards.open_dataset
    def open_dataset(*args, **kwargs):
        time.sleep(600)
        return real_open(*args, **kwargs)
    shards.open_dataset = open_dataset
"""


@pytest.fixture
def hooks(tmp_path):
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(HOOKS + TERM_AT_START + HANG_IN_READ)
    return folder


@needs_mpi
@pytest.mark.slow  # reason: three processes started
@pytest.mark.parametrize("rank", ["1", "0"])
def test_sigterm_to_one_process_as_mpi_starts_stops_every_process(tmp_path, hooks, rank):
    env = env_with(hooks, GPUBP_TEST_TERM_AT_START=rank)
    args = ["train", "--data", "xor", "--epochs", "2", "--out", "run", "--quiet"]
    proc, seconds = _gpubp(3, args, tmp_path, env, 60)  # before: the others waited in MPI_Init for ever
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr == "gpubp: interrupted by SIGTERM before the first epoch ended; nothing was saved\n"
    assert not (tmp_path / "run").exists() and seconds < 60


@needs_mpi
@pytest.mark.slow  # reason: a run slowed down so the signal lands mid-run
def test_sigterm_to_a_process_other_than_rank_0_is_named_as_sigterm(tmp_path, hooks):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = env_with(hooks, GPUBP_TEST_PIDS=str(pids), GPUBP_TEST_SLOW_STEP="0.01")
    args = ["train", "--data", "xor", "--hidden", "8", "--batch-size", "8", "--epochs", "50", "--quiet", "--out", "run"]
    proc = _start(2, args, tmp_path, env)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors", proc)
    time.sleep(0.2)
    os.kill(int((pids / "rank1.pid").read_text()), signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.count("\n") == 1 and err.startswith("gpubp: interrupted by SIGTERM in epoch ")  # before: "interrupted"
    assert "resume with: mpiexec -n 2 gpubp train --resume run" in err


@needs_mpi
@pytest.mark.slow  # reason: waits out the watchdog
def test_a_process_hung_while_reading_its_data_is_caught_by_the_watchdog(tmp_path, hooks):
    env = env_with(hooks, GPUBP_TEST_HANG_READ="1", GPUBP_MPI_TIMEOUT="3")
    proc, seconds = _gpubp(2, ["train", "--data", "xor", "--out", "run", "--quiet"], tmp_path, env, 60)
    assert proc.returncode == 124, proc.stderr  # before: rank 0 waited in the agreement on the data for ever
    assert proc.stderr.count("gpubp: error:") == 1
    assert "gpubp: error: process 0 of 2 waited more than 3 s for the others" in proc.stderr
    assert not (tmp_path / "run").exists() and seconds < 60
