"""End to end: a 2-4-1 sigmoid network learns XOR with MSE and plain SGD, on every backend."""

from __future__ import annotations

import numpy as np
from conftest import assert_array

import gpubp
from gpubp import SGD, Linear, MSELoss, Sequential, Sigmoid

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])

SEED, LR, STEPS = 0, 5.0, 1000  # converges for every seed 0..19 by ~600 steps in float32


def xor_net(backend, dtype: str, seed: int = SEED) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(
        Linear(2, 4, rng=rng, backend=backend, dtype=dtype),
        Sigmoid(),
        Linear(4, 1, rng=rng, backend=backend, dtype=dtype),
        Sigmoid(),
    )


def train(net: Sequential, x, y, steps: int) -> list[float]:
    """Full-batch SGD; the loss before each step (host floats)."""
    loss, opt = MSELoss(), SGD(net.parameters(), lr=LR)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        value = loss.forward(net.forward(x), y)
        net.backward(loss.backward())
        opt.step()
        history.append(value)
    return [float(gpubp.to_host(v)) for v in history]  # one sync at the end


def test_learns_xor(case):
    net = xor_net(case.backend, case.dtype)
    x, y = case.asarray(X), case.asarray(Y)
    history = train(net, x, y, STEPS)
    assert np.all(np.isfinite(history))
    pred = net.forward(x)
    assert_array(pred, case, (4, 1))
    final = float(gpubp.to_host(MSELoss().forward(pred, y)))
    assert history[0] > 0.2 and final < 0.01, f"loss {history[0]:.4f} -> {final:.4f}"
    np.testing.assert_array_equal(gpubp.to_host(pred) > 0.5, Y > 0.5)


def test_one_seed_same_initial_weights(case):
    reference = xor_net("numpy", "float64").state_dict()
    state = xor_net(case.backend, case.dtype).state_dict()
    for name, value in reference.items():
        assert state[name].dtype == np.dtype(case.dtype)
        np.testing.assert_array_equal(state[name], value.astype(case.dtype))


def test_first_steps_agree_with_numpy(case):
    numpy_net = xor_net("numpy", case.dtype)
    expected = train(
        numpy_net, gpubp.to_backend(X, "numpy", dtype=case.dtype), gpubp.to_backend(Y, "numpy", dtype=case.dtype), 20
    )
    net = xor_net(case.backend, case.dtype)
    losses = train(net, case.asarray(X), case.asarray(Y), 20)
    np.testing.assert_allclose(losses, expected, rtol=case.rtol, atol=case.atol)
    for (name, p), q in zip(net.named_parameters(), numpy_net.parameters(), strict=True):
        np.testing.assert_allclose(
            case.to_host(p.data), gpubp.to_host(q.data), rtol=case.rtol, atol=case.atol, err_msg=name
        )
