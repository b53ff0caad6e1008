"""Optimizers: each update against a NumPy step written out here, settings checked at construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import SGD, Adam, Linear, Parameter

STEPS = 3


def params_on(case, shapes=((3, 2), (2,)), seed=0):
    """Parameters on the case with known values, and their host float64 copies."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in shapes]
    params = [Parameter(case.asarray(v), f"p{i}") for i, v in enumerate(values)]
    return params, [case.to_host(p.data) for p in params]


def grads_for(shapes, step, seed=100):
    rng = np.random.default_rng(seed + step)
    return [rng.standard_normal(s) for s in shapes]


def run(case, make_optimizer, reference_step, shapes=((3, 2), (2,))):
    """Run STEPS steps on the case and of the NumPy reference, comparing after each."""
    params, thetas = params_on(case, shapes)
    opt = make_optimizer(params)
    state: dict = {}
    for t in range(1, STEPS + 1):
        gs = grads_for(shapes, t)
        for p, g in zip(params, gs, strict=True):
            p.grad = case.asarray(g)
        opt.step()
        for i, theta in enumerate(thetas):
            g = case.to_host(params[i].grad)  # the gradient as the device saw it (rounded to the dtype)
            thetas[i] = reference_step(state, i, theta, g, t)
        for p, theta in zip(params, thetas, strict=True):
            assert_array(p.data, case, p.shape)
            case.assert_close(p.data, theta, rtol=case.rtol * 10)
    assert opt.steps == STEPS


# -- the updates --------------------------------------------------------------


def test_sgd_is_theta_minus_alpha_g(case):
    run(case, lambda ps: SGD(ps, lr=0.1), lambda s, i, theta, g, t: theta - 0.1 * g)


def test_sgd_momentum(case):
    mu, lr = 0.9, 0.05

    def step(state, i, theta, g, t):
        v = g if t == 1 else mu * state[i] + g  # v <- mu v + g (v_1 = g)
        state[i] = v
        return theta - lr * v

    run(case, lambda ps: SGD(ps, lr=lr, momentum=mu), step)


def test_sgd_nesterov(case):
    mu, lr = 0.8, 0.05

    def step(state, i, theta, g, t):
        v = g if t == 1 else mu * state[i] + g
        state[i] = v
        return theta - lr * (g + mu * v)  # look-ahead: theta <- theta - lr (g + mu v)

    run(case, lambda ps: SGD(ps, lr=lr, momentum=mu, nesterov=True), step)


def test_adam(case):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6

    def step(state, i, theta, g, t):
        m, v = state.get(i, (np.zeros_like(g), np.zeros_like(g)))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        state[i] = (m, v)
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps)

    run(case, lambda ps: Adam(ps, lr=lr, betas=(b1, b2), eps=eps), step)


def test_sgd_weight_decay(case):
    lr, wd = 0.1, 0.01
    run(case, lambda ps: SGD(ps, lr=lr, weight_decay=wd), lambda s, i, theta, g, t: theta - lr * (g + wd * theta))


def test_sgd_momentum_weight_decay(case):
    lr, mu, wd = 0.1, 0.5, 0.02

    def step(state, i, theta, g, t):
        g = g + wd * theta
        v = g if t == 1 else mu * state[i] + g
        state[i] = v
        return theta - lr * v

    run(case, lambda ps: SGD(ps, lr=lr, momentum=mu, weight_decay=wd), step)


def test_adam_weight_decay(case):
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-8

    def step(state, i, theta, g, t):
        g = g + wd * theta  # L2 added to the gradient
        m, v = state.get(i, (np.zeros_like(g), np.zeros_like(g)))
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        state[i] = (m, v)
        return theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)

    run(case, lambda ps: Adam(ps, lr=lr, weight_decay=wd), step)


