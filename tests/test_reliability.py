"""Reliability: stop signals, shared run folders, damaged checkpoints, write errors, truthful messages.

Each family is tried the way a careful operator and an attacker would. Most
cases run the command in-process (:func:`conftest.call`) and deliver real
signals to this process with ``os.kill`` at chosen moments; the cases that
need separate processes (two runs racing for a folder, signals from outside)
start ``python -m gpubp``. Full disks and read-only folders are real where the
machine allows it -- a size-limited tmpfs and a read-only bind mount, each
made in a private mount namespace (``unshare -m``, root only) -- and are
imitated otherwise: ``/dev/full`` as standard output, or a write that raises
``OSError(ENOSPC)`` through monkeypatch. Root ignores file permissions, so a
read-only folder is never imitated with ``chmod``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.numpy
from conftest import assert_one_line_error, call

import gpubp
from gpubp import io as gio
from gpubp.checkpoint import FIELDS
from gpubp.cli import stop as stop_module
from gpubp.cli import train as train_module
from gpubp.cli.runs import LOCK_FILE, TEMPORARIES
from gpubp.estimators.state import digest
from gpubp.io import load_model_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GPUBP_BACKEND", raising=False)


def _no_leftovers(folder):
    """No temporary file and no lock file left in a run folder."""
    names = os.listdir(folder)
    assert LOCK_FILE not in names, names
    assert not [n for n in names if n.endswith((".tmp", ".tmp.png"))], names


# -- a real checkpoint, made once ------------------------------------------------------------

#: 1294 training rows in batches of 128: 11 steps an epoch. Stopped at step 15: epoch 1 done, 4 steps into epoch 2.
SMALL = ["--data", "digits", "--hidden", "8", "--batch-size", "128", "--epochs", "3", "--quiet"]


def SignalAt(n, signum=signal.SIGINT, count=1):  # noqa: N802 - reads as a class at the call sites
    """A replacement ``Stop.is_set`` (polled after every training step) that sends ``signum`` here at step ``n``."""
    original, calls = stop_module.Stop.is_set, []

    def is_set(stop):
        calls.append(1)
        if len(calls) == n:
            for _ in range(count):
                os.kill(os.getpid(), signum)
        return original(stop)

    return is_set


def _interrupted_run(folder, *extra, at=15, signum=signal.SIGINT):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stop_module.Stop, "is_set", SignalAt(at, signum))
        from gpubp.cli import main

        code = main(["train", *SMALL, *extra, "--out", str(folder)])
    assert code == 128 + signum
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Run folders holding a real interrupted run: Adam (the command's default) and SGD with momentum."""
    base = tmp_path_factory.mktemp("pristine")
    return {
        "adam": _interrupted_run(base / "adam"),
        "momentum": _interrupted_run(base / "momentum", "--optimizer", "momentum"),
    }


@pytest.fixture
def run(pristine, tmp_path):
    shutil.copytree(pristine["adam"], tmp_path / "run")
    return tmp_path / "run"


def _write_raw(path, tensors, meta, *, reseal=True):
    """A model file with exactly these tensors and metadata (no checks: the damage is the point).

    ``reseal`` recomputes the SHA-256 as a deliberate forger would, so the field checks are what is tested.
    """
    if reseal and "sha256" in meta:
        try:
            meta = {**meta, "sha256": digest(tensors, meta)}
        except ValueError:  # Infinity in the metadata: not JSON, refused before any digest is compared
            pass
    header = {"format": gio.FORMAT, "format_version": str(gio.FORMAT_VERSION), "gpubp": json.dumps(meta)}
    path.write_bytes(safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, header))


def _resume(capsys, folder="run", *extra):
    return call(["train", "--resume", str(folder), "--quiet", *extra], capsys)


def test_the_pristine_checkpoint_resumes(run, capsys):
    tensors, meta = load_model_file(run / "checkpoint.safetensors")
    state = meta["checkpoint"]
    assert len(state["history"]) == 1 and state["partial"]["steps"] == 4 and state["has_best"]
    assert {"optim.m.0", "optim.v.3", "best.0", "partial.order", "split.val"} <= set(tensors)
    code, out, err = _resume(capsys)
    assert code == 0, err
    _no_leftovers(run)
    assert sorted(os.listdir(run)) == ["loss.png", "metrics.jsonl", "model.safetensors"]


# -- 3. a checkpoint is checked before it is trusted ------------------------------------------

JUNK = [None, "text", -1, 2**70, 0.5, [], {}, True]

#: (field, value) pairs that are valid values (the run resumes): everything else must be refused.
VALID: set[tuple[str, str]] = set()


def _field_edits():
    for name in FIELDS:
        yield f"drop-{name}", lambda t, m, name=name: m["checkpoint"].pop(name), True
        for value in JUNK:
            must = (name, repr(value)) not in VALID
            yield f"{name}={value!r}", lambda t, m, name=name, value=value: m["checkpoint"].update({name: value}), must


def _set(keys, value):
    def edit(t, m):
        target = m
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def _rng(**change):
    def edit(t, m):
        state = m["checkpoint"]["rng"]
        for key, value in change.items():
            if key in ("state", "inc"):
                state["state"][key] = value
            else:
                state[key] = value

    return edit


def _tensor(name, fn):
    def edit(t, m):
        t[name] = fn(t[name].copy())

    return edit


def _nan(a):
    a.reshape(-1)[0] = np.nan
    return a


def _set_first(value):
    def fn(a):
        a.reshape(-1)[0] = value
        return a

    return fn


