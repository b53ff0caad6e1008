"""Networks, heads and the reference predictions the export tests compare against.

The reference is gpubp's own pipeline, written out here in NumPy: standardise
in the model's dtype (as the estimators do), gpubp's forward pass, then the head
in the model's dtype (gpubp's sigmoid; softmax by hand; labels from the logits' signs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpubp.backend import backend_of, to_host
from gpubp.layers import Identity, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh, sigmoid
from gpubp.network import Sequential

#: activation name -> a new gpubp layer (every activation the exports support).
ACTIVATIONS = {
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "leaky_relu": lambda: LeakyReLU(0.1),
    "identity": Identity,
}

#: Relative tolerances of the issue: float32 and float64 models against gpubp's predictions.
RTOL = {"float32": 1e-5, "float64": 1e-12}


@dataclass(frozen=True)
class HeadCase:
    """A head with the network width it needs and the classes it is exported with."""

    id: str
    head: str
    n_outputs: int
    classes: Any = None


HEAD_CASES = [
    HeadCase("softmax-str", "softmax", 3, ["cat", "dog", "emu"]),
    HeadCase("softmax-int", "softmax", 4, [10, 20, 30, -5]),
    HeadCase("binary-int", "logistic", 1, [-1, 1]),
    HeadCase("binary-str", "logistic", 1, ["no", "yes"]),
    HeadCase("multilabel", "logistic", 3),
    HeadCase("identity-1", "identity", 1),
    HeadCase("identity-2", "identity", 2),
    HeadCase("exp-1", "exp", 1),
    HeadCase("exp-3", "exp", 3),
]


def network(
    activation: str, n_outputs: int, *, n_features: int = 5, dtype: str = "float32", seed: int = 0, backend: Any = None
) -> Sequential:
    """Linear -> act -> Linear -> act -> Linear with random weights and non-zero biases."""
    rng = np.random.default_rng(seed)
    sizes = [n_features, 7, 6, n_outputs]
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Linear(n_in, n_out, rng=rng, backend=backend, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    net = Sequential(*layers)
    state = {k: 0.3 * rng.normal(size=v.shape) if k.endswith("bias") else 2 * v for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    # centre the outputs on standard-normal inputs, so every class and label is predicted somewhere
    where = backend_of(layers[0].weight.data)
    out = to_host(net.forward(where.asarray(rng.normal(size=(400, n_features)), dtype=where.dtype(dtype))))
    state[f"{len(layers) - 1}.bias"] -= out.mean(axis=0)
    net.load_state_dict(state)
    return net


def features(n: int, n_features: int = 5, *, seed: int = 1, standardised: bool = False) -> tuple[Any, Any, Any]:
    """``X`` (float32-representable float64), and ``mean``, ``scale`` (None unless ``standardised``)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 3, size=n_features) if standardised else np.zeros(n_features)
    scale = rng.uniform(0.5, 4, size=n_features) if standardised else np.ones(n_features)
    X = (mean + scale * rng.normal(size=(n, n_features))).astype(np.float32).astype(np.float64)
    return X, (mean if standardised else None), (scale if standardised else None)


def gpubp_outputs(net: Sequential, X: Any, mean: Any, scale: Any, dtype: str, in_float64: bool = False) -> Any:
    """The network's raw outputs as gpubp computes them: standardisation in ``dtype`` (or float64), then forward."""
    wide = "float64" if in_float64 else dtype
    Z = X if mean is None else (X.astype(wide) - mean.astype(wide)) / scale.astype(wide)
    backend = backend_of(net.parameters()[0].data)
    return to_host(net.forward(backend.asarray(Z, dtype=backend.dtype(dtype))))


def gpubp_predict(
    net: Sequential, X: Any, case: HeadCase, mean: Any, scale: Any, dtype: str, in_float64: bool = False
) -> dict[str, Any]:
    """What predict / predict_proba give, keyed by the ONNX output names."""
    z = gpubp_outputs(net, X, mean, scale, dtype, in_float64)  # (n, k), dtype
    if case.head in ("identity", "exp"):
        value = z if case.head == "identity" else np.exp(z)
        return {"value": value[:, 0] if case.n_outputs == 1 else value}
    if case.head == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        classes = np.asarray(case.classes)
        return {"label": classes[np.argmax(z, axis=1)], "probabilities": e / e.sum(axis=1, keepdims=True)}
    p = sigmoid(z)
    if case.n_outputs > 1:
        return {"label": (z > 0).astype(np.int64), "probabilities": p}  # the logits' signs, as predict
    classes = np.asarray(case.classes)
    return {"label": classes[(z[:, 0] > 0).astype(np.int64)], "probabilities": np.concatenate([1 - p, p], axis=1)}


def assert_close(actual: Any, expected: Any, dtype: str) -> None:
    """Within the dtype's relative tolerance; near-zero elements relative to the output's largest magnitude."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def assert_same_labels(actual: Any, expected: Any) -> None:
    """Labels identical, with their kind (integers or strings) and shape."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    if expected.dtype.kind == "U":
        assert all(isinstance(a, str) for a in actual.tolist())
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.dtype == np.int64
        np.testing.assert_array_equal(actual, expected)
