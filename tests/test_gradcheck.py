"""gradcheck: it reports the worst element, catches wrong backward passes, and leaves the model as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import GradcheckResult, Linear, MSELoss, Sequential, Sigmoid, Tanh, gradcheck


class WrongWeightGrad(Linear):
    """dW off by a factor of 2."""

    def backward(self, dout: Any) -> Any:
        dx = super().backward(dout)
        self.weight.grad = 2 * self.weight.grad
        return dx


class WrongBiasGrad(Linear):
    """db forgets to sum over the batch (takes the first row only)."""

    def backward(self, dout: Any) -> Any:
        dx = super().backward(dout)
        self.bias.grad = dout[0, ...]
        return dx


class WrongInputGrad(Linear):
    """dX uses W instead of W^T, for a square layer."""

    def backward(self, dout: Any) -> Any:
        super().backward(dout)
        return dout @ self.weight.data


class WrongSigmoid(Sigmoid):
    """dy/dx = y instead of y (1 - y)."""

    def backward(self, dout: Any) -> Any:
        return dout * self._y


class WrongMSE(MSELoss):
    """The notes' typo: -2 (y - y_hat) without the 1/n."""

    def backward(self) -> Any:
        return -2 * self._diff  # -2 (y - y_hat), without the 1/n


def x_on(case, shape=(4, 3), seed=0):
    return case.asarray(np.random.default_rng(seed).standard_normal(shape))


def test_result_reports_the_worst_element(case):
    layer = Linear(3, 2, rng=0, backend=case.backend, dtype=case.dtype)
    result = gradcheck(layer, x_on(case))
    assert isinstance(result, GradcheckResult)
    assert result.ok and bool(result)
    assert 0 <= result.max_rel_error <= result.tol == 1e-5
    assert result.checked == 4 * 3 + 3 * 2 + 2
    names = ("input[", "weight[", "bias[")
    assert result.where.startswith(names), result.where
    assert isinstance(result.analytic, float) and isinstance(result.numeric, float)
    assert "gradcheck ok" in str(result) and result.where in str(result)


def test_max_per_array_samples(case):
    layer = Linear(3, 2, rng=0, backend=case.backend, dtype=case.dtype)
    result = gradcheck(layer, x_on(case), max_per_array=2)
    assert result.ok
    assert result.checked == 2 + 2 + 2


@pytest.mark.parametrize(
    ("cls", "where"),
    [(WrongWeightGrad, "weight["), (WrongBiasGrad, "bias["), (WrongInputGrad, "input[")],
    ids=["weight", "bias", "input"],
)
def test_catches_a_wrong_linear_backward(case, cls, where):
    layer = cls(3, 3, rng=1, backend=case.backend, dtype=case.dtype)
    result = gradcheck(layer, x_on(case))
    assert not result.ok and not bool(result)
    assert result.where.startswith(where), str(result)
    assert result.max_rel_error > 1e-2
    assert "FAILED" in str(result)


def test_names_the_wrong_layer_inside_a_network(case):
    rng = np.random.default_rng(2)
    net = Sequential(
        Linear(3, 4, rng=rng, backend=case.backend, dtype=case.dtype),
        Tanh(),
        WrongWeightGrad(4, 2, rng=rng, backend=case.backend, dtype=case.dtype),
    )
    result = gradcheck(net, x_on(case))
    assert not result.ok
    assert result.where.startswith("2.weight["), str(result)


def test_catches_a_wrong_activation_derivative(case):
    result = gradcheck(WrongSigmoid(), x_on(case))
    assert not result.ok
    assert result.where.startswith("input["), str(result)
    assert gradcheck(Sigmoid(), x_on(case)).ok


def test_catches_a_wrong_loss_derivative(case):
    pred, y = x_on(case, (5, 2), seed=1), x_on(case, (5, 2), seed=2)
    assert gradcheck(MSELoss(), pred, y).ok
    result = gradcheck(WrongMSE(), pred, y)
    assert not result.ok
    assert result.where.startswith("pred["), str(result)


def test_through_a_loss(case):
    net = Sequential(
        Linear(3, 4, rng=3, backend=case.backend, dtype=case.dtype),
        Sigmoid(),
        Linear(4, 2, rng=4, backend=case.backend, dtype=case.dtype),
    )
    result = gradcheck(net, x_on(case), x_on(case, (4, 2), seed=5), loss=MSELoss())
    assert result.ok, str(result)
    assert result.checked == 4 * 3 + (3 * 4 + 4) + (4 * 2 + 2)


def test_restores_parameters_dtype_values_and_grads(case):
    net = Sequential(
        Linear(3, 4, rng=5, backend=case.backend, dtype=case.dtype),
        Tanh(),
        WrongWeightGrad(4, 2, rng=6, backend=case.backend, dtype=case.dtype),
    )
    before = {name: case.to_host(p.data) for name, p in net.named_parameters()}
    x = x_on(case)
    gradcheck(net, x)
    for name, p in net.named_parameters():
        assert_array(p.data, case, p.shape)  # the case's dtype again, not float64
        np.testing.assert_array_equal(case.to_host(p.data), before[name])
        assert p.grad is None
    assert_array(x, case, (4, 3))  # the input is not cast in place
    out = net.forward(x)
    assert_array(out, case, (4, 2))


def test_needs_targets_for_a_loss(case):
    with pytest.raises(gpubp.GpubpError, match="targets"):
        gradcheck(MSELoss(), x_on(case))
    with pytest.raises(gpubp.GpubpError, match="targets"):
        gradcheck(Linear(3, 2, backend=case.backend, dtype=case.dtype), x_on(case), loss=MSELoss())
