"""Checkpoints and resume: interruption, Ctrl-C and SIGKILL lose nothing.

An interrupted run continued with ``--resume`` (or ``Model.fit(resume_from=...)``)
must end with exactly the weights of an uninterrupted run with the same seed --
bit for bit on NumPy -- and the checkpoint on disk must load at every moment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gpubp
from gpubp.datasets import load_dataset, split_indices
from gpubp.io import load_model_file


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    split = split_indices(len(ds.y), val_fraction=0.1, test_fraction=0.2, seed=0, y=ds.y)
    return ds, split


def _fit(digits, optimizer, **kw):
    ds, split = digits
    model = gpubp.Model(hidden=(32,), optimizer=optimizer, max_epochs=4, patience=100, backend="numpy")
    model.fit(ds.X[split.train], ds.y[split.train], X_val=ds.X[split.val], y_val=ds.y[split.val], **kw)
    return model


def _weights(model):
    return model.net.state_dict()


class StopAfter:
    """A should_stop that turns true after ``n`` steps (a deterministic Ctrl-C)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self):
        self.calls += 1
        return self.calls == self.n


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("stop_after", [1, 17, 40, 80])  # 40 steps per epoch: mid-epoch and on a boundary
def test_interrupted_fit_resumes_bit_for_bit(digits, tmp_path, optimizer, stop_after):
    reference = _fit(digits, optimizer)
    ckpt = tmp_path / "checkpoint.safetensors"
    first = _fit(digits, optimizer, should_stop=StopAfter(stop_after), checkpoint=ckpt)
    assert first.history.stopped == "interrupted"
    tensors, meta = load_model_file(ckpt)
    assert meta["checkpoint"]["partial"]["steps"] == (stop_after - 1) % 40 + 1
    resumed = _fit(digits, optimizer, checkpoint=ckpt, resume_from=(tensors, meta))
    assert resumed.history.stopped == "max_epochs"
    for name, value in _weights(reference).items():
        np.testing.assert_array_equal(_weights(resumed)[name], value, err_msg=name)
    assert resumed.history.column("train_loss") == reference.history.column("train_loss")
    assert resumed.history.best_epoch == reference.history.best_epoch


def test_checkpoint_written_every_epoch_holds_the_training_state(digits, tmp_path):
    ckpt = tmp_path / "checkpoint.safetensors"
    seen = []
    model = _fit(digits, "adam", checkpoint=ckpt, callbacks=[lambda r: seen.append(r["epoch"])])
    tensors, meta = load_model_file(ckpt)
    state = meta["checkpoint"]
    assert [r["epoch"] for r in state["history"]] == seen == [1, 2, 3, 4]
    assert state["optimizer_steps"] == 4 * 40 and state["partial"] is None
    assert {"optim.m.0", "optim.v.0", "best.0", "0.weight"} <= set(tensors)
    assert meta["hyperparameters"]["optimizer"] == "adam"
    # The checkpoint is also a loadable model (its current weights).
    loaded = gpubp.load(ckpt, backend="numpy")
    np.testing.assert_array_equal(loaded.net.state_dict()["0.weight"], tensors["0.weight"])
    assert model.history.stopped == "max_epochs"


# -- through the command -----------------------------------------------------------

SLOW = ["--data", "digits", "--hidden", "512,512", "--epochs", "6", "--patience", "100", "--quiet"]


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
    proc = _gpubp([*SLOW, "--out", "ref"], cwd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return _final_weights(cwd / "ref"), (cwd / "ref" / "metrics.jsonl").read_text()


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
    kills = 0
    for _ in range(40):
        if (run / "model.safetensors").exists() and not ckpt.exists():
            break  # killed after the run completed: nothing left to resume
        resume = ckpt.exists()
        args = ["train", "--resume", "run", "--quiet"] if resume else [*SLOW, "--out", "run"]
        proc = _gpubp(args, tmp_path)
        time.sleep(float(rng.uniform(0.2, 2.0)))
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
    else:
        proc = _gpubp(["train", "--resume", "run", "--quiet"], tmp_path)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert kills >= 2, "the runs finished too fast for the kills to land"
    _assert_same(_final_weights(run), uninterrupted[0])
    leftovers = [p for p in os.listdir(run) if p.endswith(".tmp")]
    assert len(leftovers) <= kills  # a kill mid-write may leave a temp file, never a broken checkpoint


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
    ds, split = digits
    ckpt = tmp_path / "checkpoint.safetensors"

    def fit(**kw):
        model = gpubp.Model(hidden=(16,), max_epochs=200, patience=2, backend="numpy")
        model.fit(ds.X[split.train], ds.y[split.train], X_val=ds.X[split.val], y_val=ds.y[split.val], **kw)
        return model

    done = fit(checkpoint=ckpt)
    assert done.history.stopped == "converged"
    tensors, meta = load_model_file(ckpt)
    assert meta["checkpoint"]["stopped"] == "converged"
    again = fit(resume_from=(tensors, meta))
    assert len(again.history.epochs) == len(done.history.epochs)
    for name, value in _weights(done).items():
        np.testing.assert_array_equal(_weights(again)[name], value, err_msg=name)