SEMANTIC = [
    ("history-epoch-renumbered", _set(["checkpoint", "history", 0, "epoch"], 2)),
    ("history-loss-text", _set(["checkpoint", "history", 0, "train_loss"], "0.5")),
    ("history-loss-huge", _set(["checkpoint", "history", 0, "train_loss"], 1e400)),
    ("history-no-val-score", lambda t, m: m["checkpoint"]["history"][0].pop("val_score")),
    ("history-record-not-object", _set(["checkpoint", "history", 0], [1, 2])),
    ("history-steps-negative", _set(["checkpoint", "history", 0, "steps"], -11)),
    (
        "history-extra-epoch",
        lambda t, m: m["checkpoint"]["history"].append(dict(m["checkpoint"]["history"][0], epoch=2)),
    ),
    ("best-epoch-past-history", _set(["checkpoint", "best_epoch"], 2)),
    ("best-epoch-zero-with-best", _set(["checkpoint", "best_epoch"], 0)),
    ("bad-epochs-past-history", _set(["checkpoint", "bad_epochs"], 5)),
    ("stopped-diverged", _set(["checkpoint", "stopped"], "diverged")),
    ("stopped-with-partial", _set(["checkpoint", "stopped"], "converged")),
    (
        "optimizer-steps-plus-one",
        lambda t, m: m["checkpoint"].update(optimizer_steps=m["checkpoint"]["optimizer_steps"] + 1),
    ),
    ("optimizer-steps-zero", _set(["checkpoint", "optimizer_steps"], 0)),
    ("learning-rate-zero", _set(["checkpoint", "learning_rate"], 0)),
    ("rng-other-generator", _rng(bit_generator="MT19937")),
    ("rng-state-text", _rng(state="12")),
    ("rng-state-float", _rng(state=1.5)),
    ("rng-state-negative", _rng(state=-1)),
    ("rng-state-too-big", _rng(state=2**130)),
    ("rng-even-increment", _rng(inc=2)),
    ("rng-has-uint32-5", _rng(has_uint32=5)),
    ("rng-uinteger-negative", _rng(uinteger=-1)),
    ("rng-missing-key", lambda t, m: m["checkpoint"]["rng"].pop("uinteger")),
    ("rng-extra-key", _rng(extra=1)),
    ("partial-steps-zero", _set(["checkpoint", "partial", "steps"], 0)),
    ("partial-steps-past-epoch", _set(["checkpoint", "partial", "steps"], 40)),
    ("partial-first-bad-fraction", _set(["checkpoint", "partial", "first_bad"], 1.5)),
    ("partial-first-bad-past-steps", _set(["checkpoint", "partial", "first_bad"], 9)),
    ("partial-loss-null", _set(["checkpoint", "partial", "loss_sum"], None)),
    ("partial-loss-text", _set(["checkpoint", "partial", "loss_sum"], "1")),
    ("partial-extra-key", _set(["checkpoint", "partial", "order"], [1, 2])),
    ("partial-without-order", lambda t, m: t.pop("partial.order")),
    ("no-partial-with-order", _set(["checkpoint", "partial"], None)),
    ("checkpoint-not-object", _set(["checkpoint"], [1])),
    ("order-duplicate-row", _tensor("partial.order", lambda a: np.concatenate([a[:1], a[:-1]]))),
    ("order-row-out-of-range", _tensor("partial.order", _set_first(10**6))),
    ("order-negative-row", _tensor("partial.order", _set_first(-1))),
    ("order-short", _tensor("partial.order", lambda a: a[:-1])),
    ("split-val-overlaps-train", lambda t, m: t["split.val"].__setitem__(0, t["split.train"][0])),
    (
        "split-val-too-few",
        lambda t, m: (
            t.update({"split.train": np.concatenate([t["split.train"], t["split.val"][1:]])}),
            t.update({"split.val": t["split.val"][:1]}),
        ),
    ),
    ("adam-v-negative", _tensor("optim.v.0", _set_first(-1.0))),
    ("extra-optimizer-tensor", lambda t, m: t.update({"optim.m.9": t["optim.m.0"]})),
    ("extra-best-tensor", lambda t, m: t.update({"best.9": t["best.0"]})),
    ("extra-junk-tensor", lambda t, m: t.update({"junk": np.zeros(3)})),
    ("extra-network-tensor", lambda t, m: t.update({"3.weight": t["2.weight"]})),
    ("velocity-in-adam", lambda t, m: t.update({"optim.velocity.0": t["optim.m.0"]})),
    ("data-rows-changed", _set(["data", "n_samples"], 1796)),
    ("data-split-drops-a-row", lambda t, m: m["data"]["split"]["train"].pop()),
    ("data-split-overlaps", lambda t, m: m["data"]["split"]["test"].append(m["data"]["split"]["train"][0])),
    ("data-source-number", _set(["data", "source"], 5)),
    ("data-seed-text", _set(["data", "seed"], "0")),
    ("data-missing", lambda t, m: m.pop("data")),
    ("data-task-regress", _set(["data", "task"], "regress")),
    ("data-task-unknown", _set(["data", "task"], "cluster")),
    ("params-bad-epochs", _set(["params", "max_iter"], "3")),
    ("params-hidden-not-the-network", _set(["params", "hidden_layer_sizes"], [9])),
    ("params-activation-not-the-network", _set(["params", "activation"], "tanh")),
    ("params-lbfgs", _set(["params", "solver"], "lbfgs")),
    ("params-unknown", _set(["params", "colour"], "red")),
    ("dtype-float16", _set(["trained_on", "dtype"], "float16")),
    ("dtype-float64", _set(["trained_on", "dtype"], "float64")),
    ("features-65", _set(["fitted", "n_features_in_"], 65)),
    ("classes-3", _set(["fitted", "classes_"], [0, 1, 2])),
    ("no-layers", _set(["architecture", "layers"], [])),
    ("regressor", _set(["estimator"], "MLPRegressor")),
    ("standardize-float32", _tensor("standardize.mean", lambda a: a.astype(np.float32))),
    ("standardize-zero-scale", _tensor("standardize.scale", _set_first(0.0))),
]


def _tensor_edits(names):
    for name in names:
        yield f"drop-tensor-{name}", lambda t, m, name=name: t.pop(name)
        yield f"reshape-{name}", _tensor(name, lambda a: np.concatenate([a, a[:1]]))
        if name in ("partial.order", "split.train", "split.val"):
            yield f"int32-{name}", _tensor(name, lambda a: a.astype(np.int32))
            yield f"float-{name}", _tensor(name, lambda a: a.astype(np.float64))
        else:
            yield f"nan-in-{name}", _tensor(name, _nan)
            yield f"inf-in-{name}", _tensor(name, _set_first(np.inf))
            other = np.float32 if name.startswith("standardize") else np.float64
            yield f"{other.__name__}-{name}", _tensor(name, lambda a, other=other: a.astype(other))
            yield f"int-{name}", _tensor(name, lambda a: a.astype(np.int64))


#: Edits that change nothing training reads: the run must resume (and its model evaluate).
HARMLESS = [
    ("checkpoint-extra-key", _set(["checkpoint", "note"], "kept")),
    ("metadata-extra-key", _set(["note"], "kept")),
    ("versions-changed", _set(["versions", "numpy"], "0.0")),
]


def _fingerprint(tensors, meta):
    return json.dumps(meta, sort_keys=True), sorted((k, v.dtype.str, v.shape, v.tobytes()) for k, v in tensors.items())


def _all_edits(pristine):
    tensors, _ = load_model_file(pristine / "checkpoint.safetensors")
    edits = [(name, fn, must) for name, fn, must in _field_edits()]
    edits += [(name, fn, True) for name, fn in SEMANTIC]
    edits += [(name, fn, True) for name, fn in _tensor_edits(sorted(tensors))]
    edits += [(name, fn, False) for name, fn in HARMLESS]
    return edits


