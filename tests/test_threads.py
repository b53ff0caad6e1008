"""The ``threads`` setting: what 'auto' picks, that the limit holds while fitting and predicting, and that the
caller's own thread settings come back afterwards (also after an error)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import call
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import gpubp
from gpubp import backend as gb
from gpubp.estimators import FitHooks

HAS_TORCH = importlib.util.find_spec("torch") is not None


def pools() -> list[int]:
    """Threads of every BLAS / OpenMP pool loaded now (and torch's intra-op pool when imported)."""
    counts = [lib["num_threads"] for lib in threadpool_info()]
    torch = sys.modules.get("torch")
    return counts + ([torch.get_num_threads()] if torch is not None else [])


@pytest.fixture
def no_env_limit(monkeypatch):
    for name in gb.THREAD_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


# -- what the setting stands for ------------------------------------------------------


def test_auto_leaves_one_cpu_free_within_one_and_the_cap(no_env_limit, monkeypatch):
    for cpus, expected in ((1, 1), (2, 1), (3, 2), (8, 7), (64, gb.AUTO_THREADS_CAP)):
        monkeypatch.setattr(gb.threads, "usable_cpus", lambda cpus=cpus: cpus)
        assert gb.threads_for("auto") == expected, cpus


def test_auto_stays_within_a_thread_count_the_user_set(no_env_limit, monkeypatch):
    monkeypatch.setattr(gb.threads, "usable_cpus", lambda: 16)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert gb.threads_for("auto") == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert gb.threads_for("auto") == 2  # the smallest one given
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a count: ignored
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "0")
    assert gb.threads_for("auto") == 8


def test_explicit_counts_and_none(no_env_limit):
    assert gb.threads_for(3) == 3
    assert gb.threads_for(None) is None
    for bad in (0, -1, True, 1.5, "two"):
        with pytest.raises(gpubp.ParameterError, match="threads"):
            gb.threads_for(bad)


def test_usable_cpus_follows_the_affinity_mask():
    assert 1 <= gb.usable_cpus() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("text", "cpus"), [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None)]
)
def test_a_container_quota_counts_as_cpus(tmp_path, text, cpus):
    path = tmp_path / "cpu.max"
    path.write_text(text)
    assert gb._cgroup_cpu_quota(str(path)) == cpus


def test_no_quota_file_means_no_quota(tmp_path):
    assert gb._cgroup_cpu_quota(str(tmp_path / "missing")) is None


# -- the context manager --------------------------------------------------------------


def test_limit_threads_sets_every_pool_and_restores_it():
    before = pools()
    with gb.limit_threads(1) as n:
        assert n == 1
        assert set(pools()) == {1}
    assert pools() == before


def test_limit_threads_none_changes_nothing():
    with threadpool_limits(limits=1):  # the caller's own setting
        before = pools()
        with gb.limit_threads(None) as n:
            assert n is None and pools() == before
        assert pools() == before


