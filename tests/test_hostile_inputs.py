"""Hostile inputs found by a second adversarial pass: each one used to crash, print noise or be silently accepted.

Model files whose header or metadata lies in ways the first pass did not try
(a tensor no array can hold, class labels or feature names that are not
labels or names), ``gpubp info`` and ``parity`` writing to a full or closed
stdout, integer labels wrapped round on reading, and a signal that comes
while the command is still importing its modules.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings

import numpy as np
import pytest
import safetensors.numpy
from conftest import assert_one_line_error, call

import gpubp
import gpubp.cli
from gpubp import io as gio
from gpubp.data import load_dataset
from gpubp.distributed.shards import open_dataset
from gpubp.errors import GpubpError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GPUBP_BACKEND", raising=False)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small classifier fitted on named columns, saved as a model file and as a checkpoint (with training state)."""
    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    folder = tmp_path_factory.mktemp("fitted")
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)), columns=["a", "b", "c"])
    est = gpubp.MLPClassifier((4,), max_iter=2, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, X["a"] > 0)
    est.save(folder / "model.safetensors")
    est.save(folder / "checkpoint.safetensors", checkpoint=True)
    return folder


def _rewrite(src, dst, edit=None, tensors=None):
    """``src`` copied to ``dst`` with its gpubp metadata passed through ``edit`` and its tensors through ``tensors``,
    resealed with a fresh SHA-256 as a deliberate forger would, so the checks under test are the ones that refuse."""
    from safetensors import safe_open

    from gpubp.estimators.state import digest

    with safe_open(str(src), "np") as f:
        header, weights = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(header["gpubp"])
    if edit:
        edit(meta)
    weights = tensors(weights) if tensors else weights
    meta["sha256"] = digest(weights, meta)
    text = json.dumps(meta).replace('"1e999"', "1e999")  # a number JSON has but Python reads as infinity
    safetensors.numpy.save_file(weights, str(dst), {**header, "gpubp": text})
    return dst


def _raw_tensor_entry(path, name, dtype, shape, nbytes):
    """Append to the model file at ``path`` one tensor entry written by hand (its bytes zeros)."""
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header, body = json.loads(data[8 : 8 + length]), data[8 + length :]
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + nbytes]}
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + body + b"\0" * nbytes)


# -- a tensor no array can hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "nbytes", "message"),
    [
        ([1] * 70, 4, "shape has 70 dimensions; a model file's tensors have at most 32"),
        ([0] * 65, 0, "shape has 65 dimensions"),
        ([0, 10**20], 0, "is larger than any array can be"),
        ([0, 2**62, 2**62], 0, "is larger than any array can be"),
        ([0, 2**61, 4], 0, "is larger than any array can be"),
    ],
)
def test_a_tensor_shape_no_array_can_have_is_refused_from_the_header(fitted, tmp_path, capsys, shape, nbytes, message):
    """A checkpoint may hold training-state tensors besides the network's; one shaped beyond NumPy's limits (too
    many dimensions, or a zero-length one beside a dimension past 2**63 bytes) used to reach ``numpy.empty`` and
    end as ``internal error: ValueError: Maximum allowed dimension exceeded``."""
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes((fitted / "checkpoint.safetensors").read_bytes())
    _raw_tensor_entry(path, "optim.extra", "F32", shape, nbytes)
    for read in (gio.load_model_file, gio.read_header, gpubp.load):
        with pytest.raises(GpubpError, match=message) as info:
            read(path)
        assert type(info.value) is GpubpError and str(path) in str(info.value)
    code, _, err = call(["evaluate", str(path)], capsys)
    assert_one_line_error(code, err, message)


