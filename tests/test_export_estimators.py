"""Fitted estimators exported: ONNX graphs and PyTorch modules give what predict / predict_proba give.

The network-level exports are tested in test_export_onnx.py and test_export_torch.py;
here the estimators' heads, classes and standardisation reach them, and the
``gpubp export`` command.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import call
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp import MLPClassifier, MLPRegressor

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'gpubp[onnx]')")
from onnx.reference import ReferenceEvaluator  # noqa: E402

RTOL = {"float32": 1e-5, "float64": 1e-12}


def _data(kind, rng):
    X = rng.normal(3.0, 2.0, size=(60, 4))
    if kind == "strings":
        return X, np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 60)]
    if kind == "binary":
        return X, (X[:, 0] > 3).astype(int)
    if kind == "multilabel":
        return X, np.stack([X[:, 0] > 3, X[:, 1] > 3], axis=1).astype(int)
    if kind == "poisson":
        return X, rng.poisson(np.exp(0.2 * X[:, 0]))
    return X, X @ np.array([1.0, -1.0, 0.5, 2.0])


CASES = [
    ("strings", MLPClassifier, {"activation": "relu"}),
    ("binary", MLPClassifier, {"activation": "logistic"}),
    ("multilabel", MLPClassifier, {"activation": "tanh"}),
    ("values", MLPRegressor, {"activation": "identity"}),
    ("poisson", MLPRegressor, {"loss": "poisson", "activation": "leaky_relu"}),
]


def _fitted(kind, Est, settings, dtype, standardize=True):
    X, y = _data(kind, np.random.default_rng(0))
    est = Est(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype=dtype, standardize=standardize, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y), X


def _run(path, X, dtype):
    sessions = [ReferenceEvaluator(str(path))]
    try:
        import onnxruntime as ort

        sessions.append(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
    except ImportError:  # ReferenceEvaluator alone, where onnxruntime does not install
        pass
    feeds = {"X": X.astype(dtype)}
    return [dict(zip([o.name for o in onnx.load(str(path)).graph.output], s.run(None, feeds), strict=True))
            for s in sessions]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("kind", "Est", "settings"), CASES, ids=[c[0] for c in CASES])
def test_onnx_gives_what_predict_gives(tmp_path, kind, Est, settings, dtype):
    est, X = _fitted(kind, Est, settings, dtype)
    path = tmp_path / "m.onnx"
    est.to_onnx(path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    for outputs in _run(path, X, dtype):
        if Est is MLPClassifier:
            np.testing.assert_array_equal(outputs["label"], est.predict(X))
            np.testing.assert_allclose(outputs["probabilities"], est.predict_proba(X), rtol=RTOL[dtype], atol=1e-7)
        else:
            np.testing.assert_allclose(outputs["value"], est.predict(X), rtol=RTOL[dtype], atol=1e-6)


@pytest.mark.parametrize(("kind", "Est", "settings"), CASES, ids=[c[0] for c in CASES])
def test_torch_module_gives_the_network_outputs(kind, Est, settings):
    torch = pytest.importorskip("torch")
    est, X = _fitted(kind, Est, settings, "float64")
    module = est.to_torch()
    with torch.no_grad():
        out = module(torch.asarray(X)).numpy()
    if est.out_activation_ == "softmax":
        np.testing.assert_allclose(torch.softmax(torch.asarray(out), dim=1).numpy(), est.predict_proba(X), rtol=1e-9)
    elif est.out_activation_ == "exp":
        np.testing.assert_allclose(np.exp(out[:, 0]), est.predict(X), rtol=1e-9)
    elif est.out_activation_ == "identity":
        np.testing.assert_allclose(out[:, 0], est.predict(X), rtol=1e-9, atol=1e-12)
    back = gpubp.from_torch(module, backend="numpy")  # the standardisation folded in: exact up to rounding
    np.testing.assert_allclose(back.forward(X), out, rtol=1e-12, atol=1e-12)


def test_gpubp_export_command(tmp_path, capsys):
    assert call(["train", "--data", "xor", "--epochs", "3", "--out", str(tmp_path / "run"), "--quiet"], capsys)[0] == 0
    model = str(tmp_path / "run" / "model.safetensors")
    code, out, err = call(["export", model, "--format", "onnx", "--out", str(tmp_path / "m.onnx")], capsys)
    assert code == 0 and "input 'X'" in out, err
    est = gpubp.load(model)
    X = gpubp.load_dataset("xor").X
    for outputs in _run(tmp_path / "m.onnx", X, "float32"):
        np.testing.assert_array_equal(outputs["label"], est.predict(X))  # raw features in: standardised inside
    code, out, err = call(["export", model, "--format", "torch", "--out", str(tmp_path / "t.safetensors")], capsys)
    assert code == 0 and "torch.nn.Sequential(" in out and (tmp_path / "t.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "keras", "--out", "x"], "argument --format: invalid choice: 'keras'"),
        (["--format", "onnx", "--out", "no/such/folder/m.onnx"], "cannot write ONNX file no/such/folder/m.onnx"),
        (["--format", "torch", "--out", "m.pt", "--opset", "17"], "--opset: only for --format onnx"),
        (["--format", "onnx", "--out", "m.onnx", "--opset", "12"], "--opset 12: must be an integer from 13 to"),
        (["--format", "onnx", "--out", ""], "cannot write ONNX file: the path is empty (give a file name"),
        (["--format", "torch", "--out", ""], "cannot write PyTorch file: the path is empty (give a file name"),
    ],
)
def test_export_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert call(["train", "--data", "xor", "--epochs", "2", "--out", "run", "--quiet"], capsys)[0] == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = call(["export", "run/model.safetensors", *args], capsys)
    assert code == 2 and err.startswith("gpubp: error: ") and message in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_file_that_is_not_a_gpubp_model_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello\n")
    code, _, err = call(["export", str(tmp_path / "notes.txt"), "--format", "onnx", "--out", "m.onnx"], capsys)
    assert code == 2 and "not a safetensors file" in err