def test_every_edit_of_a_real_checkpoint_is_refused_in_one_line_or_resumes_cleanly(pristine, tmp_path, capsys):
    """Flip each field and tensor of a real checkpoint: exit 2 with one line (checkpoint untouched), never exit 1,
    never a traceback, never a resumed run that fails later; the few valid values resume to a usable model."""
    edits = _all_edits(pristine["adam"])
    assert len(edits) > 180
    failures, refused, skipped = [], 0, 0
    for name, edit, must in edits:
        folder = tmp_path / f"case-{name}"
        shutil.copytree(pristine["adam"], folder)
        tensors, meta = load_model_file(folder / "checkpoint.safetensors")
        before = _fingerprint(tensors, meta)
        edit(tensors, meta)
        if _fingerprint(tensors, meta) == before:  # e.g. has_best=True where it is true already
            shutil.rmtree(folder)
            skipped += 1
            continue
        _write_raw(folder / "checkpoint.safetensors", tensors, meta)
        damaged = (folder / "checkpoint.safetensors").read_bytes()
        code, out, err = _resume(capsys, folder)
        lines = err.splitlines()
        if code == 2:
            refused += 1
            ok = len(lines) == 1 and lines[0].startswith("gpubp: error: ") and "Traceback" not in err
            ok = ok and (folder / "checkpoint.safetensors").read_bytes() == damaged
            ok = ok and not (folder / "model.safetensors").exists() and LOCK_FILE not in os.listdir(folder)
            if not ok:
                failures.append(f"{name}: refused, but not cleanly: {err!r}")
        elif code == 0 and not must:
            evaluated = call(["evaluate", str(folder / "model.safetensors")], capsys)
            if evaluated[0] != 0:
                failures.append(f"{name}: resumed, then evaluate failed: {evaluated[2]!r}")
        else:
            failures.append(f"{name}: exit {code}, expected a refusal: {err.strip()!r}")
        shutil.rmtree(folder)
    assert not failures, "\n".join(failures)
    assert refused == sum(must for _, _, must in edits) - skipped


def test_a_damaged_checkpoint_names_what_is_wrong(run, capsys):
    cases = [
        (_rng(bit_generator="MT19937"), "'rng' is not the state of a PCG64 random generator"),
        (lambda t, m: m["checkpoint"].pop("optimizer_steps"), "damaged checkpoint: 'optimizer_steps' missing"),
        (_tensor("best.0", _nan), "tensor 'best.0' holds NaN or infinite values"),
        (_tensor("optim.m.1", lambda a: a[:-1]), "tensor 'optim.m.1' has shape (7,), its parameter (8,)"),
        (lambda t, m: t.pop("optim.v.2"), "optimizer state: missing optim.v.2"),
        (_set(["checkpoint", "history", 0, "train_loss"], "x"), "history[0]['train_loss'] must be a finite number"),
    ]
    path = run / "checkpoint.safetensors"
    pristine = path.read_bytes()
    for edit, needle in cases:
        path.write_bytes(pristine)
        tensors, meta = load_model_file(path)
        edit(tensors, meta)
        _write_raw(path, tensors, meta)
        code, _, err = _resume(capsys)
        assert_one_line_error(code, err, f"{path.relative_to(run.parent)}: ", needle)


def _flip_bit(path, tensor, bit=0):
    """Flip one bit of the first byte of ``tensor``'s data in the file (a float32's lowest mantissa bit)."""
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[:8], "little")
    start = 8 + size + json.loads(data[8 : 8 + size])[tensor]["data_offsets"][0]
    data[start] ^= 1 << bit
    path.write_bytes(bytes(data))


def test_a_flipped_bit_that_leaves_every_value_plausible_is_still_refused(run, capsys, tmp_path):
    path = run / "checkpoint.safetensors"
    pristine = path.read_bytes()
    for tensor in ("0.weight", "optim.m.2", "best.1", "standardize.mean"):
        path.write_bytes(pristine)
        _flip_bit(path, tensor)
        code, _, err = _resume(capsys)
        assert_one_line_error(code, err, "damaged checkpoint: its contents do not match the SHA-256 saved with them")
    tensors, meta = load_model_file(path)
    state = meta["checkpoint"]["rng"]["state"]
    state["state"] ^= 1 << 64  # still a valid generator state
    path.write_bytes(pristine)
    _write_raw(path, tensors, meta, reseal=False)
    code, _, err = _resume(capsys)
    assert_one_line_error(code, err, "do not match the SHA-256")
    path.write_bytes(pristine)
    assert _resume(capsys)[0] == 0
    _flip_bit(run / "model.safetensors", "2.bias")  # a finished model is sealed too
    code, _, err = call(["evaluate", str(run / "model.safetensors")], capsys)
    assert_one_line_error(code, err, "damaged model: its contents do not match the SHA-256")


def test_an_sgd_momentum_checkpoint_is_checked_too(pristine, tmp_path, capsys):
    shutil.copytree(pristine["momentum"], tmp_path / "run")
    path = tmp_path / "run" / "checkpoint.safetensors"
    tensors, meta = load_model_file(path)
    assert "optim.velocity.0" in tensors and "optim.m.0" not in tensors
    for edit, needle in [
        (_tensor("optim.velocity.2", _nan), "tensor 'optim.velocity.2' holds NaN"),
        (lambda t, m: t.update({"optim.m.0": t["optim.velocity.0"]}), "unexpected optim.m.0"),
    ]:
        t, m = load_model_file(path)
        edit(t, m)
        _write_raw(tmp_path / "run" / "damaged.safetensors", t, m)
        shutil.copy(path, tmp_path / "good.safetensors")
        os.replace(tmp_path / "run" / "damaged.safetensors", path)
        code, _, err = _resume(capsys)
        assert_one_line_error(code, err, needle)
        os.replace(tmp_path / "good.safetensors", path)
    code, _, err = _resume(capsys)
    assert code == 0, err


def test_the_library_refuses_a_damaged_checkpoint_with_its_own_error(run):
    path = run / "checkpoint.safetensors"
    tensors, meta = load_model_file(path)
    meta["checkpoint"]["rng"]["bit_generator"] = "MT19937"
    _write_raw(path, tensors, meta)
    with pytest.raises(gpubp.GpubpError, match="damaged checkpoint: 'rng'"):
        gpubp.load(path)


def test_a_checkpoint_on_other_rows_is_refused_by_the_library_too(run, tmp_path):
    """fit(..., hooks=FitHooks(resume=True)) checks the split and the part-done epoch against the rows it is given."""
    from gpubp.data import load_dataset

    X, y = load_dataset("digits").X, load_dataset("digits").y
    est = gpubp.load(run / "checkpoint.safetensors")
    with pytest.raises(gpubp.GpubpError, match="early-stopping split covers 1438 rows, but 500 rows are given"):
        est.fit(X[:500], y[:500], hooks=gpubp.FitHooks(resume=True))
    plain = _interrupted_run(tmp_path / "plain", "--no-early-stopping")
    est = gpubp.load(plain / "checkpoint.safetensors")
    with pytest.raises(gpubp.GpubpError, match="part-done epoch orders 1438 rows, but 500 rows are given"):
        est.fit(X[:500], y[:500], hooks=gpubp.FitHooks(resume=True))