def test_a_shape_at_the_limits_still_loads(tmp_path):
    """The new limits refuse only what no array can be: 32 dimensions, and a huge shape with a zero in it that fits."""
    path = tmp_path / "m.safetensors"
    arrays = {"a": np.zeros([1] * 32, np.float32), "b": np.zeros((0, 2**40), np.float32)}
    gio.save_model_file(path, arrays, {"x": 1})
    tensors, _ = gio.load_model_file(path)
    assert tensors["a"].shape == (1,) * 32 and tensors["b"].shape == (0, 2**40)


# -- class labels and feature names that are not labels and names ------------------------------


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([[0, 1], [1, 0]], "classes_ must be all numbers or all strings, not list"),
        ([{"a": 1}, {"b": 2}], "not dict"),
        ([None, None], "not null"),
        ([0, "1"], "not int, str"),
        ([1, 1], "classes_ names a class twice"),
        ([0, "1e999"], "classes_ must be finite numbers"),
    ],
)
def test_class_labels_that_fit_cannot_have_made_are_refused(fitted, tmp_path, capsys, classes, message):
    """Such labels used to load and become the header of ``predict``'s CSV (``p_[0, 1]``) and its predictions."""

    def edit(meta):
        meta["fitted"]["classes_"] = classes

    path = _rewrite(fitted / "model.safetensors", tmp_path / "m.safetensors", edit)
    with pytest.raises(GpubpError, match=message):
        gpubp.load(path)
    code, out, err = call(["predict", str(path), "--data", "xor"], capsys)
    assert_one_line_error(code, err, "model metadata is invalid", message)
    assert out == ""


def test_feature_names_that_are_not_strings_are_refused(fitted, tmp_path, capsys):
    """They used to load, and every prediction then printed scikit-learn's warning about invalid feature names."""

    def edit(meta):
        meta["fitted"]["feature_names_in_"] = [1, {}, None]

    path = _rewrite(fitted / "model.safetensors", tmp_path / "m.safetensors", edit)
    with pytest.raises(GpubpError, match="feature_names_in_ must be strings"):
        gpubp.load(path)


def test_a_regressor_with_classes_is_refused(fitted, tmp_path):
    def edit(meta):
        meta["estimator"], meta["fitted"]["out_activation_"] = "MLPRegressor", "identity"
        meta["params"].pop("loss", None)

    path = _rewrite(fitted / "model.safetensors", tmp_path / "m.safetensors", edit)
    with pytest.raises(GpubpError, match="classes_ is recorded, but a regressor has no classes"):
        gpubp.load(path)


