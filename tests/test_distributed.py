"""Data-parallel training over MPI: N processes give the model of one process, and fail together.

The MPI tests launch ``mpiexec`` (the ``mpich`` wheel's, next to the Python
running the tests, else the one on PATH) with 2 and 3 processes and compare,
weight by weight, with one process trained in this test on the same global
batch: float64, within 1e-10 relative. They are skipped, with the reason,
where mpi4py or mpiexec is missing. The rest -- how global batches are cut,
the device logic, reading shards, the launcher detection -- runs everywhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import gpubp
from gpubp import MLPClassifier, MLPRegressor
from gpubp.backend import Backend, rank_device, resolve
from gpubp.distributed import shards
from gpubp.io import load_model_file
from gpubp.train import _batches

ROOT = Path(__file__).resolve().parents[1]


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not (HAVE_MPI4PY and MPIEXEC), reason="mpi4py or mpiexec is missing (pip install 'gpubp[mpi]' mpich)"
)

#: Relative tolerance, per weight array (largest difference over largest weight), float64 N vs 1 process.
RTOL = 1e-10


def mpiexec(n: int) -> list[str]:
    """The launch command for ``n`` processes; Open MPI needs leave to put more processes than cores."""
    cmd = [MPIEXEC, "-n", str(n)]
    version = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        cmd.append("--oversubscribe")
    return cmd


def env_with(hooks: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for launched processes: this checkout first on the path, optional test hooks before it."""
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    if hooks is not None:
        path.insert(0, str(hooks))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "GPUBP_MPI"))}
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in path if p), **extra}


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.max(np.abs(a))) or 1.0
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))) / scale


def test_ci_runs_the_mpi_tests_when_it_says_so():
    if os.environ.get("GPUBP_EXPECT_MPI") != "1":
        pytest.skip("GPUBP_EXPECT_MPI is not set (CI sets it to 1 where it installs mpi4py and mpich)")
    assert HAVE_MPI4PY and MPIEXEC, "CI installed mpi4py and mpich, yet the MPI tests would be skipped"


# ---------------------------------------------------------------------------
# Without MPI: the pieces


