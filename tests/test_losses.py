"""Losses: values and dL/dpred against NumPy written out here, stability, and device checks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HalfMSELoss, MSELoss, PoissonLoss
from gpubp.losses import LOSSES, get_loss

# -- plain NumPy references: (loss, dL/dpred) for float64 host arrays ---------------


def ref_mse(p, y):
    n = p.size
    return np.mean((y - p) ** 2), -2 * (y - p) / n


def ref_bce(p, y):
    with np.errstate(divide="ignore"):
        log_p, log_1mp = np.maximum(np.log(p), -100.0), np.maximum(np.log(1 - p), -100.0)
    loss = -np.mean(y * log_p + (1 - y) * log_1mp)
    return loss, (p - y) / (np.maximum(p * (1 - p), 1e-12) * p.size)


def ref_sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def ref_bce_logits(z, y):
    loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    return loss, (ref_sigmoid(z) - y) / z.size


def ref_log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def ref_ce(z, Y):
    """Y is one-hot (or probability) rows."""
    log_p = ref_log_softmax(z)
    n = z.shape[0]
    return -np.sum(Y * log_p) / n, (np.exp(log_p) - Y) / n


def make_inputs(name: str, rng: np.random.Generator, n: int = 6, c: int = 3):
    """(loss, prediction, float target, reference function) with predictions away from any edge."""
    if name == "mse":
        return MSELoss(), rng.standard_normal((n, c)), rng.standard_normal((n, c)), ref_mse
    if name == "bce":
        return BCELoss(), rng.uniform(0.05, 0.95, (n, 1)), rng.integers(0, 2, (n, 1)).astype(float), ref_bce
    if name == "bce_logits":
        return (
            BCEWithLogitsLoss(),
            3 * rng.standard_normal((n, 2)),
            rng.integers(0, 2, (n, 2)).astype(float),
            ref_bce_logits,
        )
    if name == "ce":
        Y = np.eye(c)[rng.integers(0, c, n)]
        return CrossEntropyLoss(), 3 * rng.standard_normal((n, c)), Y, ref_ce
    raise AssertionError(name)


NAMES = ["mse", "bce", "bce_logits", "ce"]


# -- values and gradients -----------------------------------------------------


def test_mse_is_exactly_the_notes_formula(case):
    rng = np.random.default_rng(0)
    p, y = case.asarray(rng.standard_normal((5, 2))), case.asarray(rng.standard_normal((5, 2)))
    loss = MSELoss()
    value = loss.forward(p, y)
    assert_array(value, case, ())
    ph, yh = case.to_host(p), case.to_host(y)
    case.assert_close(value, np.sum((yh - ph) ** 2) / 10)  # L = (1/n) sum (y - y_hat)^2, n = 10 elements
    dp = loss.backward()
    assert_array(dp, case, (5, 2))
    case.assert_close(dp, -2 * (yh - ph) / 10)  # dL/dy_hat = -2 (y - y_hat) / n


def test_mse_accepts_flat_targets_for_one_output(case):
    p, y = case.asarray([[0.5], [2.0], [-1.0]]), case.asarray([1.0, 2.0, 0.0])
    loss = MSELoss()
    case.assert_close(loss.forward(p, y), (0.25 + 0 + 1) / 3)
    dp = loss.backward()
    assert_array(dp, case, (3, 1))
    case.assert_close(dp, [[-1 / 3], [0.0], [-2 / 3]])  # -2 (y - y_hat) / 3


@pytest.mark.parametrize("name", NAMES)
def test_loss_matches_numpy(case, name):
    loss, p, y, ref = make_inputs(name, np.random.default_rng(1))
    pd, yd = case.asarray(p), case.asarray(y)
    value = loss.forward(pd, yd)
    assert_array(value, case, ())
    expected, dexpected = ref(case.to_host(pd), case.to_host(yd))
    case.assert_close(value, expected)
    dp = loss.backward()
    assert_array(dp, case, p.shape)
    case.assert_close(dp, dexpected)


@pytest.mark.parametrize("name", NAMES)
def test_loss_gradcheck(case, name):
    loss, p, y, _ = make_inputs(name, np.random.default_rng(2))
    pd, yd = case.asarray(p), case.asarray(y)
    if case.dtype != "float64":
        loss.forward(pd, yd)
        assert_array(loss.backward(), case, p.shape)
        return
    result = gpubp.gradcheck(loss, pd, yd)
    assert result.ok, str(result)
    assert result.checked == p.size
    assert result.where.startswith("pred[")


def test_cross_entropy_indices_and_one_hot_agree(case):
    rng = np.random.default_rng(3)
    z, labels = rng.standard_normal((7, 4)), rng.integers(0, 4, 7)
    zd = case.asarray(z)
    by_index, by_one_hot = CrossEntropyLoss(), CrossEntropyLoss()
    indices = case.backend.asarray(labels)  # integer class indices, on the device
    value_i = by_index.forward(zd, indices)
    value_h = by_one_hot.forward(zd, case.asarray(np.eye(4)[labels]))
    assert_array(value_i, case, ())
    expected, dexpected = ref_ce(case.to_host(zd), np.eye(4)[labels])
    case.assert_close(value_i, expected)
    case.assert_close(value_h, expected)
    di, dh = by_index.backward(), by_one_hot.backward()
    assert_array(di, case, (7, 4))
    case.assert_close(di, dexpected)
    case.assert_close(dh, dexpected)
    # Float-typed indices (as read from a data file) mean the same classes.
    case.assert_close(CrossEntropyLoss().forward(zd, case.asarray(labels.astype(float))), expected)


def test_cross_entropy_gradcheck_with_indices(case64):
    rng = np.random.default_rng(4)
    z, labels = case64.asarray(rng.standard_normal((5, 3))), case64.backend.asarray(rng.integers(0, 3, 5))
    result = gpubp.gradcheck(CrossEntropyLoss(), z, labels)
    assert result.ok, str(result)


# -- stability at extreme logits ----------------------------------------------


def test_cross_entropy_is_stable_at_huge_logits(case):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 2, 1])
    loss = CrossEntropyLoss()
    value = loss.forward(case.asarray(z), case.backend.asarray(labels))
    # Row 0 is certain and right (0), row 1 certain and wrong by 1e4, row 2 uniform (log 3).
    case.assert_close(value, (0.0 + 1e4 + np.log(3)) / 3)
    dz = case.to_host(loss.backward())
    assert np.all(np.isfinite(dz))
    expected = np.array([[0, 0, 0], [0, 1, -1], [1 / 3, 1 / 3 - 1, 1 / 3]]) / 3
    np.testing.assert_allclose(dz, expected, rtol=case.rtol, atol=case.atol)
    np.testing.assert_allclose(dz, ref_ce(z, np.eye(3)[labels])[1], rtol=case.rtol, atol=case.atol)


def test_bce_with_logits_is_stable_at_huge_logits(case):
    z = np.array([[1e4], [-1e4], [1e4], [-1e4], [0.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0], [1.0]])
    loss = BCEWithLogitsLoss()
    value = loss.forward(case.asarray(z), case.asarray(y))
    # Right and certain: 0; wrong and certain: |z| = 1e4; z = 0: log 2.
    case.assert_close(value, (0 + 0 + 1e4 + 1e4 + np.log(2)) / 5)
    dz = case.to_host(loss.backward())
    assert np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz, np.array([[0.0], [0.0], [1.0], [-1.0], [-0.5]]) / 5, rtol=case.rtol, atol=case.atol)


def test_bce_on_certain_probabilities_is_large_but_finite(case):
    # Logs clamp at -100 as in PyTorch, so p = 0 or 1 against the wrong label costs 100, without a warning.
    p = np.array([[0.0], [1.0], [0.0], [1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    loss = BCELoss()
    value = loss.forward(case.asarray(p), case.asarray(y))
    case.assert_close(value, 200.0 / 4)
    dp = case.to_host(loss.backward())
    assert np.all(np.isfinite(dp))
    np.testing.assert_allclose(dp, ref_bce(p, y)[1], rtol=case.rtol)


# -- mixed devices and libraries ----------------------------------------------

ALL_LOSSES = [MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss]


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.__name__)
def test_mixed_devices_raise_naming_both(cls):
    pytest.importorskip("array_api_strict")
    default, other = gpubp.resolve("array_api_strict"), gpubp.resolve("array_api_strict", "device1")
    p = default.asarray(np.full((2, 2), 0.5))
    y = other.asarray(np.ones((2, 2)))
    with pytest.raises(gpubp.DeviceMismatchError) as info:
        cls().forward(p, y)
    message = str(info.value)
    assert "device1" in message and gpubp.backend.device_name(default.device) in message


@pytest.mark.parametrize("cls", ALL_LOSSES, ids=lambda c: c.__name__)
def test_mixed_libraries_raise_naming_both(cls):
    torch = pytest.importorskip("torch")
    p = np.full((2, 2), 0.5)
    y = torch.ones((2, 2), dtype=torch.float64)
    for pred, target in ((p, y), (y, p)):
        with pytest.raises(gpubp.DeviceMismatchError) as info:
            cls().forward(pred, target)
        assert "numpy" in str(info.value) and "torch" in str(info.value)


# -- bad input and the name table ---------------------------------------------


def test_shape_mismatch_is_an_error(case):
    with pytest.raises(gpubp.GpubpError, match="does not match"):
        MSELoss().forward(case.asarray(np.zeros((3, 2))), case.asarray(np.zeros((2, 3))))


def test_cross_entropy_needs_two_dimensional_logits(case):
    with pytest.raises(gpubp.GpubpError, match="logits must be"):
        CrossEntropyLoss().forward(case.asarray(np.zeros(3)), case.asarray(np.zeros(3)))


def test_loss_names():
    assert {name: type(get_loss(name)) for name in LOSSES} == {
        "mse": MSELoss,
        "bce": BCEWithLogitsLoss,
        "bce_probs": BCELoss,
        "ce": CrossEntropyLoss,
        "squared_error": HalfMSELoss,
        "poisson": PoissonLoss,
    }
    with pytest.raises(gpubp.ParameterError, match="loss='hinge': must be one of mse"):
        get_loss("hinge")
