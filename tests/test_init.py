"""Initialisers: the right distributions, drawn on the host, the same weights on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import Linear, mlp
from gpubp.init import INITIALIZERS, get_initializer

FAN_IN, FAN_OUT = 2000, 300  # 600,000 draws: sample moments are good to well under 1 %

#: name -> (is uniform, variance the notes prescribe)
EXPECTED = {
    "he_uniform": (True, 2.0 / FAN_IN),
    "he_normal": (False, 2.0 / FAN_IN),
    "xavier_uniform": (True, 2.0 / (FAN_IN + FAN_OUT)),
    "xavier_normal": (False, 2.0 / (FAN_IN + FAN_OUT)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_distribution(name):
    uniform, variance = EXPECTED[name]
    W = get_initializer(name)(np.random.default_rng(0), FAN_IN, FAN_OUT)
    assert W.shape == (FAN_IN, FAN_OUT) and W.dtype == np.float64
    std = math.sqrt(variance)
    assert abs(W.mean()) < 0.01 * std  # the standard error of the mean is std / 775
    assert W.var() == pytest.approx(variance, rel=0.01)  # its standard error is ~0.2 % (normal), 0.15 % (uniform)
    if uniform:
        bound = math.sqrt(3 * variance)  # U(-a, a) has variance a^2 / 3
        assert np.abs(W).max() <= bound
        assert np.abs(W).max() > 0.999 * bound
        counts, _ = np.histogram(W, bins=10, range=(-bound, bound))
        np.testing.assert_allclose(counts / W.size, 0.1, atol=0.005)  # flat
    else:
        assert np.abs(W).max() > 3 * std  # tails a uniform would not have
        assert np.mean(np.abs(W) < std) == pytest.approx(0.6827, abs=0.005)  # one-sigma mass of a normal
        assert np.mean(np.abs(W) < 2 * std) == pytest.approx(0.9545, abs=0.003)


def test_glorot_names_are_xavier():
    assert INITIALIZERS["glorot_uniform"] is INITIALIZERS["xavier_uniform"]
    assert INITIALIZERS["glorot_normal"] is INITIALIZERS["xavier_normal"]


def test_unknown_initializer_is_an_error():
    with pytest.raises(gpubp.GpubpError, match="he_uniform"):
        get_initializer("orthogonal")
    with pytest.raises(gpubp.GpubpError, match="orthogonal"):
        Linear(2, 2, init="orthogonal")


def test_one_seed_same_weights_as_the_host_draw(case):
    for name in EXPECTED:
        layer = Linear(7, 5, init=name, rng=42, backend=case.backend, dtype=case.dtype)
        assert_array(layer.weight.data, case, (7, 5))
        assert_array(layer.bias.data, case, (5,))
        host_draw = get_initializer(name)(np.random.default_rng(42), 7, 5).astype(case.dtype)
        np.testing.assert_array_equal(gpubp.to_host(layer.weight.data), host_draw)
        np.testing.assert_array_equal(gpubp.to_host(layer.bias.data), np.zeros(5, dtype=case.dtype))


def test_one_seed_same_network_on_every_backend(case):
    reference = mlp((4, 6, 3), activation_name="tanh", rng=7, backend="numpy", dtype=case.dtype).state_dict()
    state = mlp((4, 6, 3), activation_name="tanh", rng=7, backend=case.backend, dtype=case.dtype).state_dict()
    assert state.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(state[name], reference[name])


def test_a_different_seed_draws_different_weights():
    a, b = Linear(5, 5, rng=0), Linear(5, 5, rng=1)
    assert not np.array_equal(gpubp.to_host(a.weight.data), gpubp.to_host(b.weight.data))