@pytest.mark.parametrize("seed", range(20))
def test_the_parts_of_each_global_batch_are_exactly_that_batch(seed):
    rng = np.random.default_rng(seed)
    n, batch, size = int(rng.integers(1, 60)), int(rng.integers(1, 17)), int(rng.integers(1, 5))
    order = rng.permutation(n)
    held = np.array_split(np.arange(n), size)  # uneven parts, some possibly empty
    whole, bounds_one = _batches(order, batch, None, n)
    assert bounds_one == [min(k * batch, n) for k in range(-(-n // batch))] + [n]
    parts = [_batches(order, batch, int(rows[0]) if len(rows) else 0, len(rows)) for rows in held]
    for k in range(len(bounds_one) - 1):
        union = []
        for rows, (local, bounds) in zip(held, parts, strict=True):
            assert len(bounds) == len(bounds_one)  # every process steps through every global batch
            offset = int(rows[0]) if len(rows) else 0
            union.extend((local[bounds[k] : bounds[k + 1]] + offset).tolist())
        assert sorted(union) == sorted(whole[bounds_one[k] : bounds_one[k + 1]].tolist())


def test_each_process_takes_the_device_of_its_local_rank():
    import array_api_strict as xps

    devices = [rank_device("array_api_strict", None, r) for r in range(4)]
    assert devices[:3] == [xps.Device("CPU_DEVICE"), xps.Device("device1"), xps.Device("device2")]
    assert devices[3] == devices[0]  # modulo the devices with every dtype (no_float64 is never chosen)
    assert rank_device("array_api_strict", "device2", 0) == "device2"  # --device wins
    assert rank_device("numpy", None, 3) is None
    assert rank_device("torch", None, 1) is None  # torch stays on its default, the CPU
    assert rank_device("cupy", "1", 0) == "1"


def test_without_a_usable_gpu_no_process_is_given_one():
    from gpubp.backend import cupy_status

    if cupy_status()[0]:
        pytest.skip("a GPU is usable here")
    assert rank_device("auto", None, 3) is None  # auto then falls back to NumPy, as for one process
    assert rank_device("cupy", None, 1) is None  # and cupy says why it cannot run


def test_torch_cuda_means_this_process_gpu(monkeypatch):
    from gpubp.backend import devices

    monkeypatch.setattr(devices, "_torch_gpu_count", lambda: 4)
    monkeypatch.setattr(devices, "_cupy_gpu_count", lambda: 2)
    assert rank_device("torch", "cuda", 5) == "cuda:1"
    assert rank_device("torch", "cuda:3", 5) == "cuda:3"
    assert rank_device("cupy", None, 3) == "1"
    assert rank_device("auto", None, 2) == "0"
    monkeypatch.setattr(devices, "_cupy_gpu_count", lambda: 0)
    assert rank_device("auto", None, 2) is None  # no GPU: auto falls back as for one process


class _FakeGPU:
    """Stands in for cupy.cuda.Device: records which device is current."""

    current: list[int] = [0]

    def __init__(self, index: int) -> None:
        self.id = index

    def __enter__(self) -> _FakeGPU:
        self.current.append(self.id)
        return self

    def __exit__(self, *exc: object) -> None:
        self.current.pop()


def test_activate_makes_the_chosen_gpu_current_and_restores_it():
    numpy_xp = resolve("numpy").xp
    backend = Backend("cupy", numpy_xp, _FakeGPU(1))
    assert _FakeGPU.current[-1] == 0
    with backend.activate():
        assert _FakeGPU.current[-1] == 1
        with backend.activate():  # entered again inside: harmless
            assert _FakeGPU.current[-1] == 1
    assert _FakeGPU.current[-1] == 0
    with resolve("numpy").activate():  # a CPU backend: nothing to do
        pass
    if importlib.util.find_spec("torch") is not None:  # the CPU image has no torch
        with resolve("torch").activate():
            pass


def test_fit_predict_evaluate_parity_and_bench_run_with_the_device_current(monkeypatch):
    entered: list[str] = []
    real = Backend.activate

    def recording(self: Backend) -> contextlib.AbstractContextManager[object]:
        entered.append(self.describe())
        return real(self)

    monkeypatch.setattr(Backend, "activate", recording)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    est = MLPClassifier((4,), max_iter=2, backend="array_api_strict", device="device1", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    for what in ("fit", "predict", "evaluate"):
        entered.clear()
        if what == "predict":
            est.predict(X)
        elif what == "evaluate":
            est.evaluate(X, y)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(X, y)
        assert entered and set(entered) == {"array_api_strict on device1"}, what
    from gpubp.bench import training_step
    from gpubp.parity import run_parity

    entered.clear()
    training_step(resolve("array_api_strict", "device2"), [3, 4, 2], 8, dtype="float64", loss="mse").step()
    assert "array_api_strict on device2" in entered
    entered.clear()
    run_parity([("numpy", None), ("array_api_strict", "device1")], steps=2, dtype="float64", hidden=(4,))
    assert "array_api_strict on device1" in entered


def test_launched_without_a_launcher_is_one_process_and_imports_no_mpi4py():
    code = "import sys, gpubp.distributed as d; print(d.launched(), 'mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_with(), timeout=120)
    assert out.stdout.split() == ["None", "False"], out.stderr


@pytest.fixture
def no_mpi4py(tmp_path):
    shadow = tmp_path / "shadow"
    (shadow / "mpi4py").mkdir(parents=True)
    (shadow / "mpi4py" / "__init__.py").write_text("raise ImportError(\"No module named 'mpi4py'\")\n")
    return shadow


@pytest.mark.parametrize("rank", [0, 1])
def test_a_launcher_without_mpi4py_is_one_clear_line_from_rank_0(no_mpi4py, tmp_path, rank):
    env = env_with(no_mpi4py, PMI_SIZE="2", PMI_RANK=str(rank))
    args = [sys.executable, "-m", "gpubp", "train", "--epochs", "1", "--out", str(tmp_path / "run")]
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    if rank == 0:
        assert out.stderr.startswith("gpubp: error: an MPI launcher started 2 processes but mpi4py cannot be imported")
        assert "pip install" in out.stderr and "mpi4py" in out.stderr and out.stderr.count("\n") == 1
    else:
        assert out.stderr == ""  # rank 0 says it
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("writer", ["savez", "savez_compressed", "npy"])
def test_a_shard_reads_only_its_range_and_names_a_bad_value_by_its_row(tmp_path, writer, monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((1000, 4)), rng.integers(0, 3, 1000)

    def write(X):
        path = tmp_path / ("d.npy" if writer == "npy" else "d.npz")
        if writer == "npy":
            np.save(path, np.column_stack([X, y]))  # the target is the last column
        else:
            (np.savez_compressed if writer == "savez_compressed" else np.savez)(path, X=X, y=y)
        return str(path)

    path = write(X)
    asked = []
    real = shards.load_dataset
    monkeypatch.setattr(shards, "load_dataset", lambda *a, **k: asked.append(k.get("rows")) or real(*a, **k))
    ds = shards.open_dataset(path)
    assert asked == [] and ds.n_samples == 1000 and ds.X.shape == (1000, 4)  # the targets, no feature read
    assert np.array_equal(ds.y, y)
    rows = np.arange(300, 500)[::3]
    part = ds.X[rows]
    assert np.array_equal(part, X[rows]) and part.dtype == np.float64
    assert asked == [(300, 499)]  # the range the rows span, nothing else
    X[777, 2] = np.inf
    bad = shards.open_dataset(write(X))
    with pytest.raises(gpubp.GpubpError, match=r"\[777, 2\] is inf"):
        bad.X[[3, 777, 900]]
    assert bad.X[[3, 700]].shape == (2, 4)  # another process's bad row is not this one's


# ---------------------------------------------------------------------------
# With mpiexec: the library

WORKER = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from gpubp import MLPClassifier, MLPRegressor, to_host
from gpubp.distributed import data_parallel

cfg = json.loads(sys.argv[1])
data = np.load(cfg["data"])
with data_parallel() as group:
    n = len(data["X"])
    cuts = cfg.get("cuts") or np.linspace(0, n, group.size + 1).astype(int).tolist()
    mine = np.arange(cuts[group.rank], cuts[group.rank + 1])
    weights, where = {}, []
    for i, job in enumerate(cfg["jobs"]):
        cls = MLPClassifier if job["kind"] == "classifier" else MLPRegressor
        est = cls(**job["params"])
        w = data["w"][mine] if job.get("weighted") else None
        extra = {"classes": job["classes"]} if "classes" in job else {}
        for _ in range(job.get("calls", 1)):
            getattr(est, job.get("method", "fit"))(data["X"][mine], data["y_" + job["kind"]][mine], sample_weight=w,
                                                   **extra)  # fmt: skip
        for j, a in enumerate(est.coefs_ + est.intercepts_):
            weights[f"{i}.{j}"] = to_host(a)
        weights[f"{i}.loss_curve"] = np.asarray(est.loss_curve_)
        where.append(est.backend_)
    where = group.comm.gather(where, root=0)
    if group.rank == 0:
        np.savez(cfg["out"], **weights)
        json.dump(where, open(cfg["out"] + ".json", "w"))
"""


def _data(tmp_path: Path, n: int = 203, features: int = 5) -> Path:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, features)) * [1.0, 3.0, 0.1, 10.0, 1.0][:features] + 2.0
    y_classifier = (X[:, 0] + 0.3 * X[:, 1] > 2.5).astype(np.int64) + 2 * (X[:, 4] > 2.8)
    y_regressor = X[:, 0] - 0.2 * X[:, 3] + 0.1 * rng.standard_normal(n)
    w = rng.uniform(0.0, 2.0, n)
    w[::17] = 0.0  # zero weights: a process's part of a batch may weigh nothing
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y_classifier=y_classifier, y_regressor=y_regressor, w=w)
    return path


def _jobs(backend: str) -> list[dict]:
    common = {"dtype": "float64", "backend": backend, "random_state": 0, "tol": 0.0, "n_iter_no_change": 1000}
    classifier = {"hidden_layer_sizes": [9, 6], "batch_size": 32, "max_iter": 6, "early_stopping": True,
                  "validation_fraction": 0.15, "standardize": True}  # fmt: skip
    regressor = {"hidden_layer_sizes": [7], "batch_size": 2, "max_iter": 2, "solver": "sgd", "momentum": 0.9,
                 "learning_rate_init": 0.005, "alpha": 0.01, "standardize": True, "warm_start": True}  # fmt: skip
    return [
        # early stopping: a stratified validation split of the whole set, standardisation, a short last batch
        {"kind": "classifier", "params": {**common, **classifier}},
        # weighted rows (some zero), momentum, L2, warm_start; batches of 2 leave some process with no row
        {"kind": "regressor", "weighted": True, "calls": 2, "params": {**common, **regressor}},
        # partial_fit: the classes given, an epoch per call
        {
            "kind": "classifier",
            "method": "partial_fit",
            "calls": 2,
            "classes": [0, 1, 2, 3],
            "params": {**common, "hidden_layer_sizes": [5], "batch_size": 24},
        },
    ]


def _one_process(data: Path, jobs: list[dict]) -> dict[str, np.ndarray]:
    d = np.load(data)
    out = {}
    for i, job in enumerate(jobs):
        est = (MLPClassifier if job["kind"] == "classifier" else MLPRegressor)(**job["params"])
        extra = {"classes": job["classes"]} if "classes" in job else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(job.get("calls", 1)):
                w = d["w"] if job.get("weighted") else None
                getattr(est, job.get("method", "fit"))(d["X"], d["y_" + job["kind"]], sample_weight=w, **extra)
        for j, a in enumerate(est.coefs_ + est.intercepts_):
            out[f"{i}.{j}"] = gpubp.to_host(a)
        out[f"{i}.loss_curve"] = np.asarray(est.loss_curve_)
    return out


def _launch(tmp_path: Path, n: int, jobs: list[dict], *, name: str = "par", cuts=None, **env: str):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    out = tmp_path / f"{name}.npz"
    cfg = {"data": str(_data(tmp_path)), "jobs": jobs, "out": str(out), "cuts": cuts}
    proc = subprocess.run(
        [*mpiexec(n), sys.executable, "-m", "mpi4py", str(worker), json.dumps(cfg)],  # an exception aborts all
        capture_output=True, text=True, env=env_with(**env), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(np.load(out)), json.loads(Path(str(out) + ".json").read_text())


def _assert_same_model(parallel: dict, one: dict) -> None:
    assert parallel.keys() == one.keys()
    for key, value in one.items():
        assert relative_difference(value, parallel[key]) <= RTOL, key


@needs_mpi
@pytest.mark.parametrize(
    ("backend", "n"),
    [
        pytest.param("numpy", 2, id="numpy-2"),
        pytest.param("numpy", 3, id="numpy-3", marks=pytest.mark.slow),
        pytest.param("torch", 2, id="torch-2", marks=pytest.mark.slow),
        pytest.param("torch", 3, id="torch-3", marks=pytest.mark.slow),
    ],
)
def test_n_processes_give_the_weights_of_one_process(tmp_path, backend, n):
    if backend == "torch":
        pytest.importorskip("torch", reason="torch is not installed")
    jobs = _jobs(backend)
    parallel, _ = _launch(tmp_path, n, jobs)
    _assert_same_model(parallel, _one_process(tmp_path / "data.npz", jobs))


@needs_mpi
@pytest.mark.slow  # reason: three launches of 3 processes on a shared machine take half a minute
def test_the_ordered_reduction_repeats_bit_for_bit_and_allreduce_agrees(tmp_path):
    jobs = _jobs("numpy")
    cuts = [0, 10, 150, 203]  # very uneven parts
    first, _ = _launch(tmp_path, 3, jobs, name="a", cuts=cuts)
    second, _ = _launch(tmp_path, 3, jobs, name="b", cuts=cuts)
    assert all(np.array_equal(first[k], second[k]) for k in first)  # bit for bit
    fast, _ = _launch(tmp_path, 3, jobs, name="c", cuts=cuts, GPUBP_MPI_REDUCE="allreduce")
    _assert_same_model(fast, first)


@needs_mpi
@pytest.mark.slow  # reason: array-api-strict is slow, and three processes share two cores
def test_each_process_trains_on_its_own_device_and_the_model_is_the_same(tmp_path):
    jobs = _jobs("array_api_strict")
    parallel, where = _launch(tmp_path, 3, jobs)
    assert [w[0] for w in where] == [f"array_api_strict on {d}" for d in ("CPU_DEVICE", "device1", "device2")]
    _assert_same_model(parallel, _one_process(tmp_path / "data.npz", _jobs("numpy")))


# ---------------------------------------------------------------------------
# With mpiexec: the command

#: Test hooks loaded by every launched process (site's sitecustomize): each writes its pid; on request
#: one rank runs out of memory at a step, or every step is slowed so a signal lands mid-run.
HOOKS = r"""
import os
rank = next((os.environ[k] for k in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK") if k in os.environ), None)
folder = os.environ.get("GPUBP_TEST_PIDS")
if folder and rank is not None:
    with open(os.path.join(folder, f"rank{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))
oom, hang = os.environ.get("GPUBP_TEST_OOM_RANK"), os.environ.get("GPUBP_TEST_HANG_RANK")
if rank is not None and (rank in (oom, hang) or os.environ.get("GPUBP_TEST_SLOW_STEP")):
    import time
    import gpubp.train as train
    real, calls = train.train_step, [0]
    def step(*args, **kwargs):
        calls[0] += 1
        if calls[0] == int(os.environ.get("GPUBP_TEST_OOM_STEP", "20")) and rank == oom:
            raise MemoryError("simulated: out of device memory")
        if calls[0] == 20 and rank == hang:
            time.sleep(600)
        time.sleep(float(os.environ.get("GPUBP_TEST_SLOW_STEP", "0")))
        return real(*args, **kwargs)
    train.train_step = step
"""

DATA = ["--hidden", "16", "--dtype", "float64", "--batch-size", "16"]


@pytest.fixture
def hooks(tmp_path):
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(HOOKS)
    return folder


def _npz(tmp_path: Path, bad_row: int | None = None) -> str:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + 2 * (X[:, 2] > 0.5)
    if bad_row is not None:
        X[bad_row, 3] = np.nan
    path = tmp_path / ("bad.npz" if bad_row is not None else "data.npz")
    np.savez(path, X=X, y=y)
    return str(path)


def _gpubp(n: int, args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    cmd = [sys.executable, "-m", "gpubp", *args]
    if n > 1:
        cmd = [*mpiexec(n), *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    return proc, time.perf_counter() - t0


def _weights(path: Path) -> dict[str, np.ndarray]:
    tensors, _ = load_model_file(path)
    return tensors


@needs_mpi
def test_the_command_trains_the_model_of_one_process_and_rank_0_alone_writes(tmp_path):
    data = _npz(tmp_path)
    args = ["train", "--data", data, *DATA, "--epochs", "4"]
    one, _ = _gpubp(1, [*args, "--out", "one"], tmp_path, env_with())
    two, _ = _gpubp(2, [*args, "--out", "two"], tmp_path, env_with())
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    for key, value in _weights(tmp_path / "one" / "model.safetensors").items():
        assert relative_difference(value, _weights(tmp_path / "two" / "model.safetensors")[key]) <= RTOL, key
    said, alone = two.stdout.splitlines(), one.stdout.splitlines()
    assert len(said) == len(alone) and two.stderr == ""  # said once, by rank 0
    assert said[0].endswith("(rank 0 of 2 processes, each on its own device)")
    assert said[1] == alone[1]  # data: the same rows, the same split
    assert [x for x in said if x.startswith("test:")] == [x for x in alone if x.startswith("test:")]
    assert sorted(os.listdir(tmp_path / "two")) == ["loss.png", "metrics.jsonl", "model.safetensors"]
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4  # one writer
    _, meta = load_model_file(tmp_path / "two" / "model.safetensors")
    assert meta["data"]["processes"] == 2


@needs_mpi
def test_bad_input_on_one_process_is_one_line_and_every_process_exits_2(tmp_path):
    bad = _npz(tmp_path, bad_row=250)  # in the second process's rows
    proc, seconds = _gpubp(2, ["train", "--data", bad, *DATA, "--out", "run", "--quiet"], tmp_path, env_with(), 120)
    assert proc.returncode == 2
    assert proc.stderr.count("gpubp: error:") == 1
    assert "gpubp: error: process 1 of 2: " in proc.stderr and "X[250, 3] is nan" in proc.stderr
    assert not (tmp_path / "run").exists() and seconds < 60


@needs_mpi
@pytest.mark.slow  # reason: three launches
def test_divergence_and_a_process_failing_alone_end_every_process_with_one_line(tmp_path, hooks):
    data = _npz(tmp_path)
    args = ["train", "--data", data, *DATA, "--quiet"]
    proc, _ = _gpubp(3, [*args, "--optimizer", "sgd", "--lr", "1e8", "--out", "div"], tmp_path, env_with(), 120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("gpubp: error:") == 1 and "training diverged" in proc.stderr
    env = env_with(hooks, GPUBP_TEST_OOM_RANK="2")
    proc, seconds = _gpubp(3, [*args, "--out", "oom"], tmp_path, env, 120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("gpubp: error:") == 1
    assert "gpubp: error: process 2 of 3: out of memory" in proc.stderr and seconds < 60
    kept = sorted(f for f in os.listdir(tmp_path / "oom") if f != ".gpubp.lock")  # a killed run leaves its lock file
    assert kept == ["checkpoint.safetensors", "metrics.jsonl"]  # epoch 1's checkpoint is kept
    proc, _ = _gpubp(
        3, [*args, "--out", "early"], tmp_path, env_with(hooks, GPUBP_TEST_OOM_RANK="1", GPUBP_TEST_OOM_STEP="3")
    )
    assert proc.returncode == 2 and "gpubp: error: process 1 of 3: out of memory" in proc.stderr
    assert not (tmp_path / "early").exists()  # nothing was saved: nothing is left


@needs_mpi
@pytest.mark.slow  # reason: waits out the watchdog
def test_a_hung_process_is_caught_by_the_watchdog_and_every_process_ends(tmp_path, hooks):
    env = env_with(hooks, GPUBP_TEST_HANG_RANK="1", GPUBP_MPI_TIMEOUT="3")
    args = ["train", "--data", _npz(tmp_path), *DATA, "--out", "run", "--quiet"]
    proc, seconds = _gpubp(3, args, tmp_path, env, 120)
    assert proc.returncode == 124, proc.stderr
    assert proc.stderr.count("gpubp: error:") == 1
    assert "waited more than 3 s for the others (one was killed or hangs" in proc.stderr
    assert seconds < 60


def _start(n: int, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*mpiexec(n), sys.executable, "-m", "gpubp", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 300) -> None:
    t0 = time.perf_counter()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.perf_counter() - t0 < seconds, f"no {path.name} after {seconds} s"
        time.sleep(0.05)


@needs_mpi
@pytest.mark.slow  # reason: a run slowed down so the kill lands mid-epoch
def test_a_process_killed_mid_epoch_ends_the_others_and_leaves_the_last_checkpoint(tmp_path, hooks):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = env_with(hooks, GPUBP_TEST_PIDS=str(pids), GPUBP_TEST_SLOW_STEP="0.02")
    args = ["train", "--data", _npz(tmp_path), *DATA, "--epochs", "50", "--out", "run", "--quiet"]
    proc = _start(3, args, tmp_path, env)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors", proc)
    time.sleep(0.3)  # into the next epoch
    os.kill(int((pids / "rank1.pid").read_text()), signal.SIGKILL)
    t0 = time.perf_counter()
    proc.communicate(timeout=60)
    assert time.perf_counter() - t0 < 30
    assert proc.returncode != 0
    est = gpubp.load(tmp_path / "run" / "checkpoint.safetensors")  # complete, resumable
    assert len(est.history_.epochs) >= 1 and "_trainer" in est.__dict__


@needs_mpi
@pytest.mark.slow  # reason: a run slowed down so the signal lands mid-run
def test_ctrl_c_to_mpiexec_saves_once_and_says_how_to_resume(tmp_path, hooks):
    env = env_with(hooks, GPUBP_TEST_SLOW_STEP="0.01")
    args = ["train", "--data", _npz(tmp_path), *DATA, "--epochs", "5", "--quiet", "--out", "run"]
    proc = _start(3, args, tmp_path, env)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors", proc)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends mpiexec, which passes it on
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("gpubp: interrupted") == 1 and "resume with: mpiexec -n 3 gpubp train --resume run" in err
    assert "_trainer" in gpubp.load(tmp_path / "run" / "checkpoint.safetensors").__dict__


@needs_mpi
@pytest.mark.slow  # reason: an interrupted run, its resumption and an uninterrupted run to compare with
def test_sigterm_saves_once_and_resume_needs_as_many_processes_and_ends_as_if_uninterrupted(tmp_path, hooks):
    env = env_with(hooks, GPUBP_TEST_SLOW_STEP="0.01")
    args = ["train", "--data", _npz(tmp_path), *DATA, "--epochs", "5", "--quiet"]
    proc = _start(2, [*args, "--out", "run"], tmp_path, env)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors", proc)
    proc.send_signal(signal.SIGTERM)  # mpiexec passes it to every process
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.count("gpubp: interrupted") == 1 and "resume with: mpiexec -n 2 gpubp train --resume run" in err
    other, _ = _gpubp(3, ["train", "--resume", "run"], tmp_path, env_with(), 120)
    assert other.returncode == 2
    assert other.stderr.count("\n") == 1 and "the run was started on 2 processes, this is 3" in other.stderr
    resumed, _ = _gpubp(2, ["train", "--resume", "run", "--quiet"], tmp_path, env_with())
    assert resumed.returncode == 0, resumed.stderr
    whole, _ = _gpubp(2, [*args, "--out", "whole"], tmp_path, env_with())
    assert whole.returncode == 0, whole.stderr
    a, b = _weights(tmp_path / "run" / "model.safetensors"), _weights(tmp_path / "whole" / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in b)  # bit for bit
