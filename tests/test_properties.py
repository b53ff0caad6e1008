"""Property-based tests of the layers and losses: random shapes, dtypes and values, extremes included.

For any finite input the outputs and gradients stay finite where the math
allows it, stay in their ranges, and (in float64, at moderate magnitudes)
match central finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gpubp
from gpubp import BCEWithLogitsLoss, CrossEntropyLoss, LeakyReLU, MSELoss, ReLU, Sigmoid, Tanh, gradcheck

BACKENDS = ["numpy", "array_api_strict"]
pytest.importorskip("array_api_strict")

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6)
dtypes = st.sampled_from(["float32", "float64"])


def finite(dtype: str, bound: float) -> st.SearchStrategy:
    """Finite floats of ``dtype`` up to ``bound`` in size, subnormals and signed zeros included."""
    width = 32 if dtype == "float32" else 64
    bound = float(np.dtype(dtype).type(bound))  # the nearest value the dtype holds
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)


@st.composite
def arrays(draw, bound: float = 1e30):
    dtype = draw(dtypes)
    values = draw(hnp.arrays(np.dtype(dtype), draw(shapes), elements=finite(dtype, bound)))
    return dtype, values


def on(backend: str, values: np.ndarray):
    b = gpubp.resolve(backend)
    return b, b.asarray(values, dtype=b.dtype(str(values.dtype)))


def host(x) -> np.ndarray:
    return np.asarray(gpubp.to_host(x), dtype=np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU, LeakyReLU])
@SETTINGS
@given(data=arrays())
def test_activations_are_finite_and_in_range_for_any_finite_input(backend, cls, data):
    dtype, values = data
    b, x = on(backend, values)
    layer = cls()
    y = layer.forward(x)
    dout = b.asarray(np.ones_like(values), dtype=x.dtype)
    dx = layer.backward(dout)
    assert y.dtype == x.dtype and dx.dtype == x.dtype and tuple(y.shape) == values.shape
    y_h, dx_h = host(y), host(dx)
    if cls in (Sigmoid, Tanh):  # bounded outputs, bounded slopes
        assert np.all(np.isfinite(y_h)) and np.all(np.isfinite(dx_h))
        low = 0.0 if cls is Sigmoid else -1.0
        assert np.all((y_h >= low) & (y_h <= 1.0))
        assert np.all((dx_h >= 0.0) & (dx_h <= (0.25 if cls is Sigmoid else 1.0)))
    else:  # piecewise linear: the slope is 1, 0 or the leak
        assert np.all(np.isfinite(y_h)) and np.all(np.isfinite(dx_h))
        assert set(np.unique(dx_h)) <= {0.0, 0.01, 1.0} | {float(np.float32(0.01))}


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(data=arrays(bound=1e30), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_is_finite_for_any_finite_logits(backend, data, seed):
    dtype, logits = data
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, logits.shape[1], size=logits.shape[0])
    b, z = on(backend, logits)
    loss_fn = CrossEntropyLoss()
    value = host(loss_fn.forward(z, b.asarray(labels)))
    dz = host(loss_fn.backward())
    assume(np.all(np.isfinite(logits.max(axis=1) - logits.min(axis=1))))  # the spread itself must be representable
    assert np.isfinite(value) and value >= 0
    assert np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=1e-5)  # softmax - one-hot sums to 0 per row
    assert np.all(np.abs(dz) <= 1.0 / logits.shape[0] + 1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(data=arrays(bound=1e30), seed=st.integers(0, 2**32 - 1))
def test_bce_with_logits_is_finite_for_any_finite_logits(backend, data, seed):
    dtype, logits = data
    targets = np.random.default_rng(seed).integers(0, 2, size=logits.shape).astype(dtype)
    b, z = on(backend, logits)
    loss_fn = BCEWithLogitsLoss()
    value = host(loss_fn.forward(z, b.asarray(targets, dtype=z.dtype)))
    dz = host(loss_fn.backward())
    assume(np.abs(logits).sum() < np.finfo(dtype).max / 2)  # the mean of |z| must be representable
    assert np.isfinite(value) and value >= 0
    assert np.all(np.isfinite(dz)) and np.all(np.abs(dz) <= 1.0 / logits.size + 1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(data=arrays(bound=1e15), seed=st.integers(0, 2**32 - 1))
def test_mse_is_finite_while_the_squares_are(backend, data, seed):
    dtype, pred = data
    target = np.random.default_rng(seed).uniform(-1e3, 1e3, size=pred.shape).astype(dtype)
    b, p = on(backend, pred)
    loss_fn = MSELoss()
    value = host(loss_fn.forward(p, b.asarray(target, dtype=p.dtype)))
    dp = host(loss_fn.backward())
    assert np.isfinite(value) and value >= 0
    expected = -2 * (target.astype(np.float64) - pred.astype(np.float64)) / pred.size
    np.testing.assert_allclose(dp, expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-30)


# -- gradients against finite differences, float64, across magnitudes ---------------------

scales = st.sampled_from([1e-3, 1e-1, 1.0, 10.0, 30.0])


def tolerance(scale: float) -> float:
    """gradcheck's tol: at inputs of size 10-100 the checked sum is O(100), and its float64
    rounding limits a central difference with step 1e-6 to about 1e-8 absolute."""
    return 1e-5 if scale <= 1 else 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU, LeakyReLU])
@settings(max_examples=20, deadline=None)
@given(shape=shapes, scale=scales, seed=st.integers(0, 2**32 - 1))
def test_activation_gradients_match_finite_differences(backend, cls, shape, scale, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    if cls in (ReLU, LeakyReLU):
        assume(np.all(np.abs(x) > 1e-4))  # away from the kink, where the derivative is one-sided
    b, xd = on(backend, x)
    result = gradcheck(cls(), xd, tol=tolerance(scale))
    assert result.ok, str(result)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["ce", "bce", "mse"])
@settings(max_examples=20, deadline=None)
@given(shape=shapes, scale=scales, seed=st.integers(0, 2**32 - 1))
def test_loss_gradients_match_finite_differences(backend, name, shape, scale, seed):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal(shape) * scale
    b, p = on(backend, pred)
    if name == "ce":
        target = b.asarray(rng.integers(0, shape[1], size=shape[0]))
    elif name == "bce":
        target = b.asarray(rng.integers(0, 2, size=shape).astype(np.float64))
    else:
        target = b.asarray(rng.standard_normal(shape) * scale)
    result = gradcheck(gpubp.losses.get_loss(name), p, target, tol=tolerance(scale))
    assert result.ok, str(result)
