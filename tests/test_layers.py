"""Layers: forward against plain NumPy written out here, backward by gradcheck, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_array
from hypothesis import given, settings
from hypothesis import strategies as st

import gpubp
from gpubp import Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

# -- plain NumPy references (float64, host) -----------------------------------


def ref_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), split by sign so neither branch overflows."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


REFERENCES = {
    "sigmoid": (Sigmoid, ref_sigmoid),
    "tanh": (Tanh, np.tanh),
    "relu": (ReLU, lambda x: np.where(x > 0, x, 0.0)),
    "leaky_relu": (LeakyReLU, lambda x: np.where(x > 0, x, 0.01 * x)),
    "identity": (Identity, lambda x: x.copy()),
}
KINKED = ("relu", "leaky_relu")

FAST = settings(max_examples=25, deadline=None)


def away_from_kink(x: np.ndarray, gap: float = 0.05) -> np.ndarray:
    """Push every value at least ``gap`` from 0, keeping its sign (finite differences need a smooth point)."""
    return np.where(x >= 0, x + gap, x - gap)


def linear_on(case, W: np.ndarray, b: np.ndarray) -> Linear:
    """A Linear layer on the case with the given weights."""
    layer = Linear(W.shape[0], W.shape[1], backend=case.backend, dtype=case.dtype)
    layer.weight.data = case.asarray(W)
    layer.bias.data = case.asarray(b)
    return layer


# -- forward values -----------------------------------------------------------


def test_linear_forward_is_xW_plus_b(case):
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 5)), rng.standard_normal(5)
    x = case.asarray(rng.standard_normal((4, 3)))
    layer = linear_on(case, W, b)
    out = layer.forward(x)
    assert_array(out, case, (4, 5))
    xh, Wh, bh = case.to_host(x), case.to_host(layer.weight.data), case.to_host(layer.bias.data)
    case.assert_close(out, xh @ Wh + bh)


def test_linear_parameters_live_on_the_case(case):
    layer = Linear(3, 2, rng=0, backend=case.backend, dtype=case.dtype)
    assert_array(layer.weight.data, case, (3, 2))
    assert_array(layer.bias.data, case, (2,))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(case.to_host(layer.bias.data), np.zeros(2))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_forward_matches_numpy(case, name):
    cls, ref = REFERENCES[name]
    x = case.asarray(np.linspace(-6.0, 6.0, 24).reshape(4, 6))
    out = cls().forward(x)
    assert_array(out, case, (4, 6))
    case.assert_close(out, ref(case.to_host(x)))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0])
def test_leaky_relu_rejects_a_bad_slope(bad):
    with pytest.raises(gpubp.GpubpError, match="negative_slope"):
        LeakyReLU(bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_linear_rejects_bad_sizes(bad):
    with pytest.raises(gpubp.GpubpError, match="positive integer"):
        Linear(bad, 2)


def test_sigmoid_is_finite_and_exact_for_huge_inputs(case):
    # pytest turns warnings into errors, so an overflowing exp would fail here.
    values = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4])
    x = case.asarray(values.reshape(1, -1))
    layer = Sigmoid()
    y = layer.forward(x)
    assert_array(y, case, (1, values.size))
    yh = case.to_host(y)
    assert np.all(np.isfinite(yh))
    assert np.all((yh >= 0) & (yh <= 1))
    assert yh[0, 0] == 0.0 and yh[0, -1] == 1.0
    tiny = float(np.finfo(case.dtype).tiny)  # below it, float32 is subnormal and only roughly right
    case.assert_close(y, ref_sigmoid(values).reshape(1, -1), atol=tiny)  # relative: small values stay right
    dx = layer.backward(case.asarray(np.ones((1, values.size))))
    assert_array(dx, case, (1, values.size))
    dxh = case.to_host(dx)
    assert np.all(np.isfinite(dxh))
    ys = ref_sigmoid(values)
    np.testing.assert_allclose(dxh[0], ys * (1 - ys), rtol=case.rtol * 10, atol=case.atol)


# -- gradients ----------------------------------------------------------------


def check_backward(case, layer, x_host: np.ndarray, out_shape: tuple[int, ...]) -> None:
    """float64: gradcheck passes; float32: the backward's arrays have the right kind."""
    x = case.asarray(x_host)
    if case.dtype == "float64":
        result = gpubp.gradcheck(layer, x)
        assert result.ok, str(result)
        assert result.checked == x_host.size + sum(int(np.prod(p.shape)) for p in layer.parameters())
        return
    layer.forward(x)
    dx = layer.backward(case.asarray(np.ones(out_shape)))
    assert_array(dx, case, x_host.shape)
    for p in layer.parameters():
        assert_array(p.grad, case, p.shape)