# -- 1. every way a job is told to stop -------------------------------------------------------


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGXCPU], ids=lambda s: s.name
)
def test_a_signal_mid_epoch_finishes_the_step_saves_and_says_how_to_resume(tmp_path, capsys, signum):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stop_module.Stop, "is_set", SignalAt(15, signum))
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 128 + signum, err
    assert err.splitlines() == [
        f"gpubp: interrupted{'' if signum == signal.SIGINT else ' by ' + signum.name} in epoch 2; checkpoint saved in "
        f"{os.path.join('run', 'checkpoint.safetensors')}; resume with: gpubp train --resume run"
    ]
    _no_leftovers(tmp_path / "run")
    assert load_model_file(tmp_path / "run" / "checkpoint.safetensors")[1]["checkpoint"]["partial"]["steps"] == 4
    assert call(["train", "--resume", "run", "--quiet"], capsys)[0] == 0


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stop_module.Stop, "is_set", SignalAt(15, signal.SIGTERM, count=2))
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 143
    assert err.splitlines() == [
        f"gpubp: interrupted by SIGTERM in epoch 2; checkpoint saved in {os.path.join('run', 'checkpoint.safetensors')}"
        "; resume with: gpubp train --resume run"
    ]
    _no_leftovers(tmp_path / "run")
    state = load_model_file(tmp_path / "run" / "checkpoint.safetensors")[1]["checkpoint"]
    assert len(state["history"]) == 1 and state["partial"] is None  # the epoch-1 checkpoint, intact
    assert call(["train", "--resume", "run", "--quiet"], capsys)[0] == 0


def test_two_signals_in_the_first_epoch_leave_nothing(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stop_module.Stop, "is_set", SignalAt(3, signal.SIGTERM, count=2))
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 143 and err.splitlines() == [
        "gpubp: interrupted by SIGTERM before the first epoch ended; nothing was saved"
    ]
    assert os.listdir(tmp_path) == []


SIGNALLED = ["--data", "digits", "--hidden", "256,256", "--epochs", "12", "--patience", "100", "--quiet"]


def _finish(args, cwd):
    proc = _gpubp(args, cwd)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return proc.returncode


@pytest.mark.slow
def test_a_signal_at_any_moment_leaves_a_resumable_run_or_the_model(tmp_path):
    """SIGINT, SIGTERM or SIGHUP from outside at random moments (loading, mid-epoch, saving, plotting): each stop is
    exit 128+signal with one line that tells the truth about what is on disk, no temporary file is left, and the
    resumed run ends bit for bit where an uninterrupted one does."""
    t0 = time.monotonic()
    assert _finish([*SIGNALLED, "--out", "ref"], tmp_path) == 0
    seconds = time.monotonic() - t0  # a whole run on this machine, start-up included: the signals are spread over it
    reference, _ = load_model_file(tmp_path / "ref" / "model.safetensors")
    rng = np.random.default_rng(20261130)
    run, stops = tmp_path / "run", 0
    for _ in range(30):
        if (run / "model.safetensors").exists() and not (run / "checkpoint.safetensors").exists():
            break
        resume = (run / "checkpoint.safetensors").exists()
        proc = _gpubp(["train", "--resume", "run", "--quiet"] if resume else [*SIGNALLED, "--out", "run"], tmp_path)
        before = sorted(os.listdir(run)) if run.exists() else None
        time.sleep(float(rng.uniform(0.3, 0.8 * seconds)))
        signum = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP][int(rng.integers(3))]
        if proc.poll() is None:
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            continue
        if proc.returncode == -signum:  # while Python was still importing gpubp: no handler yet, nothing written
            assert (sorted(os.listdir(run)) if run.exists() else None) == before and "gpubp:" not in err, err
            continue
        stops += 1
        assert proc.returncode == 128 + signum, err
        (line,) = err.splitlines()
        assert line.startswith("gpubp: interrupted"), line
        if line == f"gpubp: interrupted{'' if signum == signal.SIGINT else ' by ' + signum.name}" or (
            "before training" in line
        ):  # while the command was still starting up or loading: nothing was made or changed
            assert not run.exists() if "--out" in proc.args else (run / "checkpoint.safetensors").exists()
        elif "after the model was saved" in line:
            assert (run / "model.safetensors").exists()
        elif "nothing was saved" in line:
            assert not run.exists() or not (run / "checkpoint.safetensors").exists()
        else:
            assert line.endswith("resume with: gpubp train --resume run"), line
            load_model_file(run / "checkpoint.safetensors")
        if run.exists():
            _no_leftovers(run)
    if (run / "checkpoint.safetensors").exists() or not (run / "model.safetensors").exists():
        args = ["train", "--resume", "run", "--quiet"] if run.exists() else [*SIGNALLED, "--out", "run"]
        assert _finish(args, tmp_path) == 0
    assert stops >= 2, "the runs finished too fast for the signals to land"
    final, _ = load_model_file(run / "model.safetensors")
    for name, value in reference.items():
        np.testing.assert_array_equal(final[name], value, err_msg=name)
    _no_leftovers(run)


