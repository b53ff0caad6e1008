"""Every hand-written gradient against PyTorch autograd, in float64, on every backend.

PyTorch is the oracle here, used through plain tensor ops on leaf tensors. gpubp's
``Linear`` keeps ``W`` as (in, out), the transpose of ``torch.nn.Linear.weight``,
so the oracle computes ``x @ W + b`` directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_array
from hypothesis import given, settings
from hypothesis import strategies as st

import gpubp
from gpubp import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Identity,
    LeakyReLU,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Tanh,
)

torch = pytest.importorskip("torch", reason="torch is not installed: the PyTorch oracle needs it")
F = torch.nn.functional

#: gpubp activation -> the same function in torch.
TORCH_ACTIVATIONS = {
    Sigmoid: torch.sigmoid,
    Tanh: torch.tanh,
    ReLU: torch.relu,
    LeakyReLU: lambda t: F.leaky_relu(t, 0.01),
    Identity: lambda t: t,
}


def leaf(a: np.ndarray):
    """A float64 torch leaf tensor that records its gradient."""
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def grad_np(t) -> np.ndarray:
    return t.grad.detach().numpy()


def away_from_kink(x: np.ndarray, gap: float = 0.05) -> np.ndarray:
    return np.where(x >= 0, x + gap, x - gap)


# -- layers -------------------------------------------------------------------


def test_linear_gradients(case64):
    rng = np.random.default_rng(0)
    x, W, b, dout = (rng.standard_normal(s) for s in ((5, 3), (3, 4), (4,), (5, 4)))
    layer = Linear(3, 4, backend=case64.backend, dtype="float64")
    layer.weight.data, layer.bias.data = case64.asarray(W), case64.asarray(b)
    out = layer.forward(case64.asarray(x))
    dx = layer.backward(case64.asarray(dout))

    tx, tW, tb = leaf(x), leaf(W), leaf(b)
    t_out = tx @ tW + tb
    t_out.backward(torch.tensor(dout))
    case64.assert_close(out, t_out.detach().numpy())
    assert_array(dx, case64, (5, 3))
    case64.assert_close(dx, grad_np(tx))
    case64.assert_close(layer.weight.grad, grad_np(tW))
    case64.assert_close(layer.bias.grad, grad_np(tb))


@pytest.mark.parametrize("cls", list(TORCH_ACTIVATIONS), ids=lambda c: c.__name__)
def test_activation_gradients(case64, cls):
    rng = np.random.default_rng(1)
    x, dout = away_from_kink(3 * rng.standard_normal((4, 5))), rng.standard_normal((4, 5))
    layer = cls()
    out = layer.forward(case64.asarray(x))
    dx = layer.backward(case64.asarray(dout))

    tx = leaf(x)
    t_out = TORCH_ACTIVATIONS[cls](tx)
    t_out.backward(torch.tensor(dout))
    case64.assert_close(out, t_out.detach().numpy())
    assert_array(dx, case64, (4, 5))
    case64.assert_close(dx, grad_np(tx))


# -- losses -------------------------------------------------------------------


def loss_inputs(name: str, rng: np.random.Generator, n: int, c: int):
    """(gpubp loss, prediction, gpubp target (host), torch loss of (pred tensor))."""
    if name == "mse":
        p, y = rng.standard_normal((n, c)), rng.standard_normal((n, c))
        return MSELoss(), p, y, lambda t: F.mse_loss(t, torch.tensor(y))
    if name == "bce":
        p, y = rng.uniform(0.02, 0.98, (n, c)), rng.integers(0, 2, (n, c)).astype(float)
        return BCELoss(), p, y, lambda t: F.binary_cross_entropy(t, torch.tensor(y))
    if name == "bce_logits":
        z, y = 3 * rng.standard_normal((n, c)), rng.integers(0, 2, (n, c)).astype(float)
        return BCEWithLogitsLoss(), z, y, lambda t: F.binary_cross_entropy_with_logits(t, torch.tensor(y))
    if name == "ce_index":
        z, labels = 3 * rng.standard_normal((n, c)), rng.integers(0, c, n)
        return CrossEntropyLoss(), z, labels, lambda t: F.cross_entropy(t, torch.tensor(labels))
    if name == "ce_one_hot":
        z, Y = 3 * rng.standard_normal((n, c)), np.eye(c)[rng.integers(0, c, n)]
        return CrossEntropyLoss(), z, Y, lambda t: F.cross_entropy(t, torch.tensor(Y))
    if name == "ce_soft":
        z, Y = rng.standard_normal((n, c)), rng.dirichlet(np.ones(c), n)
        return CrossEntropyLoss(), z, Y, lambda t: F.cross_entropy(t, torch.tensor(Y))
    raise AssertionError(name)


LOSS_NAMES = ["mse", "bce", "bce_logits", "ce_index", "ce_one_hot", "ce_soft"]


def on_case(case, y: np.ndarray):
    """Targets onto the case: integer labels keep their integer dtype."""
    return case.backend.asarray(y) if y.dtype.kind == "i" else case.asarray(y)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_gradients(case64, name):
    loss, p, y, torch_loss = loss_inputs(name, np.random.default_rng(2), n=6, c=3)
    value = loss.forward(case64.asarray(p), on_case(case64, y))
    dp = loss.backward()

    tp = leaf(p)
    t_value = torch_loss(tp)
    t_value.backward()
    case64.assert_close(value, t_value.item())
    assert_array(dp, case64, p.shape)
    case64.assert_close(dp, grad_np(tp))


def test_bce_clamps_like_torch_at_zero_and_one(case64):
    p, y = np.array([[0.0], [1.0], [0.0], [1.0], [0.3]]), np.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    loss = BCELoss()
    value = loss.forward(case64.asarray(p), case64.asarray(y))
    dp = loss.backward()
    tp = leaf(p)
    t_value = F.binary_cross_entropy(tp, torch.tensor(y))
    t_value.backward()
    case64.assert_close(value, t_value.item())
    # Both floor p (1 - p) at 1e-12, but torch holds that constant as a float32 (9.99999996e-13).
    case64.assert_close(dp, grad_np(tp), rtol=1e-8)


# -- whole networks -----------------------------------------------------------

ACTIVATION_CHOICES = list(TORCH_ACTIVATIONS)
OUTPUT_LOSSES = ["mse", "bce_logits", "ce_index", "ce_one_hot"]


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    activations=st.lists(st.sampled_from(ACTIVATION_CHOICES), min_size=3, max_size=3),
    loss_name=st.sampled_from(OUTPUT_LOSSES),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_network_gradients(case64, widths, activations, loss_name, batch, seed):
    """Depth 1-3 (Linear layers), widths 1-8, a random activation after each hidden Linear."""
    rng = np.random.default_rng(seed)
    depth = len(widths) - 1
    layers, torch_params = [], []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        W, b = rng.standard_normal((n_in, n_out)), 0.1 * rng.standard_normal(n_out)
        linear = Linear(n_in, n_out, backend=case64.backend, dtype="float64")
        linear.weight.data, linear.bias.data = case64.asarray(W), case64.asarray(b)
        layers.append(linear)
        torch_params.append((leaf(W), leaf(b), None))
        if i < depth - 1:
            layers.append(activations[i]())
            torch_params[-1] = (*torch_params[-1][:2], TORCH_ACTIVATIONS[activations[i]])
    net = gpubp.Sequential(*layers)
    x = rng.standard_normal((batch, widths[0]))
    loss, _, y, torch_loss = loss_inputs(loss_name, rng, n=batch, c=widths[-1])

    out = net.forward(case64.asarray(x))
    value = loss.forward(out, on_case(case64, y))
    dx = net.backward(loss.backward())

    tx = leaf(x)
    t = tx
    for tW, tb, act in torch_params:
        t = t @ tW + tb
        if act is not None:
            t = act(t)
    t_value = torch_loss(t)
    t_value.backward()

    case64.assert_close(value, t_value.item())
    assert_array(dx, case64, x.shape)
    case64.assert_close(dx, grad_np(tx))
    linears = [layer for layer in layers if isinstance(layer, Linear)]
    for linear, (tW, tb, _) in zip(linears, torch_params, strict=True):
        case64.assert_close(linear.weight.grad, grad_np(tW))
        case64.assert_close(linear.bias.grad, grad_np(tb))