def test_linear_backward(case):
    rng = np.random.default_rng(1)
    layer = Linear(3, 4, rng=1, backend=case.backend, dtype=case.dtype)
    check_backward(case, layer, rng.standard_normal((5, 3)), (5, 4))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_backward(case, name):
    x = np.random.default_rng(2).standard_normal((4, 3)) * 3
    if name in KINKED:
        x = away_from_kink(x)
    check_backward(case, REFERENCES[name][0](), x, (4, 3))


def test_linear_backward_accumulates_and_zero_grad_clears(case):
    rng = np.random.default_rng(3)
    layer = Linear(3, 2, rng=3, backend=case.backend, dtype=case.dtype)
    x, dout = case.asarray(rng.standard_normal((4, 3))), case.asarray(rng.standard_normal((4, 2)))
    assert all(p.grad is None for p in layer.parameters())
    layer.forward(x)
    layer.backward(dout)
    once = {name: case.to_host(p.grad).copy() for name, p in layer.named_parameters()}
    layer.backward(dout)
    for name, p in layer.named_parameters():
        assert_array(p.grad, case, p.shape)
        case.assert_close(p.grad, 2 * once[name])
    xh, douth = case.to_host(x), case.to_host(dout)
    case.assert_close(layer.weight.grad, 2 * xh.T @ douth)  # dW = X^T dout, twice
    case.assert_close(layer.bias.grad, 2 * douth.sum(axis=0))
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_linear_without_input_grad_returns_none(case):
    layer = Linear(2, 3, rng=0, backend=case.backend, dtype=case.dtype)
    layer.needs_input_grad = False
    layer.forward(case.asarray(np.ones((2, 2))))
    assert layer.backward(case.asarray(np.ones((2, 3)))) is None
    assert_array(layer.weight.grad, case, (2, 3))


# -- any shape ----------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=6)


@FAST
@given(batch=sizes, n_in=sizes, n_out=sizes, seed=st.integers(0, 2**32 - 1))
def test_linear_any_shape(case, batch, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(n_in, n_out, rng=rng, backend=case.backend, dtype=case.dtype)
    x = case.asarray(rng.standard_normal((batch, n_in)))
    out = layer.forward(x)
    assert_array(out, case, (batch, n_out))
    expected = case.to_host(x) @ case.to_host(layer.weight.data) + case.to_host(layer.bias.data)
    case.assert_close(out, expected, atol=case.atol * 10)
    check_backward(case, layer, rng.standard_normal((batch, n_in)), (batch, n_out))


@FAST
@given(name=st.sampled_from(sorted(REFERENCES)), batch=sizes, width=sizes, seed=st.integers(0, 2**32 - 1))
def test_activation_any_shape(case, name, batch, width, seed):
    cls, ref = REFERENCES[name]
    x_host = np.random.default_rng(seed).standard_normal((batch, width)) * 4
    if name in KINKED:
        x_host = away_from_kink(x_host)
    x = case.asarray(x_host)
    out = cls().forward(x)
    assert_array(out, case, (batch, width))
    case.assert_close(out, ref(case.to_host(x)))
    check_backward(case, cls(), x_host, (batch, width))