# -- parameters without gradients, and ownership ------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps, lr=0.1)],
    ids=["sgd", "momentum", "adam"],
)
def test_parameters_without_grad_are_skipped(case, make):
    params, before = params_on(case)
    opt = make(params)
    params[0].grad = case.asarray(np.ones(params[0].shape))
    for _ in range(2):
        opt.step()
    case.assert_close(params[1].data, before[1], rtol=0, atol=0)  # grad None: untouched
    assert params[1].grad is None
    assert not np.allclose(case.to_host(params[0].data), before[0])
    assert "1" not in {name.rsplit(".", 1)[1] for name in opt.state_buffers()}


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda ps: Adam(ps, lr=0.1),
    ],
    ids=["sgd", "momentum", "nesterov", "adam"],
)
def test_never_writes_into_the_callers_arrays(case, make):
    rng = np.random.default_rng(5)
    layer = Linear(3, 2, rng=0, backend=case.backend, dtype=case.dtype)
    w_caller = rng.standard_normal((3, 2)).astype(case.dtype)
    w_saved = w_caller.copy()
    layer.weight.data = gpubp.to_backend(w_caller, case.backend, dtype=case.xp_dtype)
    g_caller = [case.asarray(rng.standard_normal(p.shape)) for p in layer.parameters()]
    g_saved = [case.to_host(g) for g in g_caller]
    opt = make(layer.parameters())
    for _ in range(3):
        for p, g in zip(layer.parameters(), g_caller, strict=True):
            p.grad = g  # the caller's own gradient arrays
        opt.step()
    np.testing.assert_array_equal(w_caller, w_saved)
    for g, saved in zip(g_caller, g_saved, strict=True):
        np.testing.assert_array_equal(case.to_host(g), saved)
    assert not np.array_equal(gpubp.to_host(layer.weight.data), w_saved)  # the step did happen


def test_momentum_state_round_trips(case):
    """Saving the velocities and loading them into a new optimizer continues the same run."""
    shapes = ((3, 2), (2,))
    a, _ = params_on(case, shapes)
    b, _ = params_on(case, shapes)
    opt_a = SGD(a, lr=0.1, momentum=0.9)
    for t in range(1, 3):
        for p, g in zip(a, grads_for(shapes, t), strict=True):
            p.grad = case.asarray(g)
        opt_a.step()
    for p, q in zip(a, b, strict=True):
        q.data = case.asarray(case.to_host(p.data))
    opt_b = SGD(b, lr=0.1, momentum=0.9)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.steps == 2
    for p, q, g in zip(a, b, grads_for(shapes, 3), strict=True):
        p.grad, q.grad = case.asarray(g), case.asarray(g)
    opt_a.step()
    opt_b.step()
    for p, q in zip(a, b, strict=True):
        case.assert_close(q.data, case.to_host(p.data), rtol=0, atol=0)


# -- settings rejected at construction ----------------------------------------


def one_param():
    return [Parameter(np.zeros(2), "w")]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SGD(one_param(), lr=0), "lr"),
        (lambda: SGD(one_param(), lr=-0.1), "lr"),
        (lambda: SGD(one_param(), lr=math.nan), "lr"),
        (lambda: SGD(one_param(), lr=math.inf), "lr"),
        (lambda: SGD(one_param(), lr="fast"), "lr"),
        (lambda: SGD(one_param(), lr=0.1, momentum=-0.1), "momentum"),
        (lambda: SGD(one_param(), lr=0.1, momentum=1.0), "momentum"),
        (lambda: SGD(one_param(), lr=0.1, momentum=math.nan), "momentum"),
        (lambda: SGD(one_param(), lr=0.1, nesterov=True), "Nesterov"),
        (lambda: SGD(one_param(), lr=0.1, weight_decay=-1e-4), "weight_decay=-0.0001: must be finite"),
        (lambda: Adam(one_param(), lr=0), "lr"),
        (lambda: Adam(one_param(), lr=math.inf), "lr"),
        (lambda: Adam(one_param(), betas=(1.0, 0.999)), "beta1"),
        (lambda: Adam(one_param(), betas=(-0.1, 0.999)), "beta1"),
        (lambda: Adam(one_param(), betas=(0.9, 1.0)), "beta2"),
        (lambda: Adam(one_param(), betas=(0.9, 1.5)), "beta2"),
        (lambda: Adam(one_param(), betas=(0.9,)), "betas"),
        (lambda: Adam(one_param(), eps=0), "eps"),
        (lambda: Adam(one_param(), eps=-1e-8), "eps"),
        (lambda: SGD([], lr=0.1), "no parameters"),
        (lambda: SGD([np.zeros(2)], lr=0.1), "not a gpubp Parameter"),
    ],
)
def test_bad_settings_are_rejected_at_construction(make, match):
    with pytest.raises(gpubp.GpubpError, match=match):
        make()