def _signal_when(monkeypatch, module, name, signum, when=lambda *a, **k: True):
    """Make ``module.name`` send ``signum`` to this process just before it runs (if ``when(*args)``)."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if when(*args, **kwargs):
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def test_a_signal_before_training_stops_at_once_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    _signal_when(monkeypatch, train_module, "load_dataset", signal.SIGTERM)  # while reading the data
    code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 143
    assert err.splitlines() == ["gpubp: interrupted by SIGTERM before training started; nothing was saved"]
    assert os.listdir(tmp_path) == []


def test_a_signal_while_a_resumed_run_loads_leaves_the_checkpoint_as_it_was(run, capsys, monkeypatch):
    from gpubp.cli import resume

    before = (run / "checkpoint.safetensors").read_bytes()
    _signal_when(monkeypatch, resume, "load_dataset", signal.SIGINT)
    code, out, err = _resume(capsys)
    assert code == 130
    assert err.splitlines() == [
        "gpubp: interrupted before training resumed; the checkpoint is as it was; resume with: gpubp train --resume run"
    ]
    assert (run / "checkpoint.safetensors").read_bytes() == before
    _no_leftovers(run)


def test_a_signal_after_the_folder_is_claimed_removes_it(tmp_path, capsys, monkeypatch):
    _signal_when(monkeypatch, train_module, "write_text", signal.SIGHUP)  # the empty metrics.jsonl, before fit
    code, out, err = call(["train", *SMALL, "--out", "a/run"], capsys)
    assert code == 129 and err.splitlines() == [
        "gpubp: interrupted by SIGHUP before the first epoch ended; nothing was saved"
    ]
    assert os.listdir(tmp_path) == []


def test_a_signal_while_the_model_is_written_keeps_the_checkpoint(tmp_path, capsys):
    import gpubp.estimators.state as state

    with pytest.MonkeyPatch.context() as mp:
        _signal_when(mp, state, "save_model_file", signal.SIGTERM,
                     when=lambda path, *a: str(path).endswith("model.safetensors"))  # fmt: skip
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 143
    assert err.splitlines() == [
        "gpubp: interrupted by SIGTERM after the last epoch, before the model was written; checkpoint saved in "
        f"{os.path.join('run', 'checkpoint.safetensors')}; resume with: gpubp train --resume run"
    ]
    _no_leftovers(tmp_path / "run")
    assert not (tmp_path / "run" / "model.safetensors").exists()
    code, out, err = call(["train", "--resume", "run", "--json"], capsys)
    assert code == 0 and json.loads(out)["epochs_run"] == 3  # no epoch more: the model is written


@pytest.mark.parametrize("where", ["evaluate", "plot_losses"])
def test_a_signal_after_the_model_is_saved_says_so(tmp_path, capsys, monkeypatch, where):
    if where == "evaluate":
        _signal_when(monkeypatch, gpubp.MLPClassifier, "evaluate", signal.SIGINT)
    else:
        _signal_when(monkeypatch, train_module, "plot_losses", signal.SIGINT)
    code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert code == 130
    assert err.splitlines() == [
        f"gpubp: interrupted after the model was saved in {os.path.join('run', 'model.safetensors')}"
    ]
    _no_leftovers(tmp_path / "run")
    gpubp.load(tmp_path / "run" / "model.safetensors")


def test_a_signal_during_evaluate_or_predict_stops_them(tmp_path, capsys, monkeypatch, pristine):
    from gpubp.cli import use

    model = pristine["adam"] / "checkpoint.safetensors"  # a checkpoint is a usable model too
    _signal_when(monkeypatch, use, "load_features", signal.SIGTERM)
    code, out, err = call(["predict", str(model), "--data", "digits", "--out", "p.csv"], capsys)
    assert code == 143 and err.splitlines() == ["gpubp: interrupted by SIGTERM"]
    assert os.listdir(tmp_path) == []


def test_an_ignored_sighup_stays_ignored(tmp_path, capsys):
    """nohup: SIGHUP ignored when gpubp starts is not turned into a stop."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(stop_module.Stop, "is_set", SignalAt(5, signal.SIGHUP))
            code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert code == 0, err
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_temporary_files_do_not_outlive_the_next_run_of_the_folder(run, capsys):
    for pattern in TEMPORARIES:
        (run / pattern.replace("*", "x1y2")).write_bytes(b"half-written")
    (run / "notes.tmp").write_text("the user's own file")
    code, out, err = _resume(capsys)
    assert code == 0, err
    assert sorted(os.listdir(run)) == ["loss.png", "metrics.jsonl", "model.safetensors", "notes.tmp"]
    fresh = run.parent / "fresh"
    fresh.mkdir()
    (fresh / ".checkpoint.safetensors.abc.tmp").write_bytes(b"x")  # a run killed before its first epoch ended
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "fresh", "--quiet"], capsys)[0] == 0
    _no_leftovers(fresh)


def test_an_interrupted_plot_leaves_no_temporary_file(tmp_path):
    from gpubp.plot import plot_losses
    from gpubp.train import History

    history = History([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}], 2, "max_epochs")
    import matplotlib.figure

    def interrupted(self, *a, **k):
        (tmp_path / ".loss.png.tmp").write_bytes(b"half")  # what savefig had written so far
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matplotlib.figure.Figure, "savefig", interrupted)
        with pytest.raises(KeyboardInterrupt):
            plot_losses(history, tmp_path / "loss.png")
    assert os.listdir(tmp_path) == []
    assert plot_losses(history, tmp_path / "loss.png") and os.listdir(tmp_path) == ["loss.png"]


# -- 2. a run folder belongs to one run -------------------------------------------------------


