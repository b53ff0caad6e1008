"""The host-sync budget: a training step never reads a device array back to the host.

On array-api-strict's ``device1`` (our stand-in accelerator) every implicit
conversion of a device array -- float(), int(), bool(), index use, NumPy
conversion -- is made to fail for the whole fit. Training must still work, and
the only reads are the counted ones of ``gpubp.backend.to_host``: one per epoch.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpubp
from gpubp.backend import resolve, transfer_counts
from gpubp.datasets import load_dataset

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


@pytest.mark.parametrize("task_data", ["xor", "sine"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_fit_makes_one_read_and_one_copy_per_epoch(no_implicit_sync, task_data, optimizer):
    ds = load_dataset(task_data, seed=0)
    model = gpubp.Model(
        hidden=(8,), optimizer=optimizer, max_epochs=3, patience=100, backend="array_api_strict", device="device1"
    )
    labels = np.asarray(ds.classes)[ds.y] if ds.task == "classify" else ds.y
    before = transfer_counts()
    history = model.fit(ds.X, labels)
    after = transfer_counts()
    assert len(history.epochs) == 3
    for record in history.epochs:
        assert record["to_host"] == 1, record  # the statistics vector, once per epoch
        assert record["to_device"] == 1, record  # the epoch's permutation
        assert record["steps"] > 1
    # Outside the epochs: the initial weights (one array per Linear, drawn on the host)
    # and the data (train and validation X and y) go up once; nothing else comes down.
    n_linear = sum(isinstance(layer, gpubp.Linear) for layer in model.net.layers)
    assert after["to_host"] - before["to_host"] == 3
    assert after["to_device"] - before["to_device"] == 3 + n_linear + 4


def test_train_step_alone_makes_no_transfer(no_implicit_sync):
    backend = resolve("array_api_strict", "device1")
    net = gpubp.mlp([4, 8, 3], backend=backend)
    opt = gpubp.Adam(net.parameters())
    rng = np.random.default_rng(0)
    X = backend.asarray(rng.normal(size=(16, 4)), dtype=backend.xp.float32)
    y = backend.asarray(rng.integers(0, 3, size=16), dtype=backend.xp.int64)
    before = transfer_counts()
    for _ in range(3):
        loss = gpubp.train_step(net, gpubp.CrossEntropyLoss(), opt, X, y)
    assert transfer_counts() == before
    assert loss.device == no_implicit_sync
