"""The ``gpubp`` command: train / evaluate / predict / info, exit codes, and one-line errors.

A few runs go through a real subprocess (``python -m gpubp``) to check what a
user sees; the bad-input matrix calls :func:`gpubp.cli.main` in-process, which
is faster and runs under pytest's warnings-as-errors.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
from conftest import assert_one_line_error, call

import gpubp
import gpubp.cli
from gpubp.backend import cupy_status
from gpubp.data import load_dataset
from gpubp.io import load_model_file

CUPY_OK, CUPY_REASON = cupy_status()


def run(args: list[str], cwd) -> subprocess.CompletedProcess:
    """``python -W error -m gpubp ARGS`` in ``cwd``, with no GPUBP_BACKEND from the outside."""
    env = {k: v for k, v in os.environ.items() if k != "GPUBP_BACKEND"}
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "gpubp", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Every test runs in its own empty folder, on whatever backend it names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GPUBP_BACKEND", raising=False)


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    """One real ``gpubp train --data xor --json`` run: (completed process, summary, run folder)."""
    cwd = tmp_path_factory.mktemp("xor")
    proc = run(["train", "--data", "xor", "--epochs", "30", "--out", "run", "--json", "--backend", "numpy"], cwd)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout), cwd / "run"


# -- train ---------------------------------------------------------------------------


def test_train_json_prints_one_object_and_writes_the_run_folder(xor_run):
    proc, summary, run_dir = xor_run
    assert proc.stdout.count("\n") == 1 and proc.stdout.endswith("}\n")  # exactly one JSON object
    for key in ("backend", "device", "epochs_run", "seconds", "model_path", "test"):
        assert key in summary, key
    assert summary["backend"] == "numpy" and summary["device"] == "cpu"
    assert 0.9 <= summary["test"]["accuracy"] <= 1.0
    assert summary["seconds"] >= 0 and 1 <= summary["epochs_run"] <= 30
    assert summary["run_dir"] == "run" and summary["model_path"] == os.path.join("run", "model.safetensors")
    assert sorted(os.listdir(run_dir)) == ["loss.png", "metrics.jsonl", "model.safetensors"]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, summary["epochs_run"] + 1))
    assert (run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in proc.stderr


def test_train_regression_reports_mse_and_r2(capsys):
    args = ["--data", "sine", "--epochs", "40", "--hidden", "32,32", "--lr", "0.01", "--out", "run", "--json"]
    code, out, _ = call(["train", *args, "--backend", "numpy"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["task"] == "regress"
    assert set(summary["test"]) == {"mse", "r2", "loss"}
    # loss is scikit-learn's squared_error: half the mean squared error
    assert summary["test"]["r2"] > 0.5 and summary["test"]["loss"] == pytest.approx(summary["test"]["mse"] / 2)


def test_metrics_log_has_every_epoch_when_training_converges(capsys, tmp_path):
    code, out, _ = call(["train", "--data", "sine", "--patience", "3", "--out", "run", "--json", "--quiet"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["stopped"] == "converged"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == summary["epochs_run"]


def test_backend_auto_says_why_it_uses_numpy(capsys):
    if CUPY_OK:
        pytest.skip("cupy is usable here, so auto picks it")
    code, out, _ = call(["train", "--data", "xor", "--epochs", "1", "--backend", "auto", "--out", "run"], capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("using numpy on cpu (cupy unavailable: ")


def test_backend_cupy_without_a_gpu_is_a_one_line_error(capsys, tmp_path):
    if CUPY_OK:
        pytest.skip("cupy is usable here")
    code, _, err = call(["train", "--data", "xor", "--backend", "cupy", "--out", "run"], capsys)
    assert_one_line_error(code, err, "cupy")
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_bare_gpubp_trains_digits_into_a_timestamped_run_folder(tmp_path):
    proc = run(["--epochs", "3", "--backend", "numpy"], tmp_path)  # `gpubp --epochs 3` is `gpubp train --epochs 3`
    assert proc.returncode == 0, proc.stderr
    (folder,) = os.listdir(tmp_path / "runs")
    assert re.fullmatch(r"\d{8}-\d{6}", folder)
    assert sorted(os.listdir(tmp_path / "runs" / folder)) == ["loss.png", "metrics.jsonl", "model.safetensors"]
    assert "digits (1797 samples, 64 features, 10 classes)" in proc.stdout
    assert f"model: {os.path.join('runs', folder, 'model.safetensors')}" in proc.stdout


def test_divergence_exits_3_and_keeps_no_empty_run(capsys, tmp_path):
    code, _, err = call(["train", "--data", "sine", "--optimizer", "sgd", "--lr", "1e6", "--out", "run"], capsys)
    assert code == 3
    assert len(err.splitlines()) == 1 and err.startswith("gpubp: error: training diverged")
    assert not (tmp_path / "run").exists()


# -- evaluate and predict ----------------------------------------------------------


def test_evaluate_reproduces_the_test_metrics(xor_run, capsys):
    _, summary, run_dir = xor_run
    model = str(run_dir / "model.safetensors")
    code, out, _ = call(["evaluate", model, "--json"], capsys)
    assert code == 0
    assert json.loads(out) == summary["test"]  # exactly, from the split recorded in the model
    for backend in ("torch", "array_api_strict"):
        pytest.importorskip(backend)
        code, out, _ = call(["evaluate", model, "--json", "--backend", backend], capsys)
        assert code == 0, backend
        assert json.loads(out)["accuracy"] == summary["test"]["accuracy"], backend


def _read_csv(path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_predict_writes_one_row_per_sample(xor_run, capsys, tmp_path):
    _, _, run_dir = xor_run
    model = str(run_dir / "model.safetensors")
    code, out, _ = call(["predict", model, "--data", "xor", "--out", "preds.csv"], capsys)
    assert code == 0 and out == ""
    rows = _read_csv(tmp_path / "preds.csv")
    X = load_dataset("xor").X
    assert rows[0] == ["prediction", "p_0", "p_1"]
    assert len(rows) == len(X) + 1
    proba = np.array([[float(p) for p in row[1:]] for row in rows[1:]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    expected = gpubp.load(model, backend="numpy").predict(X)
    assert [int(row[0]) for row in rows[1:]] == expected.tolist()

    # A CSV of only the feature columns works too, and gives the same predictions.
    features = tmp_path / "features.csv"
    features.write_text("x1,x2\n" + "".join(f"{a!r},{b!r}\n" for a, b in X.tolist()))
    code, out, _ = call(["predict", model, "--data", str(features)], capsys)
    assert code == 0
    assert list(csv.reader(out.splitlines())) == rows


def test_predict_regression_has_one_value_column(capsys, tmp_path):
    assert call(["train", "--data", "sine", "--epochs", "2", "--out", "run", "--quiet"], capsys)[0] == 0
    code, out, _ = call(["predict", "run/model.safetensors", "--data", "sine"], capsys)
    assert code == 0
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction"] and len(rows) == 501
    assert all(np.isfinite(float(row[0])) for row in rows[1:])


# -- info ----------------------------------------------------------------------------


def test_info_json_lists_every_backend(capsys):
    code, out, _ = call(["info", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    entries = {entry["name"]: entry for entry in report["backends"]}
    assert {"numpy", "torch", "array_api_strict", "cupy"} <= set(entries)
    assert all(isinstance(entry["available"], bool) for entry in entries.values())
    assert entries["numpy"]["available"] and entries["array_api_strict"]["available"]
    assert {"device1", "no_float64"} <= {d["name"] for d in entries["array_api_strict"]["devices"]}
    assert entries["cupy"]["available"] == CUPY_OK
    if not CUPY_OK:
        assert entries["cupy"]["reason"] and entries["cupy"]["reason"] in CUPY_REASON


# -- bad input: exit 2, one line, nothing left behind --------------------------------


@pytest.fixture
def files(tmp_path, xor_run):
    """Bad (and good) input files in the test's folder."""
    rows = "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40))
    (tmp_path / "good.csv").write_text("a,b,label\n" + rows)
    (tmp_path / "adir.csv").mkdir()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,label\n")
    (tmp_path / "text.csv").write_text("a,b,label\n1,2,0\n3,x,1\n" + rows)
    (tmp_path / "ragged.csv").write_text("a,b,label\n1,2,0\n3,4\n" + rows)
    (tmp_path / "nan.csv").write_text("a,b,label\n1,2,0\n3,nan,1\n" + rows)
    (tmp_path / "one_class.csv").write_text("a,b,label\n" + "".join(f"{i},{i},0\n" for i in range(40)))
    (tmp_path / "tiny.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    (tmp_path / "afile").write_text("not a folder\n")
    model = (xor_run[2] / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(model)
    (tmp_path / "truncated.safetensors").write_bytes(model[: len(model) // 2])
    safetensors.numpy.save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "other.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"this is not a model file at all\n" * 4)
    return tmp_path


TRAIN_ERRORS = [
    (["--data", "missing.csv"], "missing.csv: no such file"),
    (["--data", "adir.csv"], "adir.csv: is a directory"),
    (["--data", "empty.csv"], "empty.csv: the file is empty"),
    (["--data", "header.csv"], "header.csv: no data rows"),
    (["--data", "text.csv"], "text.csv: row 3, column 'b': 'x' is not a number"),
    (["--data", "ragged.csv"], "ragged.csv: row 3 has 2 columns, expected 3"),
    (["--data", "nan.csv"], "nan.csv: row 3, column 'b': 'nan' is not a finite number"),
    (["--data", "good.csv", "--target", "nope"], "--target nope"),
    (["--data", "one_class.csv"], "single class"),
    (["--data", "tiny.csv"], "too few samples"),
    (["--data", "nowhere"], "unknown data source 'nowhere'"),
    (["--lr", "0"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "fast"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "abc"], "--epochs"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "abc"], "--hidden"),
    (["--hidden", ""], "--hidden"),
    (["--activation", "foo"], "--activation"),
    (["--loss", "foo"], "--loss"),
    (["--optimizer", "foo"], "--optimizer"),
    (["--backend", "foo"], "--backend"),
    (["--dtype", "float16"], "--dtype"),
    (["--val-fraction", "1"], "--val-fraction"),
    (["--test-fraction", "-0.5"], "--test-fraction"),
    (["--test-fraction", "1"], "--test-fraction"),
    (["--backend", "array_api_strict", "--device", "no_float64", "--dtype", "float64"], "no float64"),
    (["--backend", "array_api_strict", "--device", "device9"], "--device device9"),
    (["--data", "digits", "--loss", "bce"], "bce needs exactly 2 classes"),
    (["--data", "xor", "--loss", "mse"], "mse needs a regression task"),
    (["--data", "xor", "--hidden", "100000000000"], "--hidden 100000000000: not enough memory"),
    (["--data", "sine", "--loss", "ce"], "regression uses mse"),
    (["--data", "xor", "--task", "regress", "--loss", "bce"], "needs a classification task"),
]


@pytest.mark.parametrize(("args", "message"), TRAIN_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_train_input_is_one_line_and_leaves_nothing(files, capsys, args, message):
    before = sorted(os.listdir(files))
    code, _, err = call(["train", "--data", "xor", "--epochs", "2", "--out", "run", *args], capsys)
    assert_one_line_error(code, err, message)
    assert sorted(os.listdir(files)) == before  # no run folder, no runs/, nothing else


def test_an_error_after_the_run_folder_is_made_removes_every_folder_it_made(capsys, tmp_path):
    bad = ["train", "--data", "digits", "--hidden", "100000000000", "--quiet"]  # refused in fit, after the folder
    for out, left in ([], []), (["--out", "a/b/run"], []), ([], ["runs"]):
        if left:
            (tmp_path / "runs" / "other").mkdir(parents=True)  # another run's folder is never touched
        code, _, err = call([*bad, *out], capsys)
        assert_one_line_error(code, err, "not enough memory")
        assert os.listdir(tmp_path) == left  # no runs/ (when it was not there), no a/b/
    assert os.listdir(tmp_path / "runs") == ["other"]


def test_out_pointing_at_a_file_is_refused(files, capsys):
    code, _, err = call(["train", "--data", "xor", "--out", "afile"], capsys)
    assert_one_line_error(code, err, "--out afile", "not a folder")
    assert (files / "afile").read_text() == "not a folder\n"
    code, _, err = call(["train", "--data", "xor", "--out", "afile/run"], capsys)
    assert_one_line_error(code, err, "--out afile/run")
    assert not (files / "runs").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "truncated.safetensors"], "truncated"),
        (["evaluate", "other.safetensors"], "not a gpubp model"),
        (["evaluate", "junk.safetensors"], "not a safetensors file"),
        (["evaluate", "missing.safetensors"], "no such model file"),
        (["evaluate", "adir.csv"], "is a folder"),
        (["evaluate", "model.safetensors", "--backend", "foo"], "--backend"),
        (["evaluate", "model.safetensors", "--data", "digits"], "--split test"),
        (["evaluate", "model.safetensors", "--data", "digits", "--split", "all"], "64 features"),
        (["predict", "truncated.safetensors", "--data", "xor", "--out", "preds.csv"], "truncated"),
        (["predict", "other.safetensors", "--data", "xor", "--out", "preds.csv"], "not a gpubp model"),
        (["predict", "junk.safetensors", "--data", "xor", "--out", "preds.csv"], "not a safetensors file"),
        (["predict", "model.safetensors", "--data", "digits", "--out", "preds.csv"], "has 64 feature columns"),
        (["predict", "model.safetensors", "--data", "ragged.csv", "--out", "preds.csv"], "ragged.csv: row 3"),
        (["predict", "model.safetensors", "--data", "xor", "--out", "afile/p.csv"], "--out afile/p.csv: cannot write"),
        (["predict", "model.safetensors"], "--data"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_model_or_data_for_evaluate_and_predict(files, capsys, args, message):
    before = sorted(os.listdir(files))
    code, out, err = call(args, capsys)
    assert_one_line_error(code, err, message)
    assert out == ""
    assert sorted(os.listdir(files)) == before  # in particular no preds.csv


def test_argument_errors_through_a_real_process(tmp_path):
    proc = run(["train", "--hidden", "abc", "--out", "run"], tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("gpubp: error: argument --hidden: ") and proc.stderr.count("\n") == 1
    proc = run(["evaluate"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "gpubp: error:" in proc.stderr
    assert os.listdir(tmp_path) == []


# -- internal errors ---------------------------------------------------------------


def test_an_internal_error_is_one_line_pointing_at_debug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something broke\ninside")

    monkeypatch.setitem(gpubp.cli._RUNNERS, "info", ("tools", "no_such_function"))
    monkeypatch.setattr(gpubp.cli, "_runner", lambda command: broken)
    code, out, err = call(["info"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "gpubp: internal error: RuntimeError: something broke inside (rerun with --debug for the traceback)"
    ]
    code, _, err = call(["--debug", "info"], capsys)
    assert code == 1
    assert "Traceback" in err and "RuntimeError: something broke" in err


# -- found by feeding the command messy input (each test names what used to go wrong) --------------


def _crafted_model(src, dst, edit=None, tensors=None) -> str:
    """A copy of the model file ``src`` at ``dst``, its gpubp metadata passed through ``edit``."""
    from safetensors import safe_open

    with safe_open(str(src), "np") as f:
        header, weights = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta = json.loads(header["gpubp"])
    if edit:
        edit(meta)
    safetensors.numpy.save_file(
        tensors(weights) if tensors else weights, str(dst), {**header, "gpubp": json.dumps(meta)}
    )
    return str(dst)


def test_a_fifo_as_data_is_refused_not_read_forever(files, capsys):
    os.mkfifo(files / "pipe.csv")  # reading it would block until a writer came: the command hung
    before = sorted(os.listdir(files))
    for args in (
        ["train", "--data", "pipe.csv", "--out", "run"],
        ["predict", "model.safetensors", "--data", "pipe.csv"],
    ):
        code, _, err = call(args, capsys)
        assert_one_line_error(code, err, "pipe.csv: not a regular file")
    assert sorted(os.listdir(files)) == before


def test_a_symlink_loop_is_not_called_a_missing_file(files, capsys):
    os.symlink("b.csv", files / "a.csv")
    os.symlink("a.csv", files / "b.csv")
    code, _, err = call(["train", "--data", "a.csv", "--out", "run"], capsys)
    assert_one_line_error(code, err, "a.csv: a symbolic link that leads nowhere")


def test_predict_takes_csv_columns_by_name(files, capsys):
    """Columns used to be taken by position: a reordered file gave other predictions, and a file missing a
    feature but holding the target column fed the target to the model as a feature."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    rows = lambda cols, data: ",".join(cols) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in data)  # noqa: E731
    (files / "abc.csv").write_text(rows(["a", "b", "c", "label"], np.column_stack([X, y]).tolist()))
    (files / "cab.csv").write_text(rows(["c", "label", "a", "b"], np.column_stack([X[:, 2], y, X[:, :2]]).tolist()))
    (files / "ab.csv").write_text(rows(["a", "b", "label"], np.column_stack([X[:, :2], y]).tolist()))
    assert call(["train", "--data", "abc.csv", "--epochs", "3", "--out", "csvrun", "--quiet"], capsys)[0] == 0
    model = "csvrun/model.safetensors"
    _, expected, _ = call(["predict", model, "--data", "abc.csv"], capsys)
    code, out, _ = call(["predict", model, "--data", "cab.csv"], capsys)
    assert code == 0 and out == expected
    code, out, _ = call(["evaluate", model, "--data", "cab.csv", "--split", "all", "--json"], capsys)
    assert code == 0
    assert out == call(["evaluate", model, "--data", "abc.csv", "--split", "all", "--json"], capsys)[1]
    code, out, err = call(["predict", model, "--data", "ab.csv", "--out", "p.csv"], capsys)
    assert_one_line_error(code, err, "ab.csv: no column 'c'", "trained on the columns a, b, c")
    assert not (files / "p.csv").exists()


def test_predict_writes_through_a_pipe_and_never_over_the_data_file(files, capsys):
    """--out /dev/full (or /dev/stdout, a FIFO) used to be replaced by a regular file: the atomic rename, run as
    root, swapped the device node out of /dev. A FIFO here stands in for the device, harmlessly."""
    import stat

    os.mkfifo(files / "pipe.csv")
    reader = os.open(files / "pipe.csv", os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer's open succeeds
    try:
        code, out, err = call(["predict", "model.safetensors", "--data", "xor", "--out", "pipe.csv"], capsys)
        assert code == 0 and out == "", err
        assert stat.S_ISFIFO(os.stat(files / "pipe.csv").st_mode)  # still the pipe
        assert os.read(reader, 1 << 16).decode().startswith("prediction,p_0,p_1\n")
    finally:
        os.close(reader)
    data = (files / "good.csv").read_text()
    code, _, err = call(["predict", "model.safetensors", "--data", "good.csv", "--out", "good.csv"], capsys)
    assert_one_line_error(code, err, "--out good.csv: is the --data file")
    assert (files / "good.csv").read_text() == data


def test_predict_on_an_npz_file_needs_no_y(files, capsys):
    np.savez(files / "only_x.npz", X=load_dataset("xor").X[:5])
    code, out, _ = call(["predict", "model.safetensors", "--data", "only_x.npz"], capsys)
    assert code == 0 and len(out.splitlines()) == 6


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m.update(architecture={"layers": "x"}),
            "model metadata is invalid (the network description must be a dict with a 'layers' list)",
        ),  # was exit 1
        (lambda m: m.update(data="xor"), "'data' does not describe a data source"),  # was exit 1
        (lambda m: m["data"].update(source=123), "'data' does not describe a data source"),  # was exit 1
        (lambda m: m["data"]["split"].update(test=[99999]), "row 99999 is past the 400 rows"),  # was IndexError
        (lambda m: m["fitted"].update(classes_=[0]), "model metadata is invalid (1 classes do not fit 1 outputs)"),
        (
            lambda m: m["params"].update(hidden_layer_sizes=[-3]),
            "crafted.safetensors: model metadata is invalid (hidden_layer_sizes=(-3,): must be positive integers",
        ),
    ],
    ids=["architecture", "data", "source", "split", "classes", "hidden"],
)
def test_invalid_model_metadata_is_one_line_exit_2(files, capsys, edit, message):
    _crafted_model(files / "model.safetensors", files / "crafted.safetensors", edit)
    code, _, err = call(["evaluate", "crafted.safetensors"], capsys)
    assert_one_line_error(code, err, message)


def test_nan_weights_are_refused_at_load(files, capsys):
    nan = lambda w: {k: np.full_like(v, np.nan) for k, v in w.items()}  # noqa: E731 - evaluate printed "loss nan"
    _crafted_model(files / "model.safetensors", files / "nan.safetensors", tensors=nan)
    code, _, err = call(["evaluate", "nan.safetensors"], capsys)
    assert_one_line_error(code, err, "holds NaN or infinite weights")


def test_evaluate_names_the_model_not_flags_the_user_never_gave(files, capsys):
    code, _, err = call(["evaluate", "model.safetensors", "--data", "sine", "--split", "all"], capsys)
    assert_one_line_error(code, err, "model.safetensors is a classification model: sine: sample 0")
    assert "--task" not in err
    # A model trained on xor took its target name 'xor' as a column of any CSV file: "--target xor: no such column".
    code, out, err = call(["evaluate", "model.safetensors", "--data", "good.csv", "--split", "all"], capsys)
    assert code == 0 and out.startswith("all: accuracy"), err


def test_evaluate_says_the_recorded_data_is_missing(files, capsys, tmp_path):
    csv_rows = "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40))
    (files / "train.csv").write_text("a,b,label\n" + csv_rows)
    assert call(["train", "--data", "train.csv", "--epochs", "2", "--out", "r", "--quiet"], capsys)[0] == 0
    os.remove(files / "train.csv")
    code, _, err = call(["evaluate", "r/model.safetensors"], capsys)
    assert_one_line_error(code, err, "r/model.safetensors: was trained on train.csv, which is not there", "--data")


def test_flag_value_errors_name_the_flag_once(capsys):
    code, _, err = call(["train", "--lr", "1e-3x"], capsys)
    assert_one_line_error(code, err, "argument --lr: not a number: '1e-3x'")
    assert err.count("--lr") == 1
    code, _, err = call(["train", "--epochs", "1e9"], capsys)
    assert_one_line_error(code, err, "not an integer: '1e9', write it out: 1000000000")


def test_a_global_position_for_a_command_flag_is_explained(capsys):
    code, _, err = call(["--json", "train"], capsys)  # was "unrecognized arguments: train"
    assert_one_line_error(code, err, "--json before 'train': options go after the command")


def test_resume_compares_every_given_flag_with_the_run(capsys, tmp_path):
    """A flag given with --resume is compared with the run's setting, even when it equals the default."""
    interrupted = tmp_path / "run"
    assert call(["train", "--data", "xor", "--hidden", "32,32", "--epochs", "3", "--out", "run", "--quiet"],
                capsys)[0] == 0  # fmt: skip
    tensors, meta = load_model_file(interrupted / "model.safetensors")
    (interrupted / "model.safetensors").rename(interrupted / "checkpoint.safetensors")  # a stand-in checkpoint
    code, _, err = call(["train", "--resume", "run", "--epochs", "500", "--lr", "0.1"], capsys)
    assert_one_line_error(code, err, "--resume run: --lr, --epochs cannot be changed when resuming")
    code, _, err = call(["train", "--resume", "run", "--hidden", "128,64"], capsys)  # the default, not this run's
    assert_one_line_error(
        code, err, "--hidden cannot be changed when resuming (the run was started with --hidden 32,32"
    )
    code, _, err = call(["train", "--resume", "run", "--out", "elsewhere"], capsys)
    assert_one_line_error(code, err, "--out elsewhere: a resumed run stays in its folder")


def test_a_full_stdout_is_one_line_exit_2(files, capsys, monkeypatch):
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stdout", Full())
    code, _, err = call(["predict", "model.safetensors", "--data", "xor"], capsys)
    assert_one_line_error(code, err, "standard output: cannot write (No space left on device)")


# -- the same through the Python API (gpubp.Model, gpubp.load) ------------------------------------


def test_api_inputs_that_used_to_escape_as_other_exceptions(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = lambda *a, **kw: gpubp.MLPClassifier(*a, backend="numpy", max_iter=2, **kw)  # noqa: E731
    with pytest.raises(gpubp.GpubpError, match="not fitted yet"):
        model().save(tmp_path / "m.safetensors")
    with pytest.raises(gpubp.GpubpError, match="inhomogeneous"):
        model().fit([[1, 2], [3]], [0, 1])  # NumPy's ValueError, as gpubp's own error
    with pytest.raises(gpubp.ParameterError, match="hidden_layer_sizes='128,64': must be positive integers"):
        model(hidden_layer_sizes="128,64").fit(X, y)
    with pytest.raises(gpubp.ParameterError, match="backend=42"):
        gpubp.MLPClassifier(backend=42).fit(X, y)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model(16).fit(X, y).coefs_[0].shape == (3, 16)  # an int is one hidden layer
        mixed = np.array([1, "a"] * 20, dtype=object)  # labels of two types
        with pytest.raises(gpubp.GpubpError, match="Unknown label type"):
            model().fit(X, mixed)
        assert model().fit(X > 0, y).n_iter_ == 2  # bool features, as an .npz file may hold
        trained = model().fit(X, y)
    with pytest.raises(gpubp.GpubpError, match="Unknown label type"):
        model().fit(X, np.full(40, 0.5))
    with pytest.raises(gpubp.GpubpError, match="0 sample"):
        trained.predict(np.zeros((0, 3)))  # scikit-learn refuses empty input too
    with pytest.raises(gpubp.GpubpError, match="it is a folder"):
        trained.save(tmp_path)  # was "Device or resource busy"


def test_load_refuses_text_and_images_by_name(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,0\n")
    with pytest.raises(gpubp.GpubpError, match="it is text, starting 'a,b,label'"):
        gpubp.load(tmp_path / "data.csv")  # was "header too large"
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(gpubp.GpubpError, match="it is a PNG image"):
        gpubp.load(tmp_path / "x.png")


def test_json_mode_keeps_stderr_to_the_error_line(capsys, tmp_path):
    """With --json the "using ..." and "data: ..." lines go to stderr: bad input used to give three lines there."""
    for args in (["--data", "missing.csv"], ["--data", "digits", "--loss", "bce"]):
        code, out, err = call(["train", "--json", "--out", "run", *args], capsys)
        assert_one_line_error(code, err)
        assert out == "" and not (tmp_path / "run").exists()
    code, out, err = call(["train", "--json", "--data", "xor", "--epochs", "1", "--out", "run"], capsys)
    assert code == 0 and json.loads(out)["epochs_run"] == 1
    assert err.splitlines()[0].startswith("using ")  # said once training ran


def test_out_that_already_holds_a_run_is_refused(xor_run, capsys):
    run_dir = xor_run[2]
    before = sorted(os.listdir(run_dir))
    code, out, err = call(["train", "--data", "xor", "--epochs", "2", "--out", str(run_dir)], capsys)
    assert_one_line_error(code, err, "already holds a run", "model.safetensors")
    assert sorted(os.listdir(run_dir)) == before


def test_abbreviated_flags_are_not_guessed(capsys):
    code, out, err = call(["train", "--epoch", "3"], capsys)
    assert_one_line_error(code, err, "--epoch")
