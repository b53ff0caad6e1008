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

import gpubp
import gpubp.commands
from gpubp.backend import cupy_status
from gpubp.cli import main
from gpubp.datasets import load_dataset

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


def call(args: list[str], capsys) -> tuple[int, str, str]:
    """``gpubp.cli.main(args)`` in-process: (exit code, stdout, stderr); argparse's exits become codes."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpubp: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


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
    assert summary["test"]["r2"] > 0.5 and summary["test"]["mse"] == summary["test"]["loss"]


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
    (["--val-fraction", "0.5", "--test-fraction", "0.5"], "together they must be below 1"),
    (["--backend", "array_api_strict", "--device", "no_float64", "--dtype", "float64"], "no float64"),
    (["--backend", "array_api_strict", "--device", "device9"], "--device device9"),
    (["--data", "digits", "--loss", "bce"], "bce needs exactly 2 classes"),  # found after the run folder is made
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
    bad = ["train", "--data", "digits", "--loss", "bce", "--quiet"]  # refused inside fit, after _make_run_dir
    for out, left in ([], []), (["--out", "a/b/run"], []), ([], ["runs"]):
        if left:
            (tmp_path / "runs" / "other").mkdir(parents=True)  # another run's folder is never touched
        code, _, err = call([*bad, *out], capsys)
        assert_one_line_error(code, err, "bce needs exactly 2 classes")
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
    assert proc.stderr.startswith("gpubp: error: --hidden") and proc.stderr.count("\n") == 1
    proc = run(["evaluate"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "gpubp: error:" in proc.stderr
    assert os.listdir(tmp_path) == []


# -- internal errors ---------------------------------------------------------------


def test_an_internal_error_is_one_line_pointing_at_debug(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something broke\ninside")

    monkeypatch.setitem(gpubp.commands.COMMANDS, "info", broken)
    code, out, err = call(["info"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "gpubp: internal error: RuntimeError: something broke inside (rerun with --debug for the traceback)"
    ]
    code, _, err = call(["--debug", "info"], capsys)
    assert code == 1
    assert "Traceback" in err and "RuntimeError: something broke" in err