def test_real_labels_of_every_kind_still_load(tmp_path):
    from sklearn.exceptions import ConvergenceWarning

    X = np.random.default_rng(0).normal(size=(40, 2))
    for y in (X[:, 0] > 0, np.where(X[:, 0] > 0, "yes", "no"), np.where(X[:, 0] > 0, 2.0, -1.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = gpubp.MLPClassifier((3,), max_iter=2).fit(X, y)
        est.save(tmp_path / "m.safetensors")
        assert gpubp.load(tmp_path / "m.safetensors").classes_.tolist() == est.classes_.tolist()


# -- info and parity write to stdout like every other command ---------------------------------


@pytest.mark.parametrize(
    "args",
    [["info"], ["info", "--json"], ["parity", "--backends", "numpy,numpy", "--steps", "1", "--json"]],
    ids=["info", "info-json", "parity"],
)
def test_info_and_parity_to_a_full_or_closed_stdout_are_one_line_exit_2(capsys, monkeypatch, args):
    """``gpubp info > /dev/full`` used to end ``internal error: OSError: [Errno 28]``, exit 1."""
    with open("/dev/full", "w") as full:
        monkeypatch.setattr(sys, "stdout", full)
        code, _, err = call(args, capsys)
        monkeypatch.undo()
    assert_one_line_error(code, err, "standard output: cannot write (No space left on device)")
    monkeypatch.setattr(sys, "stdout", None)  # started with stdout closed (>&-)
    code, _, err = call(args, capsys)
    assert_one_line_error(code, err, "standard output: cannot write (it is closed)")


# -- integer labels are never wrapped round -----------------------------------------------------


@pytest.mark.parametrize("reader", [load_dataset, open_dataset], ids=["one process", "mpiexec"])
def test_uint64_labels_beyond_int64_are_refused_not_wrapped(tmp_path, reader):
    """``2**64 - 1`` as a uint64 label used to become the class -1 without a word (under mpiexec too, where
    each process reads its own rows through ``open_dataset``)."""
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.array([0, 2**64 - 1] * 10, dtype=np.uint64)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    with pytest.raises(GpubpError, match=r"d\.npz: y\[1\] is 18446744073709551615, beyond the largest integer label"):
        reader(str(tmp_path / "d.npz"))
    np.save(tmp_path / "d.npy", np.column_stack([X.astype(np.uint64), y]))
    with pytest.raises(GpubpError, match=r"d\.npy: \[1, 2\] \(row, column\) is 18446744073709551615"):
        reader(str(tmp_path / "d.npy"))
    np.savez(tmp_path / "ok.npz", X=X, y=np.array([0, 2**63 - 1] * 10, dtype=np.uint64))
    assert reader(str(tmp_path / "ok.npz")).y.tolist()[:2] == [0, 2**63 - 1]


# -- a signal while the command imports its modules ---------------------------------------------


def _signal_on_import(monkeypatch, signum):
    """Send ``signum`` here while the command's modules are being imported (the first second or two of a run)."""
    original = gpubp.cli._runner

    def runner(command):
        os.kill(os.getpid(), signum)
        return original(command)

    monkeypatch.setattr(gpubp.cli, "_runner", runner)


def test_a_signal_while_train_imports_says_nothing_was_saved(tmp_path, capsys, monkeypatch):
    _signal_on_import(monkeypatch, signal.SIGTERM)
    code, _, err = call(["train", "--data", "xor", "--out", "run"], capsys)
    assert code == 143
    assert err.splitlines() == ["gpubp: interrupted by SIGTERM before training started; nothing was saved"]
    assert os.listdir(tmp_path) == []


def test_a_signal_while_a_resume_imports_says_the_checkpoint_is_as_it_was(fitted, tmp_path, capsys, monkeypatch):
    """A real ``kill -TERM`` in the first seconds of ``--resume`` used to say only ``interrupted by SIGTERM``."""
    (tmp_path / "run").mkdir()
    before = (fitted / "checkpoint.safetensors").read_bytes()
    (tmp_path / "run" / "checkpoint.safetensors").write_bytes(before)
    _signal_on_import(monkeypatch, signal.SIGHUP)
    code, _, err = call(["train", "--resume", "run"], capsys)
    assert code == 129
    assert err.splitlines() == [
        "gpubp: interrupted by SIGHUP before training resumed; the checkpoint is as it was; "
        "resume with: gpubp train --resume run"
    ]
    assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == before


def test_a_signal_while_evaluate_imports_is_one_line(capsys, monkeypatch):
    _signal_on_import(monkeypatch, signal.SIGINT)
    code, out, err = call(["evaluate", "nothing.safetensors"], capsys)
    assert (code, out, err.splitlines()) == (130, "", ["gpubp: interrupted"])


# -- paths that are not files -------------------------------------------------------------------


def test_a_fifo_as_model_file_is_refused_at_once(fitted, tmp_path, capsys):
    """Opening a FIFO for reading waits for a writer: ``gpubp evaluate fifo`` and ``gpubp.load(fifo)`` hung forever."""
    import threading

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    outcome = {}

    def load():
        try:
            gpubp.load(fifo)
        except GpubpError as exc:
            outcome["error"] = str(exc)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # free the stuck thread before failing, or the test session hangs
        with open(fifo, "wb"):
            pass
        pytest.fail("gpubp.load waited on a FIFO")
    assert outcome["error"] == f"{fifo}: not a regular file, so not a model file"


def test_a_nul_character_in_a_path_is_the_library_error(fitted, tmp_path):
    """Python refuses such a path with a bare ValueError ('embedded null byte') from deep inside."""
    est = gpubp.load(fitted / "model.safetensors")
    with pytest.raises(GpubpError, match="not a file name \\(it holds a NUL character\\)"):
        gpubp.load(str(tmp_path / "a\0b.safetensors"))
    with pytest.raises(GpubpError, match="cannot write model file .*: not a file name"):
        est.save(str(tmp_path / "a\0b.safetensors"))
    assert os.listdir(tmp_path) == []


# -- a resumed run whose files are not what they should be ------------------------------------


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run folder of ``gpubp train`` stopped by Ctrl-C in its second epoch: a checkpoint, no model."""
    from gpubp.cli import stop as stop_module

    folder = tmp_path_factory.mktemp("interrupted") / "run"
    original, calls = stop_module.Stop.is_set, []

    def is_set(stop):
        calls.append(1)
        if len(calls) == 15:
            os.kill(os.getpid(), signal.SIGINT)
        return original(stop)

    args = ["train", "--data", "digits", "--hidden", "8", "--batch-size", "128", "--epochs", "3", "--quiet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stop_module.Stop, "is_set", is_set)
        assert gpubp.cli.main([*args, "--out", str(folder)]) == 130
    return folder


@pytest.fixture
def run(interrupted, tmp_path):
    import shutil

    shutil.copytree(interrupted, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("name", ["model.safetensors", "loss.png"])
def test_a_resumed_run_whose_output_is_a_folder_is_refused_before_training(run, capsys, name):
    """``--resume`` trained on, then failed to write the model over the folder and said 'the model is saved'."""
    (run / name).unlink(missing_ok=True)
    (run / name).mkdir()
    before = (run / "checkpoint.safetensors").read_bytes()
    code, _, err = call(["train", "--resume", "run", "--quiet"], capsys)
    where = os.path.join("run", name)
    assert_one_line_error(
        code, err, f"--resume run: {where} is a folder, where the run would", "checkpoint is as it was"
    )
    assert (run / "checkpoint.safetensors").read_bytes() == before
    assert not (run / ".gpubp.lock").exists()


def test_a_folder_in_the_models_place_is_never_called_the_saved_model(run):
    from gpubp.cli import train as train_module
    from gpubp.cli.runs import RunDir, RunLock

    (run / "model.safetensors").mkdir()
    record = {"dir": RunDir(str(run), None, RunLock(str(run / ".gpubp.lock"), None)), "saved": (1, False)}
    assert train_module._kept(record).startswith(f"the checkpoint of epoch 1 is kept in {run / 'checkpoint'}")
    stopped = train_module._stopped(record, gpubp.cli.stop.Interrupted(signal.SIGTERM))
    assert "checkpoint saved in" in stopped and "model was saved" not in stopped


# -- a signal after the command has ended ---------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_after_the_command_ended_does_not_kill_its_outcome(tmp_path, signum):
    """Once ``main`` has returned, the process only shuts down -- a second or so with torch loaded. A SIGTERM
    there killed a finished ``gpubp train`` silently (exit -15, the model saved, nothing said); the command's own
    exit code now stands. In-process callers of ``main(argv)`` keep their handlers (see the next test)."""
    import subprocess

    code = (
        "import os, signal, sys\n"
        "import gpubp.cli\n"
        "sys.argv = ['gpubp', 'train', '--data', 'xor', '--epochs', '2', '--quiet', '--out', 'run']\n"
        "code = gpubp.cli.main()\n"
        f"os.kill(os.getpid(), {int(signum)})\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, b"")
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_main_called_in_process_leaves_the_signal_handlers_as_they_were(capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    assert call(["info", "--json"], capsys)[0] == 0
    assert {s: signal.getsignal(s) for s in before} == before
