"""Data parallel (:mod:`gpubp.distributed`): the processes' parts of a data set make one data set for one model.

Each process validates its own part (which may hold no row, or only rows of
weight 0); :func:`check_parts` then checks, in one gather and one broadcast,
what only all the parts together can tell, and raises the same error on every
process -- a mismatch left alone would have the processes send buffers of
different sizes, or step through different batches, and wait on each other.
"""

from __future__ import annotations

from typing import Any

from .. import distributed
from ..backend import host, namespace
from ..errors import GpubpError
from . import inputs

#: Settings each process may set for itself: where it computes, its threads, its printing.
_PER_PROCESS = ("backend", "device", "threads", "verbose")


def _plain(value: Any) -> bool:
    """A setting compared across processes by its text (a generator's or device's text differs by address)."""
    return (
        value is None
        or isinstance(value, (bool, int, float, str))
        or (isinstance(value, tuple) and all(isinstance(v, (int, float, str)) for v in value))
    )


def check_parts(group: distributed.MPIGroup, p: dict[str, Any], X: Any, y: Any, weight: Any) -> None:
    """Data parallel: the parts make one data set for one model, or every process raises the same error.

    The settings and the columns of ``X`` and ``y`` must be the same on every process (else the processes
    would step through different batches, or send buffers of different sizes, and wait on each other for
    ever); the parts together must hold a row, and with weights a row of weight > 0.
    """
    cols = int(y.shape[1]) if y.ndim == 2 else 0
    total = -1.0 if weight is None else float(inputs.to_host(namespace(weight).sum(weight)))  # -1: no weights
    table = group.gather([int(X.shape[0]), int(X.shape[1]), cols, total])  # (size, 4)
    mine = {name: repr(value) for name, value in p.items() if name not in _PER_PROCESS and _plain(value)}
    settings_0 = group.broadcast(mine)
    with distributed.alike(group):
        differ = sorted(name for name in mine.keys() | settings_0.keys() if mine.get(name) != settings_0.get(name))
        differ = group.union(host.asarray(differ or [""], dtype=str))
        if any(differ):
            names = ", ".join(str(n) for n in differ if n)
            raise GpubpError(f"the processes were given different settings ({names}); every process must train "
                             "the same estimator")  # fmt: skip
        for column, what in ((1, "features (columns of X)"), (2, "target columns (of y)")):
            if len(set(table[:, column].tolist())) > 1:
                counts = ", ".join(f"{int(c)}" for c in table[:, column])
                raise GpubpError(f"the processes' parts of the data have different numbers of {what}: {counts}")
        if table[:, 0].sum() == 0:
            raise GpubpError("Found array with 0 sample(s) on every process while a minimum of 1 is required.")
        if len(set((table[:, 3] < 0).tolist())) > 1:
            raise GpubpError("sample_weight was given on some processes and not on others")
        if weight is not None and not table[:, 3].sum() > 0:
            raise GpubpError("Sample weights must contain at least one non-zero number (over all the processes).")
