"""Device out-of-memory during training becomes a one-line error with the batch size."""

from __future__ import annotations

import pytest

import gpubp
from gpubp.data import load_dataset


def test_out_of_memory_becomes_a_clear_error(monkeypatch):
    """A device allocation failure names the batch size and suggests a smaller one."""

    class OutOfMemoryError(Exception):  # the name CuPy and PyTorch both use
        pass

    def exhausted(*args, **kwargs):
        raise OutOfMemoryError("out of memory allocating 1073741824 bytes")

    monkeypatch.setattr(gpubp.train, "train_step", exhausted)
    ds = load_dataset("xor", seed=0)
    model = gpubp.MLPClassifier((8,), batch_size=32, max_iter=2, backend="numpy")
    with pytest.raises(gpubp.GpubpError, match=r"out of memory on numpy on cpu with batch_size 32: try batch_size 16"):
        model.fit(ds.X, ds.y)
