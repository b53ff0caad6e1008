"""Exported estimators at the edges: label dtypes, logits at the decision boundary, saturated probabilities,
and the float32 standardisation, each compared with what predict / predict_proba give.

test_export_estimators.py checks ordinary models within the issue's tolerances; here
each test aims at one place where an export could part from gpubp: a classifier
trained on bool or float labels, a logit a hair above zero (the label follows the
logit's sign, as ``predict`` does, not a rounded probability), a probability of 1e-30
(relative accuracy, not just absolute), and a float32 model's standardisation
(computed in float32, as the estimator does).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from test_export_onnx import RUNTIMES, ReferenceEvaluator, onnx  # the same runtimes, skipped alike

from gpubp import MLPClassifier, MLPRegressor

RTOL = {"float32": 1e-5, "float64": 1e-12}


def _run(path, runtime, X):
    """The graph's outputs by name."""
    if runtime == "reference":
        session = ReferenceEvaluator(str(path))
        names = [o.name for o in onnx.load(str(path)).graph.output]
        return dict(zip(names, session.run(None, {"X": X}), strict=True))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": X}), strict=True))


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _torch_lines(est, path, X):
    """What the lines ``save_torch`` returns compute for ``X``."""
    torch = pytest.importorskip("torch")
    scope = {"X": torch.asarray(X)}
    exec(est.save_torch(path), scope)
    return scope


LABELS = {
    "bool": lambda s: s > 0,
    "float": lambda s: (s > 0).astype(np.float64),
    "float-3": lambda s: np.digitize(s, [-0.5, 0.5]).astype(np.float32) * 2 - 1,  # -1.0, 1.0, 3.0 as float32
    "int32-3": lambda s: np.digitize(s, [-0.5, 0.5]).astype(np.int32) - 7,
    "uint8": lambda s: (s > 0).astype(np.uint8) + 3,
    "object-str": lambda s: np.array(["no", "yes"], dtype=object)[(s > 0).astype(int)],
}
#: numpy kind of classes_ -> the dtype the graph's label has.
GRAPH_LABEL = {"b": np.bool_, "f": None, "i": np.int64, "u": np.int64, "O": object, "U": object}  # text: ONNX strings


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("kind", list(LABELS))
def test_labels_of_every_dtype_come_out_of_the_graph(tmp_path, runtime, kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    est = _fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0), X, LABELS[kind](X[:, 0]))
    est.to_onnx(tmp_path / "m.onnx")
    got = _run(tmp_path / "m.onnx", runtime, X.astype("float32"))["label"]
    want = est.predict(X)
    assert got.shape == want.shape and got.tolist() == want.tolist()
    kind_of = want.dtype.kind
    assert got.dtype == (want.dtype if kind_of == "f" else GRAPH_LABEL[kind_of])  # floats keep their width
    torch_label = np.asarray(_torch_lines(est, tmp_path / "t.safetensors", X.astype("float32"))["label"])
    assert torch_label.tolist() == want.tolist()


def _boundary_classifier(n_outputs, dtype, logit):
    """A classifier whose logits are all ``logit`` (zero weights into the output layer)."""
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, :n_outputs] > 0).astype(int) if n_outputs > 1 else (X[:, 0] > 0).astype(int)
    est = _fit(MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0, dtype=dtype), X, y)
    last = est._net.layers[-1]
    xp = est._backend.xp
    last.weight.data = xp.zeros_like(last.weight.data)
    last.bias.data = xp.full_like(last.bias.data, logit)
    return est, X.astype(dtype)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("n_outputs", [1, 2], ids=["binary", "multilabel"])
@pytest.mark.parametrize(("dtype", "logit"), [("float32", 1e-9), ("float64", 1e-18)])
def test_a_logit_just_above_zero_gives_the_label_predict_gives(tmp_path, runtime, n_outputs, dtype, logit):
    est, X = _boundary_classifier(n_outputs, dtype, logit)
    want = est.predict(X)
    assert np.all(want == (1 if n_outputs == 1 else [1, 1]))  # the logit is positive: the positive class
    est.to_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(_run(tmp_path / "m.onnx", runtime, X)["label"], want)
    np.testing.assert_array_equal(np.asarray(_torch_lines(est, tmp_path / "t.safetensors", X)["label"]), want)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("n_outputs", [1, 2], ids=["binary", "multilabel"])
@pytest.mark.parametrize(("dtype", "logit"), [("float32", -20.0), ("float32", -80.0), ("float64", -30.0),
                                              ("float64", -700.0)])  # fmt: skip
def test_a_saturated_probability_is_relatively_accurate(tmp_path, runtime, n_outputs, dtype, logit):
    est, X = _boundary_classifier(n_outputs, dtype, logit)
    p = est.predict_proba(X)[:, -1]  # P(positive), about exp(logit): tiny but not zero
    assert np.all(p > 0)
    est.to_onnx(tmp_path / "m.onnx")
    got = _run(tmp_path / "m.onnx", runtime, X)["probabilities"][:, -1]
    np.testing.assert_allclose(got, p, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_float32_model_standardises_as_the_estimator_does(tmp_path, runtime):
    rng = np.random.default_rng(1)
    X = rng.normal(0.3, 2.7, size=(2000, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    est = MLPRegressor(hidden_layer_sizes=(6,), activation="identity", solver="lbfgs", max_iter=30, random_state=0,
                       dtype="float32", standardize=True)  # fmt: skip
    _fit(est, X, y)
    X32 = X.astype("float32")
    est.to_onnx(tmp_path / "m.onnx")
    got = _run(tmp_path / "m.onnx", runtime, X32)["value"]
    if runtime == "reference":  # NumPy's own matmul on the same standardised inputs: the same bits
        np.testing.assert_array_equal(got, est.predict(X32))
    else:
        np.testing.assert_allclose(got, est.predict(X32), rtol=RTOL["float32"], atol=1e-6)