def test_limit_threads_restores_after_an_error():
    before = pools()
    with pytest.raises(RuntimeError), gb.limit_threads(1):
        raise RuntimeError("boom")
    assert pools() == before


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_a_users_torch_setting_survives_fit_and_predict(data):
    import torch

    X, y = data
    old = torch.get_num_threads()
    torch.set_num_threads(3)  # the user's own choice, more threads than gpubp would pick here
    try:
        seen = []
        est = gpubp.MLPClassifier((8,), max_iter=2, backend="torch", threads=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, hooks=FitHooks(callbacks=[lambda r: seen.append(torch.get_num_threads())]))
        assert seen == [1, 1] and torch.get_num_threads() == 3
        est.predict(X)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(old)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_the_limit_covers_torch_when_fit_is_what_imports_it(tmp_path):
    """In a fresh process torch is first imported by fit's backend='torch': its pool must be limited too."""
    script = (
        "import sys, warnings, numpy as np, gpubp\n"
        "from gpubp.estimators import FitHooks\n"
        "assert 'torch' not in sys.modules\n"
        "warnings.simplefilter('ignore')\n"
        "X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)\n"
        "seen = []\n"
        "cb = lambda r: seen.append(sys.modules['torch'].get_num_threads())\n"
        "est = gpubp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, backend='torch', threads=1)\n"
        "est.fit(X, X[:, 0], hooks=FitHooks(callbacks=[cb]))\n"
        "print(seen, sys.modules['torch'].get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in gb.THREAD_ENV + ("GPUBP_BACKEND",)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    seen, after = out.stdout.rsplit(" ", 1)
    assert seen == "[1, 1]"
    assert int(after) >= 1  # torch's own default again (1 on a 1-CPU machine)


# -- the estimators -------------------------------------------------------------------


def test_the_limit_holds_while_fitting_and_predicting(data, monkeypatch):
    X, y = data
    seen = []
    est = gpubp.MLPClassifier((8,), max_iter=2, backend="numpy", threads=1, random_state=0)
    before = pools()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, hooks=FitHooks(callbacks=[lambda r: seen.append(set(pools()))]))
    assert seen == [{1}, {1}]
    assert pools() == before
    forward = est._net.forward
    monkeypatch.setattr(est._net, "forward", lambda x: (seen.append(set(pools())), forward(x))[1])
    est.predict(X)
    est.evaluate(X, y)
    assert seen[2:] == [{1}, {1}] and pools() == before


def test_pools_come_back_when_fit_fails(data):
    X, y = data
    X = X.copy()
    X[0, 0] = np.nan
    before = pools()
    with pytest.raises(ValueError):
        gpubp.MLPRegressor(threads=1).fit(X, y)
    assert pools() == before


def test_a_bad_thread_count_is_refused_in_fit_naming_the_parameter(data):
    X, y = data
    with pytest.raises(gpubp.ParameterError, match=r"^threads=0: must be 'auto', an integer >= 1, or None"):
        gpubp.MLPClassifier(threads=0).fit(X, y)


def test_threads_is_a_parameter_that_clone_and_pickle_keep(data):
    import pickle

    from sklearn.base import clone

    X, y = data
    est = gpubp.MLPClassifier((8,), max_iter=3, threads=2, random_state=0)
    assert clone(est).threads == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    assert again.threads == 2
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


# -- the command ----------------------------------------------------------------------


def test_train_takes_threads(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = call(["train", "--data", "xor", "--epochs", "2", "--threads", "1", "--json", "--quiet"], capsys)
    assert code == 0, err
    model = gpubp.load(json.loads(out)["model_path"])
    assert model.threads == 1
    code, _, err = call(["train", "--data", "xor", "--epochs", "2", "--threads", "none", "--out", "b"], capsys)
    assert code == 0, err
    assert gpubp.load(tmp_path / "b" / "model.safetensors").threads is None


@pytest.mark.parametrize("text", ["0", "many"])
def test_train_refuses_a_bad_thread_count_in_one_line(capsys, tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    code, _, err = call(["train", "--data", "xor", "--threads", text], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "--threads" in err and "Traceback" not in err


def test_resume_may_change_threads(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "run", "--quiet"], capsys)[0] == 0
    (tmp_path / "run" / "model.safetensors").rename(tmp_path / "run" / "checkpoint.safetensors")
    code, _, err = call(["train", "--resume", "run", "--threads", "1"], capsys)
    assert "cannot be changed" not in err  # refused later, for holding no training state: not for --threads
    assert "holds no training state" in err or "not a gpubp training checkpoint" in err


def test_info_says_what_auto_chooses(capsys, no_env_limit):
    code, out, _ = call(["info"], capsys)
    assert code == 0
    assert f"threads: auto -> {gb.auto_threads()} " in out
    code, out, _ = call(["info", "--json"], capsys)
    report = json.loads(out)["threads"]
    assert report["setting"] == "auto" and report["chosen"] == gb.auto_threads()
    assert report["usable_cpus"] == gb.usable_cpus() and report["pools"]
