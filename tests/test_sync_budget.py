"""The host-sync budget: a training step never reads a device array back to the host.

On array-api-strict's ``device1`` (our stand-in accelerator) every implicit
conversion of a device array -- float(), int(), bool(), index use, NumPy
conversion -- is made to fail for the whole fit. Training must still work, and
the only reads are the counted ones of ``gpubp.backend.to_host``: one per epoch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp.backend import resolve, transfer_counts
from gpubp.data import decide_task, load_dataset

xps = pytest.importorskip("array_api_strict")


class HiddenSync(AssertionError):
    """Raised by an implicit device-to-host conversion."""


@pytest.fixture
def no_implicit_sync(monkeypatch):
    """Make float/int/bool/index/NumPy conversions of device1 arrays raise."""
    device1 = xps.Device("device1")
    Array = type(xps.asarray(0.0))

    def guard(name):
        original = getattr(Array, name)

        def conversion(self, *args, **kwargs):
            if self.device == device1:
                raise HiddenSync(f"{name} of a device array inside training")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Array, name, conversion)

    for name in ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__array__", "__dlpack__"):
        if hasattr(Array, name):
            guard(name)
    return device1


def test_guard_catches_an_implicit_conversion(no_implicit_sync):
    x = xps.asarray([1.0, 2.0], device=no_implicit_sync)
    with pytest.raises(HiddenSync):
        float(xps.sum(x))
    with pytest.raises(HiddenSync):
        bool(x[0] > 0)
    with pytest.raises((HiddenSync, RuntimeError)):
        np.asarray(x)


def _estimator(task, solver, momentum=0.9, **kwargs):
    Est = gpubp.MLPClassifier if task == "classify" else gpubp.MLPRegressor
    return Est(hidden_layer_sizes=(8,), solver=solver, momentum=momentum, max_iter=3, n_iter_no_change=100, **kwargs)


@pytest.mark.parametrize("data", ["xor", "sine"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_fit_makes_one_read_and_one_copy_per_epoch(no_implicit_sync, data, solver, early_stopping):
    task, y = decide_task(load_dataset(data, seed=0), "auto")
    X = load_dataset(data, seed=0).X
    est = _estimator(task, solver, backend="array_api_strict", device="device1", early_stopping=early_stopping)
    before = transfer_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    after = transfer_counts()
    assert len(est.history_.epochs) == 3
    for record in est.history_.epochs:
        assert record["to_host"] == 1, record  # the statistics vector, once per epoch
        assert record["to_device"] == 1, record  # the epoch's permutation
        assert record["steps"] > 1
    # Outside the epochs: the initial weights and biases (drawn on the host), the data (X and y), and with
    # early stopping the validation rows go up, and the labels come down once to stratify the split
    # (regression: the validation targets' spread comes down once, for R^2).
    n_linear = sum(isinstance(layer, gpubp.Linear) for layer in est.network_.layers)
    assert after["to_device"] - before["to_device"] == 3 + 2 * n_linear + 2 + early_stopping
    assert after["to_host"] - before["to_host"] == 3 + early_stopping


def test_data_already_on_the_device_is_never_copied(no_implicit_sync):
    rng = np.random.default_rng(0)
    X = xps.asarray(rng.normal(size=(64, 3)), dtype=xps.float32, device=no_implicit_sync)
    y = xps.asarray(rng.normal(size=64), dtype=xps.float32, device=no_implicit_sync)
    est = _estimator("regress", "adam")
    before = transfer_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    after = transfer_counts()
    n_linear = 2
    assert after["to_device"] - before["to_device"] == 3 + 2 * n_linear  # the permutations and the weights only
    assert (
        after["to_host"] - before["to_host"] == 3 + 2
    )  # the statistics, and one explicit check each that X, y are finite
    pred = est.predict(X)
    assert pred.device == no_implicit_sync and pred.shape == (64,)


def test_train_step_alone_makes_no_transfer(no_implicit_sync):
    backend = resolve("array_api_strict", "device1")
    net = gpubp.mlp([4, 8, 3], backend=backend)
    opt = gpubp.Adam(net.parameters())
    rng = np.random.default_rng(0)
    X = backend.asarray(rng.normal(size=(16, 4)), dtype=backend.xp.float32)
    y = backend.asarray(rng.integers(0, 3, size=16), dtype=backend.xp.int64)
    w = backend.asarray(rng.uniform(size=16), dtype=backend.xp.float32)
    before = transfer_counts()
    for _ in range(3):
        loss = gpubp.train_step(net, gpubp.CrossEntropyLoss(), opt, X, y, weight=w, alpha=1e-3)
    assert transfer_counts() == before
    assert loss.device == no_implicit_sync