def _hold_lock(folder):
    """Lock ``folder`` as a live run does (another open file description: flock conflicts even in one process)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242 on elsewhere\n")
    return fd


def test_a_folder_another_run_holds_is_refused(tmp_path, capsys):
    fd = _hold_lock(tmp_path / "run")
    try:
        code, out, err = call(["train", "--data", "xor", "--out", "run"], capsys)
        assert_one_line_error(code, err, "--out run: another gpubp process (pid 4242 on elsewhere) is training")
        assert sorted(os.listdir(tmp_path / "run")) == [LOCK_FILE]  # the other run's folder is left alone
    finally:
        os.close(fd)
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "run", "--quiet"], capsys)[0] == 0


def test_resuming_a_run_another_process_trains_is_refused(run, capsys):
    before = {name: (run / name).read_bytes() for name in os.listdir(run)}
    fd = _hold_lock(run)
    try:
        code, out, err = _resume(capsys)
        assert_one_line_error(code, err, "--resume run: another gpubp process", "is training in this run folder")
        assert {name: (run / name).read_bytes() for name in before} == before
    finally:
        os.close(fd)


def test_a_planted_lock_file_is_never_followed(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "precious").write_text("keep me")
    os.symlink(tmp_path / "precious", tmp_path / "run" / LOCK_FILE)
    code, _, err = call(["train", "--data", "xor", "--out", "run"], capsys)
    assert_one_line_error(code, err, f"--out run: its {LOCK_FILE} is a symbolic link; remove it")
    assert (tmp_path / "precious").read_text() == "keep me"
    os.remove(tmp_path / "run" / LOCK_FILE)
    (tmp_path / "run" / LOCK_FILE).mkdir()
    code, _, err = call(["train", "--data", "xor", "--out", "run"], capsys)
    assert_one_line_error(code, err, f"--out run: its {LOCK_FILE} is a folder; remove it")


def test_a_stale_lock_file_blocks_nothing(run, capsys):
    (run / LOCK_FILE).write_text("pid 1 on a machine that crashed\n")  # its process is gone: no lock held
    code, out, err = _resume(capsys)
    assert code == 0, err
    _no_leftovers(run)


def _gpubp(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k != "GPUBP_BACKEND"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "gpubp", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


RACE = ["train", "--data", "digits", "--hidden", "64", "--epochs", "8", "--patience", "100", "--quiet"]


def test_two_runs_started_together_on_one_folder_never_both_succeed(tmp_path):
    procs = [
        _gpubp(["train", "--data", "xor", "--epochs", "40", "--quiet", "--out", "run"], tmp_path) for _ in range(2)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    (err,) = [err for code, _, err in results if code == 2]
    assert_one_line_error(2, err, "--out run:")
    assert "another gpubp process" in err or "already holds a run" in err  # refused by the lock, or after the run
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    epochs = [json.loads(r)["epoch"] for r in records]
    assert epochs == list(range(1, len(epochs) + 1))  # one run's log, not two interleaved
    gpubp.load(tmp_path / "run" / "model.safetensors")
    _no_leftovers(tmp_path / "run")


@pytest.mark.slow
def test_many_runs_racing_for_one_folder_leave_one_run(tmp_path):
    procs = [_gpubp([*RACE, "--out", "run"], tmp_path) for _ in range(4)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 2, 2, 2], results
    for code, _out, err in results:
        if code == 2:
            assert_one_line_error(code, err, "--out run:")
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in records] == list(range(1, 9))
    _no_leftovers(tmp_path / "run")


@pytest.mark.slow
def test_resume_while_the_run_trains_is_refused_and_a_killed_run_blocks_nothing(tmp_path):
    # --patience 100: all 50 epochs, so the run still trains when it is killed (early stopping ended it in ~1 s)
    proc = _gpubp([*RACE[:4], "512,512", "--epochs", "50", "--patience", "100", "--quiet", "--out", "run"], tmp_path)
    _wait_for(tmp_path / "run" / "checkpoint.safetensors")
    other = _gpubp(["train", "--resume", "run"], tmp_path)
    _, err = other.communicate(timeout=120)
    assert_one_line_error(other.returncode, err, "another gpubp process (pid", "is training in this run folder")
    assert proc.poll() is None  # the first run goes on
    proc.kill()
    proc.communicate()
    assert (tmp_path / "run" / LOCK_FILE).exists()  # what SIGKILL leaves: a file, no lock
    again = _gpubp(["train", "--resume", "run", "--epochs", "50", "--quiet"], tmp_path)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    _no_leftovers(tmp_path / "run")


def _wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


# -- 4. write errors are the user's errors ----------------------------------------------------


def test_a_full_stdout_after_training_says_the_model_is_saved(tmp_path, capsys, monkeypatch):
    with open("/dev/full", "w") as full:  # a real ENOSPC from the kernel when the summary is flushed
        monkeypatch.setattr(sys, "stdout", full)
        code = gpubp.cli.main(["train", "--data", "xor", "--epochs", "3", "--out", "run", "--json", "--quiet"])
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "standard output: cannot write (No space left on device)",
                          f"the model is saved in {os.path.join('run', 'model.safetensors')}")  # fmt: skip
    gpubp.load(tmp_path / "run" / "model.safetensors")


def test_a_full_stdout_before_training_saves_nothing(tmp_path, capsys, monkeypatch):
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        code = gpubp.cli.main(["train", "--data", "xor", "--epochs", "3", "--out", "run"])  # "using ..." fails
        monkeypatch.undo()
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "standard output: cannot write (No space left on device)")
    assert os.listdir(tmp_path) == []


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        pass


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--data", "xor", "--epochs", "2", "--out", "run", "--json"],
        ["evaluate", "model.safetensors", "--json"],
        ["predict", "model.safetensors", "--data", "xor"],
    ],
    ids=["train", "evaluate", "predict"],
)
def test_a_closed_pipe_on_stdout_is_one_line_exit_2(tmp_path, capsys, monkeypatch, args):
    if args[0] != "train":
        assert call(["train", "--data", "xor", "--epochs", "2", "--out", "m", "--quiet"], capsys)[0] == 0
        os.rename("m/model.safetensors", "model.safetensors")
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code, _, err = call([*args, "--quiet"] if args[0] == "train" else args, capsys)
    assert_one_line_error(code, err, "standard output: cannot write (the reader closed the pipe)")
    if args[0] == "train":
        assert "the model is saved in" in err


def test_a_plot_that_cannot_be_written_names_it_and_the_saved_model(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    def full(self, fname, *a, **k):
        with open(fname, "wb") as f:
            f.write(b"part of a PNG")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert_one_line_error(code, err, f"cannot write plot {os.path.join('run', 'loss.png')}: No space left on device",
                          f"the model is saved in {os.path.join('run', 'model.safetensors')}")  # fmt: skip
    assert sorted(os.listdir(tmp_path / "run")) == ["metrics.jsonl", "model.safetensors"]


def test_a_failure_after_the_model_is_saved_says_the_model_is_kept(tmp_path, capsys):
    def oom(*a, **k):
        raise gpubp.GpubpError("out of memory on cupy on cuda:0 with batch_size 8192")

    def broken(*a, **k):
        raise RuntimeError("a matplotlib bug")

    for name, target, replacement, needle in [
        ("evaluate", gpubp.MLPClassifier, oom, "out of memory on cupy"),
        ("plot_losses", train_module, broken, "cannot draw the loss plot"),
    ]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(target, name, replacement)
            code, _, err = call(["train", *SMALL, "--out", name], capsys)
        assert_one_line_error(code, err, needle, f"the model is saved in {os.path.join(name, 'model.safetensors')}")
        gpubp.load(tmp_path / name / "model.safetensors")


def test_a_metrics_log_that_cannot_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    os.symlink("/dev/full", tmp_path / "run" / "metrics.jsonl")  # every append: ENOSPC
    code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert_one_line_error(code, err, f"cannot write the metrics log {os.path.join('run', 'metrics.jsonl')}: "
                          "No space left on device; nothing was saved")  # fmt: skip
    assert os.listdir(tmp_path / "run") == ["metrics.jsonl"]  # the folder was there before: only the log is left


def _failing_save(monkeypatch, fail):
    """The model writer fails (as on a full disk) when ``fail(path, calls)`` says so."""
    import gpubp.estimators.state as state

    original, calls = state.save_model_file, []

    def save(path, *args):
        calls.append(str(path))
        if fail(str(path), calls):
            raise gpubp.GpubpError(f"cannot write model file {path}: No space left on device")
        return original(path, *args)

    monkeypatch.setattr(state, "save_model_file", save)


def test_a_checkpoint_that_cannot_be_written_keeps_the_last_one(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        _failing_save(mp, lambda path, calls: len(calls) == 2)  # the second epoch's checkpoint
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    path = os.path.join("run", "checkpoint.safetensors")
    assert_one_line_error(code, err, f"cannot write model file {path}: No space left on device; the checkpoint of "
                          f"epoch 1 is kept in {path}; resume with: gpubp train --resume run")  # fmt: skip
    assert call(["train", "--resume", "run", "--quiet"], capsys)[0] == 0


def test_a_first_checkpoint_that_cannot_be_written_leaves_nothing(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        _failing_save(mp, lambda path, calls: True)
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert_one_line_error(code, err, "No space left on device; nothing was saved")
    assert os.listdir(tmp_path) == []


def test_a_model_that_cannot_be_written_is_not_lost(tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        _failing_save(mp, lambda path, calls: path.endswith("model.safetensors"))
        code, out, err = call(["train", *SMALL, "--out", "run"], capsys)
    assert_one_line_error(code, err, "cannot write model file", "the checkpoint of the finished training is kept",
                          "resume with: gpubp train --resume run")  # fmt: skip
    code, out, err = call(["train", "--resume", "run", "--json"], capsys)
    assert code == 0 and json.loads(out)["epochs_run"] == 3


def test_closed_standard_streams_are_not_internal_errors(tmp_path, capsys, monkeypatch):
    """Started with >&- or 2>&- Python has sys.stdout or sys.stderr None (and print(file=None) writes to stdout)."""
    monkeypatch.setattr(sys, "stdout", None)
    code = gpubp.cli.main(["train", "--data", "xor", "--epochs", "2", "--out", "run", "--json", "--quiet"])
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "standard output: cannot write (it is closed); the model is saved in")
    out = []
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(
        sys, "stdout", type("Out", (), {"write": lambda self, t: out.append(t), "flush": lambda self: None})()
    )
    assert gpubp.cli.main(["train", "--data", "xor", "--out", "run", "--json"]) == 2  # refused: the folder holds a run
    assert out == []  # the error line went nowhere, not into stdout


def test_a_resume_that_cannot_rewrite_its_log_keeps_the_checkpoint(run, capsys):
    before = (run / "checkpoint.safetensors").read_bytes()
    os.remove(run / "metrics.jsonl")
    (run / "metrics.jsonl").mkdir()
    code, _, err = _resume(capsys)
    assert_one_line_error(code, err, "metrics.jsonl: is a folder, not a file; the checkpoint is as it was")
    assert (run / "checkpoint.safetensors").read_bytes() == before
    _no_leftovers(run)


def test_an_lbfgs_model_is_saved_before_its_log(tmp_path, capsys):
    original = train_module.write_text

    def full(path, text, flag="--out"):
        if text:  # lbfgs writes its log once, after fitting
            raise train_module.WriteFailed(f"{flag} {path}: cannot write (No space left on device)")
        return original(path, text, flag)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "write_text", full)
        code, _, err = call(
            ["train", "--data", "xor", "--optimizer", "lbfgs", "--epochs", "20", "--out", "run"], capsys
        )
    assert_one_line_error(code, err, "(No space left on device); the model is saved in")
    gpubp.load(tmp_path / "run" / "model.safetensors")


def test_evaluate_given_a_run_folder_names_the_file_to_give(tmp_path, capsys, pristine):
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "done", "--quiet"], capsys)[0] == 0
    code, _, err = call(["evaluate", "done"], capsys)
    assert_one_line_error(
        code, err, f"done: is a run folder; give its model file, {os.path.join('done', 'model.safetensors')}"
    )
    code, _, err = call(["predict", str(pristine["adam"]), "--data", "digits"], capsys)
    assert_one_line_error(code, err, "is a run folder whose run has not finished")


def test_files_of_the_run_that_are_folders_are_refused_before_training(tmp_path, capsys):
    for name in ("metrics.jsonl", "loss.png", "model.safetensors", "checkpoint.safetensors"):
        (tmp_path / "run" / name).mkdir(parents=True)
        code, _, err = call(["train", "--data", "xor", "--out", "run"], capsys)
        assert_one_line_error(code, err, f"{os.path.join('run', name)} is a folder, where the run would write a file")
        os.rmdir(tmp_path / "run" / name)


def test_predict_out_into_a_missing_folder_or_through_a_broken_link(tmp_path, capsys, pristine):
    model = str(pristine["adam"] / "checkpoint.safetensors")
    code, _, err = call(["predict", model, "--data", "digits", "--out", "nowhere/p.csv"], capsys)
    assert_one_line_error(code, err, "--out nowhere/p.csv: cannot write (folder nowhere does not exist)")
    os.symlink("gone/p.csv", "link.csv")
    code, _, err = call(["predict", model, "--data", "digits", "--out", "link.csv"], capsys)
    assert_one_line_error(
        code, err, "--out link.csv: cannot write through the symbolic link to gone/p.csv (No such file or directory)"
    )


# Real full disks and read-only folders: a private mount namespace, so nothing leaks into the machine's mounts.

CAN_MOUNT = os.geteuid() == 0 and shutil.which("unshare") is not None and sys.platform == "linux"
if CAN_MOUNT:
    CAN_MOUNT = subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="needs root and unshare -m (a private tmpfs or bind mount)")


def _in_namespace(script, cwd):
    env = {k: v for k, v in os.environ.items() if k != "GPUBP_BACKEND"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["GPUBP"] = f"{sys.executable} -m gpubp"
    return subprocess.run(["unshare", "-m", "bash", "-c", "set -u; mount --make-rprivate / ; " + script], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


@needs_mount
@pytest.mark.slow
def test_a_read_only_folder_is_one_line_for_every_writer(tmp_path, capsys):
    """A read-only bind mount (root ignores permissions, so chmod would prove nothing)."""
    (tmp_path / "ro").mkdir()
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "ro/done", "--quiet"], capsys)[0] == 0
    (tmp_path / "ro" / "done" / "model.safetensors").rename(tmp_path / "ro" / "done" / "checkpoint.safetensors")
    script = """
    mount --bind ro ro && mount -o remount,ro,bind ro
    $GPUBP train --data xor --epochs 2 --out ro/new --quiet; echo "new=$?" >&2
    $GPUBP train --resume ro/done --quiet; echo "resume=$?" >&2
    $GPUBP predict ro/done/checkpoint.safetensors --data xor --out ro/p.csv; echo "predict=$?" >&2
    """
    proc = _in_namespace(script, tmp_path)
    lines = proc.stderr.splitlines()
    assert lines[1::2] == ["new=2", "resume=2", "predict=2"], proc.stderr
    assert all(line.startswith("gpubp: error: ") and "Read-only file system" in line for line in lines[0::2]), lines
    assert lines[0].startswith("gpubp: error: --out ro/new: cannot make the folder"), lines
    assert lines[2].startswith("gpubp: error: --resume ro/done: cannot write there"), lines
    assert lines[4] == "gpubp: error: --out ro/p.csv: cannot write (Read-only file system)", lines
    assert sorted(os.listdir(tmp_path / "ro")) == ["done"]


@needs_mount
@pytest.mark.slow
def test_a_full_disk_keeps_the_last_checkpoint_or_leaves_nothing(tmp_path, capsys):
    """Size-limited tmpfs disks: 64 KiB hold no checkpoint (171 KB), 200 KiB hold one but not the next beside it."""
    (tmp_path / "small").mkdir()
    (tmp_path / "medium").mkdir()
    script = """
    mount -t tmpfs -o size=64k tmpfs small && mount -t tmpfs -o size=200k tmpfs medium
    $GPUBP train --data digits --hidden 64,64 --epochs 4 --out small/run --quiet; echo "small=$?" >&2
    $GPUBP train --data digits --hidden 64,64 --epochs 4 --out medium/run --quiet; echo "medium=$?" >&2
    ls -A small >&2; ls -A medium/run >&2
    cp -r medium/run kept
    """
    proc = _in_namespace(script, tmp_path)
    lines = proc.stderr.splitlines()
    checkpoint = "medium/run/checkpoint.safetensors"
    assert lines == [
        "gpubp: error: cannot write model file small/run/checkpoint.safetensors: No space left on device; "
        "nothing was saved",
        "small=2",
        f"gpubp: error: cannot write model file {checkpoint}: No space left on device; the checkpoint of epoch 1 "
        f"is kept in {checkpoint}; resume with: gpubp train --resume medium/run",
        "medium=2",
        "checkpoint.safetensors",
        "metrics.jsonl",
    ], proc.stderr
    code, out, err = call(["train", "--resume", "kept", "--json"], capsys)  # on a disk with room: it finishes
    assert code == 0 and json.loads(out)["epochs_run"] == 4, err


# -- 7. messages that tell the truth ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--data", "xor"],
        ["train", "--data", "xor", "--backend", "auto"],
        ["evaluate", "model.safetensors"],
        ["predict", "model.safetensors", "--data", "xor"],
    ],
    ids=["train", "train-auto", "evaluate", "predict"],
)
def test_gpubp_backend_is_named_as_the_environment_variable(capsys, monkeypatch, args):
    if args[0] != "train":
        assert call(["train", "--data", "xor", "--epochs", "2", "--out", "m", "--quiet"], capsys)[0] == 0
        os.rename("m/model.safetensors", "model.safetensors")
    monkeypatch.setenv("GPUBP_BACKEND", "nonsense")
    code, _, err = call(args, capsys)
    assert_one_line_error(code, err, "GPUBP_BACKEND='nonsense': must be one of auto, numpy")
    assert "--backend" not in err
    code, _, err = call([*args, "--backend", "nonsens"], capsys)  # the flag typed: the flag named
    assert_one_line_error(code, err, "--backend", "must be one of", "nonsens")
    assert "GPUBP_BACKEND" not in err


def test_a_dangling_symlink_as_out_or_resume_is_called_one(tmp_path, capsys):
    os.symlink("nowhere/run", "link")
    for args in (["--data", "xor", "--out", "link"], ["--resume", "link"]):
        code, _, err = call(["train", *args], capsys)
        assert_one_line_error(code, err, "link: a symbolic link to nowhere/run, which does not exist")
        assert "File exists" not in err
    os.symlink("loop", "loop")
    code, _, err = call(["train", "--data", "xor", "--out", "loop"], capsys)
    assert_one_line_error(code, err, "--out loop: a symbolic link")


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (lambda p: p.mkdir(), "is a folder, not a checkpoint file"),
        (lambda p: os.mkfifo(p), "is not a regular file, so not a checkpoint"),
        (lambda p: os.symlink("gone.safetensors", p), "is a symbolic link to gone.safetensors, which does not exist"),
        (lambda p: None, "no checkpoint.safetensors there"),
    ],
    ids=["folder", "fifo", "dangling-link", "missing"],
)
def test_a_checkpoint_that_is_not_a_file_is_called_what_it_is(run, capsys, replace, message):
    os.remove(run / "checkpoint.safetensors")
    replace(run / "checkpoint.safetensors")
    code, _, err = _resume(capsys)
    assert_one_line_error(code, err, f"--resume run: {message}" if message.startswith("no ") else message)
    assert "finished" not in err


def test_resume_of_a_finished_run_or_of_a_file_says_so(tmp_path, capsys):
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "run", "--quiet"], capsys)[0] == 0
    code, _, err = call(["train", "--resume", "run"], capsys)
    assert_one_line_error(code, err, "--resume run: the run finished", "there is no checkpoint to resume")
    code, _, err = call(["train", "--resume", "run/model.safetensors"], capsys)
    assert_one_line_error(code, err, "is a file, not a run folder")
    os.rename("run/model.safetensors", "run/checkpoint.safetensors")
    code, _, err = call(["train", "--resume", "run/checkpoint.safetensors"], capsys)
    assert_one_line_error(code, err, "is a file, not a run folder; give the run folder, --resume run")


def test_empty_paths_and_files_in_the_way_are_named(tmp_path, capsys):
    for args, message in [
        (["--data", "xor", "--out", ""], "--out: an empty path"),
        (["--resume", ""], "--resume: an empty path"),
    ]:
        code, _, err = call(["train", *args], capsys)
        assert_one_line_error(code, err, message)
    (tmp_path / "afile").write_text("x")
    code, _, err = call(["train", "--data", "xor", "--out", "afile/sub/run"], capsys)
    assert_one_line_error(code, err, f"{tmp_path / 'afile'} is a file, not a folder")
    assert os.listdir(tmp_path) == ["afile"]


def test_empty_fit_input_is_the_library_error():
    with pytest.raises(gpubp.GpubpError, match=r"0 sample\(s\)"):
        gpubp.MLPClassifier(backend="numpy").fit(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(gpubp.GpubpError, match=r"0 sample\(s\)"):
        gpubp.MLPRegressor(backend="numpy").fit(np.zeros((0, 3)), np.zeros(0))


# -- a model file is judged from its header before anything is allocated (issue 13.5, the estimator's side) --


def _crafted(src, dst, edit=None, tensors=None):
    """A copy of ``src`` at ``dst``, its gpubp metadata passed through ``edit``, its tensors through ``tensors``."""
    import json

    import safetensors.numpy
    from safetensors import safe_open

    with safe_open(str(src), "np") as f:
        header, weights = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(header["gpubp"])
    meta.pop("sha256", None)
    if edit:
        edit(meta)
    safetensors.numpy.save_file(
        tensors(weights) if tensors else weights, str(dst), {**header, "gpubp": json.dumps(meta)}
    )
    return dst


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    folder = tmp_path_factory.mktemp("small")
    X = np.random.default_rng(0).normal(size=(40, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpubp.MLPClassifier((4,), max_iter=2).fit(X, X[:, 0] > 0).save(folder / "m.safetensors")
    return folder / "m.safetensors"


@pytest.mark.parametrize("width", [10**9, 60_000])
def test_a_claimed_huge_layer_is_refused_from_the_header(small_model, tmp_path, width):
    import resource
    import time

    def claim(meta):
        meta["architecture"]["layers"][0].update(out_features=width)
        meta["architecture"]["layers"][2].update(in_features=width)
        meta["params"]["hidden_layer_sizes"] = [width]

    path = _crafted(small_model, tmp_path / "huge.safetensors", claim)
    before, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(gpubp.GpubpError, match="tensor '0.weight' has shape \\(3, 4\\), the network needs"):
        gpubp.load(path)
    assert time.perf_counter() - t0 < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing near the claim


def test_weights_of_another_dtype_are_refused_not_cast(small_model, tmp_path):
    as_int = lambda w: {k: (v * 100).astype(np.int32) if k == "0.weight" else v for k, v in w.items()}  # noqa: E731
    path = _crafted(small_model, tmp_path / "int.safetensors", tensors=as_int)
    with pytest.raises(gpubp.GpubpError, match="tensor '0.weight' has dtype int32, the model is float32"):
        gpubp.load(path)
