"""Any array library in, the same library out.

A torch tensor or an array-api-strict array on a non-default device is trained
on where it is; predictions come back in the library and on the device of the
``X`` they were made for. NumPy input with another backend moves once.
"""

from __future__ import annotations

import warnings

import array_api_compat
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp import MLPClassifier, MLPRegressor

xps = pytest.importorskip("array_api_strict")


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64), X @ np.array([1.0, -2.0, 0.5])


def fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def test_array_api_strict_on_device1_in_and_out():
    X, y, _ = data()
    device1 = xps.Device("device1")
    Xd = xps.asarray(X, dtype=xps.float32, device=device1)
    yd = xps.asarray(y, device=device1)
    est = fit(MLPClassifier((8,), max_iter=30, random_state=0), Xd, yd)
    assert est.backend_ == "array_api_strict on device1"
    assert array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(est.coefs_[0]))
    pred, proba = est.predict(Xd), est.predict_proba(Xd)
    for out, shape in ((pred, (120,)), (proba, (120, 2))):
        assert type(out) is type(Xd) and out.device == device1 and tuple(out.shape) == shape
    assert est.classes_.device == device1  # the labels were device arrays: so are the classes
    host_pred = est.predict(X)  # NumPy in, NumPy out, from the same model
    assert isinstance(host_pred, np.ndarray)
    np.testing.assert_array_equal(host_pred, np.asarray(pred.to_device(xps.Device("CPU_DEVICE"))))
    assert 0.8 < est.score(Xd, yd) <= 1.0


def test_torch_tensors_train_in_torch_and_predict_torch():
    torch = pytest.importorskip("torch")
    X, _, y = data()
    est = fit(MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0), torch.asarray(X), torch.asarray(y))
    assert est.backend_ == "torch on cpu" and isinstance(est.coefs_[0], torch.Tensor)
    pred = est.predict(torch.asarray(X))
    assert isinstance(pred, torch.Tensor) and pred.dtype == torch.float32 and tuple(pred.shape) == (120,)
    np.testing.assert_allclose(pred.numpy(), est.predict(X), rtol=1e-6)
    assert est.score(torch.asarray(X), torch.asarray(y)) == pytest.approx(est.score(X, y), rel=1e-5)


def test_torch_labels_and_mixed_inputs():
    torch = pytest.importorskip("torch")
    X, y, _ = data()
    est = fit(MLPClassifier((8,), max_iter=20, random_state=0), torch.asarray(X), y)  # y stays NumPy
    assert isinstance(est.predict(torch.asarray(X)), torch.Tensor)
    weighted = fit(MLPClassifier((8,), max_iter=2, random_state=0), torch.asarray(X), torch.asarray(y),
                   sample_weight=torch.ones(120, dtype=torch.float64))  # fmt: skip
    assert weighted.n_iter_ == 2


def test_numpy_with_another_backend_moves_once_and_comes_back_numpy():
    pytest.importorskip("torch")
    X, y, _ = data()
    est = fit(MLPClassifier((8,), max_iter=5, backend="torch", random_state=0), X, y)
    assert est.backend_ == "torch on cpu"
    assert isinstance(est.predict(X), np.ndarray) and isinstance(est.predict_proba(X), np.ndarray)


def test_the_same_seed_gives_the_same_model_on_every_backend():
    pytest.importorskip("torch")
    X, y, _ = data()
    models = [
        fit(MLPClassifier((8,), max_iter=5, random_state=3, backend=b, dtype="float64"), X, y)
        for b in ("numpy", "torch", "array_api_strict")
    ]
    reference = models[0].predict_proba(X)
    for other in models[1:]:
        np.testing.assert_allclose(other.predict_proba(X), reference, rtol=1e-9, atol=1e-12)


def test_device_inputs_are_checked_where_they_are():
    X, y, _ = data()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(gpubp.GpubpError, match="NaN or infinity"):
        MLPClassifier().fit(xps.asarray(bad), xps.asarray(y))
    with pytest.raises(gpubp.GpubpError, match="2-D"):
        MLPClassifier().fit(xps.asarray(X[:, 0]), xps.asarray(y))
    with pytest.raises(gpubp.GpubpError, match="continuous"):
        MLPClassifier().fit(xps.asarray(X), xps.asarray(X[:, 0]))
