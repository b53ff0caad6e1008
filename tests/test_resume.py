"""Checkpoints and resume: interruption, Ctrl-C, SIGTERM, SIGHUP and SIGKILL lose nothing.

An interrupted run continued with ``--resume`` (or ``fit(..., hooks=FitHooks(resume=True))``
on a loaded checkpoint) must end with exactly the weights of an uninterrupted run with the
same seed -- bit for bit on NumPy -- and the checkpoint on disk must load at every moment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp import FitHooks, MLPClassifier
from gpubp.data import load_dataset
from gpubp.io import load_model_file


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.X, ds.y


def _fit(digits, solver, est=None, **hooks):
    X, y = digits
    if est is None:
        est = MLPClassifier((32,), solver=solver, momentum=0.9 if solver == "sgd" else 0.9, max_iter=4,
                            batch_size=40, early_stopping=True, n_iter_no_change=100, random_state=0,
                            backend="numpy")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, hooks=FitHooks(**hooks))
    return est


def _weights(est):
    return est.network_.state_dict()


class StopAfter:
    """A should_stop that turns true after ``n`` steps (a deterministic Ctrl-C)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self):
        self.calls += 1
        return self.calls == self.n


STEPS = -(-(1797 - 180) // 40)  # training rows per epoch / batch size


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("stop_after", [1, 17, STEPS, 2 * STEPS + 5])  # mid-epoch and on a boundary
def test_interrupted_fit_resumes_bit_for_bit(digits, tmp_path, solver, stop_after):
    reference = _fit(digits, solver)
    ckpt = tmp_path / "checkpoint.safetensors"
    save = lambda est: est.save(ckpt, checkpoint=True)  # noqa: E731
    first = _fit(digits, solver, should_stop=StopAfter(stop_after), on_epoch_end=save)
    assert first.history_.stopped == "interrupted"
    tensors, meta = load_model_file(ckpt)
    assert meta["checkpoint"]["partial"]["steps"] == (stop_after - 1) % STEPS + 1
    resumed = _fit(digits, solver, est=gpubp.load(ckpt), on_epoch_end=save, resume=True)
    assert resumed.history_.stopped == "max_epochs"
    for name, value in _weights(reference).items():
        np.testing.assert_array_equal(_weights(resumed)[name], value, err_msg=name)
    assert resumed.history_.column("train_loss") == reference.history_.column("train_loss")
    assert resumed.history_.best_epoch == reference.history_.best_epoch


def test_checkpoint_written_every_epoch_holds_the_training_state(digits, tmp_path):
    ckpt = tmp_path / "checkpoint.safetensors"
    seen = []
    est = _fit(digits, "adam", callbacks=[lambda r: seen.append(r["epoch"])],
               on_epoch_end=lambda e: e.save(ckpt, checkpoint=True))  # fmt: skip
    tensors, meta = load_model_file(ckpt)
    state = meta["checkpoint"]
    assert [r["epoch"] for r in state["history"]] == seen == [1, 2, 3, 4]
    assert state["optimizer_steps"] == 4 * STEPS and state["partial"] is None
    assert {"optim.m.0", "optim.v.0", "best.0", "0.weight", "split.val"} <= set(tensors)
    assert meta["params"]["solver"] == "adam"
    # The checkpoint is also a loadable model (its current weights).
    loaded = gpubp.load(ckpt, backend="numpy")
    np.testing.assert_array_equal(loaded.network_.state_dict()["0.weight"], tensors["0.weight"])
    assert est.history_.stopped == "max_epochs"


# -- through the command -----------------------------------------------------------

SLOW = ["--data", "digits", "--hidden", "512,512", "--epochs", "6", "--patience", "100", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_a_signal_saves_a_checkpoint_and_says_how_to_resume(tmp_path, signum, code):
    proc = _gpubp([*SLOW, "--out", "run"], tmp_path)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [err.strip()] and "resume with: gpubp train --resume run" in err
    tensors, meta = load_model_file(tmp_path / "run" / "checkpoint.safetensors")
    assert meta["checkpoint"]["partial"] is not None or meta["checkpoint"]["history"]


def _gpubp(args, cwd, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "gpubp", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _final_weights(run):
    tensors, _ = load_model_file(run / "model.safetensors")
    return tensors


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ref")
    t0 = time.monotonic()
    proc = _gpubp([*SLOW, "--out", "ref"], cwd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    seconds = time.monotonic() - t0  # how long a whole run takes on this machine, start-up included
    return _final_weights(cwd / "ref"), (cwd / "ref" / "metrics.jsonl").read_text(), seconds


def _wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _assert_same(weights, reference):
    assert sorted(weights) == sorted(reference)
    for name, value in reference.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same(tmp_path, uninterrupted):
    proc = _gpubp([*SLOW, "--out", "run"], tmp_path)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "resume with: gpubp train --resume run" in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "model.safetensors").exists()
    load_model_file(tmp_path / "run" / "checkpoint.safetensors")
    proc = _gpubp(["train", "--resume", "run", "--quiet"], tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    _assert_same(_final_weights(tmp_path / "run"), uninterrupted[0])
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()  # the finished run keeps only its model
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in uninterrupted[1].splitlines()]
    assert [r["train_loss"] for r in records] == [r["train_loss"] for r in reference]


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_the_checkpoint(tmp_path, uninterrupted):
    rng = np.random.default_rng(20261123)
    run = tmp_path / "run"
    ckpt = run / "checkpoint.safetensors"
    kills, killed_after_the_end = 0, False
    for _ in range(40):
        if (run / "model.safetensors").exists() and not ckpt.exists():
            killed_after_the_end = True  # killed after the run completed: nothing left to resume
            break
        resume = ckpt.exists()
        args = ["train", "--resume", "run", "--quiet"] if resume else [*SLOW, "--out", "run"]
        proc = _gpubp(args, tmp_path)
        time.sleep(float(rng.uniform(0.2, 0.8 * uninterrupted[2])))  # moments spread over a run on this machine
        if proc.poll() is not None:  # finished before the kill
            out, err = proc.communicate()
            assert proc.returncode == 0, err
            break
        proc.kill()
        proc.communicate()
        kills += 1
        if ckpt.exists():
            tensors, meta = load_model_file(ckpt)  # always complete, never half-written
            assert "checkpoint" in meta and "0.weight" in tensors
    else:  # on a busy machine every kill may land before the first checkpoint: then a fresh run finishes it
        proc = _gpubp(["train", "--resume", "run", "--quiet"] if ckpt.exists() else [*SLOW, "--out", "run"], tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert kills >= 2, "the runs finished too fast for the kills to land"
    _assert_same(_final_weights(run), uninterrupted[0])
    # a kill mid-write may leave a temporary file: the next run of the folder removes it. A kill after the end
    # (the model written, the checkpoint gone) may leave the lock file, which blocks nothing (runs.py).
    allowed = {".gpubp.lock"} if killed_after_the_end else set()
    leftovers = {p for p in os.listdir(run) if p.endswith((".tmp", ".lock"))}
    assert leftovers <= allowed


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "done").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "gpubp", "train", "--resume", "done"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("gpubp: error: --resume done: no checkpoint.safetensors there")
    assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run(
        [sys.executable, "-m", "gpubp", "train", "--resume", "missing"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2 and "no such run folder" in result.stderr


def test_resuming_a_finished_run_trains_no_further(digits, tmp_path):
    """A kill between the final save and the checkpoint's removal must not add an epoch on resume."""
    ckpt = tmp_path / "checkpoint.safetensors"
    X, y = digits
    est = MLPClassifier((16,), max_iter=200, n_iter_no_change=2, early_stopping=True, random_state=0)
    done = _fit(digits, "adam", est=est, on_epoch_end=lambda e: e.save(ckpt, checkpoint=True))
    assert done.history_.stopped == "converged"
    tensors, meta = load_model_file(ckpt)
    assert meta["checkpoint"]["stopped"] == "converged"
    again = _fit(digits, "adam", est=gpubp.load(ckpt), resume=True)
    assert len(again.history_.epochs) == len(done.history_.epochs)
    for name, value in _weights(done).items():
        np.testing.assert_array_equal(_weights(again)[name], value, err_msg=name)


def test_resuming_a_run_that_used_its_last_epoch_keeps_its_best_weights(digits, tmp_path):
    """The checkpoint of the final epoch (a kill before the model was written) resumes to the same end."""
    ckpt = tmp_path / "checkpoint.safetensors"
    done = _fit(digits, "adam", on_epoch_end=lambda e: e.save(ckpt, checkpoint=True))
    assert done.history_.stopped == "max_epochs"
    again = _fit(digits, "adam", est=gpubp.load(ckpt), resume=True)
    assert len(again.history_.epochs) == 4 and again.history_.stopped == "max_epochs"
    for name, value in _weights(done).items():
        np.testing.assert_array_equal(_weights(again)[name], value, err_msg=name)
