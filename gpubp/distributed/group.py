"""The communicator: one MPI communicator behind the few collectives data-parallel training needs.

:class:`MPIGroup` is what the estimators and the command hold while training
together: the gradient reduction (the seam of :func:`gpubp.step.train_step`),
the epoch statistics, a few one-off agreements (the rows each process holds,
the classes, the generator's state, rank 0's initial weights). How a group
fails together is :mod:`.faults`. ``mpi4py`` is imported only when a group is made.

Reduction modes (``reduce=`` or ``GPUBP_MPI_REDUCE``):

``ordered`` (default)
    The flat buffers are gathered to rank 0, added in rank order and broadcast:
    every process receives the same bits, and a run repeats bit for bit. Two
    collectives per step; rank 0 receives N buffers.
``allreduce``
    One ``MPI_Allreduce``: the MPI library's own algorithm, faster for many
    processes or large models. MPICH and Open MPI give every process the same
    bits for a sum, but the MPI standard only recommends it.

Gradients on a GPU reach MPI in device memory when the MPI library is
CUDA-aware (``GPUBP_MPI_CUDA_AWARE=1``, or reported by mpi4py / the MPI-4.1
``mpi_memory_alloc_kinds``), the stream synchronised first; otherwise they are
staged through host memory (the counted copies of :mod:`gpubp.backend`, which
wait for the stream).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from ..backend import backend_of, device_name, host, install_hint, rank_device, synchronize, to_host
from ..errors import GpubpError, ParameterError, one_line
from .faults import Watchdog

#: Values of ``reduce``.
REDUCE_MODES: tuple[str, ...] = ("ordered", "allreduce")

#: Environment variables an MPI launcher sets: (size, rank) pairs (MPICH/Hydra, Intel MPI and Slurm's PMI-2,
#: Open MPI, PMIx, MVAPICH).
LAUNCHER_VARS: tuple[tuple[str, str], ...] = (
    ("PMI_SIZE", "PMI_RANK"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
    ("PMIX_SIZE", "PMIX_RANK"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),
)


_CURRENT: ContextVar[MPIGroup | None] = ContextVar("gpubp_group", default=None)


def current() -> MPIGroup | None:
    """The group whose ``with`` block is running (the estimators train data-parallel in it), or None."""
    return _CURRENT.get()


def launcher_size() -> int | None:
    """How many processes an MPI launcher started, from its environment; None outside one."""
    for size, _ in LAUNCHER_VARS:
        if os.environ.get(size, "").strip().isdigit():
            return int(os.environ[size])
    return None


def launcher_rank() -> int:
    """This process's rank as the launcher's environment says (0 outside one): who speaks before MPI is up."""
    for _, rank in LAUNCHER_VARS:
        if os.environ.get(rank, "").strip().isdigit():
            return int(os.environ[rank])
    return 0


def wants_mpi() -> bool:
    """Whether this process should train over MPI, from its environment alone (nothing imported):
    ``GPUBP_MPI=0`` refuses, ``GPUBP_MPI=1`` asks, otherwise a launcher that started several processes."""
    asked = os.environ.get("GPUBP_MPI", "").strip().lower()
    if asked in ("0", "no", "off", "false"):
        return False
    return asked in ("1", "yes", "on", "true") or (launcher_size() or 1) > 1


def launched() -> MPIGroup | None:
    """The processes an MPI launcher started, as a group; None for one process (mpi4py is then not imported).

    ``GPUBP_MPI=1`` asks for MPI without a recognised launcher, ``GPUBP_MPI=0``
    refuses it. One process under ``mpiexec -n 1`` trains alone.

    Raises
    ------
    GpubpError
        A launcher started several processes but mpi4py is not installed.
    """
    if not wants_mpi():
        return None
    group = MPIGroup()
    return group if group.size > 1 else None


def _mpi() -> Any:
    """mpi4py's MPI module (initialising MPI), or the error saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        size = launcher_size()
        started = f"an MPI launcher started {size} processes but " if size else ""
        hint = f"{install_hint('mpi')} (mpi4py, built against the MPI your launcher belongs to)"
        raise GpubpError(f"{started}mpi4py cannot be imported ({one_line(exc)}): {hint}") from None
    return MPI


class MPIGroup:
    """Processes training one model together over an MPI communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.
    reduce : {'ordered', 'allreduce'}, optional
        How gradients are summed (see the module's notes); default
        ``GPUBP_MPI_REDUCE``, else ``ordered``.

    Attributes
    ----------
    rank, size : int
        This process's rank and the number of processes.
    local_rank : int
        The rank among the processes on this machine: which GPU this process takes.
    cuda_aware : bool
        Whether device buffers go to MPI directly (else they are staged through the host).

    A group is a context manager: inside its ``with`` block the estimators train
    data-parallel (:func:`current`).
    """

    def __init__(self, comm: Any = None, *, reduce: str | None = None) -> None:
        MPI = _mpi()
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = int(self.comm.Get_rank()), int(self.comm.Get_size())
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank = int(node.Get_rank())
        node.Free()
        mode = reduce or os.environ.get("GPUBP_MPI_REDUCE", "").strip() or "ordered"
        if mode not in REDUCE_MODES:
            said = "reduce" if reduce else "GPUBP_MPI_REDUCE"
            raise ParameterError(said, f"must be one of {', '.join(REDUCE_MODES)}", mode)
        self.reduce = mode
        self.cuda_aware = _cuda_aware(MPI)
        self.watchdog = Watchdog(self)
        self._asked: Callable[[], bool] | None = None
        self.stopping = False
        self._tokens: list[Any] = []

    def __repr__(self) -> str:
        return f"MPIGroup(rank={self.rank}, size={self.size}, reduce={self.reduce!r})"

    def __enter__(self) -> MPIGroup:
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        _CURRENT.reset(self._tokens.pop())

    # -- the seam: one flat buffer per step ------------------------------------------------

    def reduce_gradients(self, params: Sequence[Any], batch_weight: Any) -> float:
        """Sum weight x gradient over the processes, divide by the total weight; returns that total.

        Each ``grad`` is the weighted mean over this process's rows of the batch
        (None: it had none) and ``batch_weight`` their weight. One flat buffer
        ``[weight x gradients..., weight, stop request]`` goes through MPI; the
        stop request is this process's :meth:`agreed_stop` flag.
        """
        first = params[0].data
        backend = backend_of(first)
        asked = 1.0 if self._asked is not None and self._asked() else 0.0
        size = sum(math.prod(p.shape) for p in params)
        if self.cuda_aware and device_name(backend.device).startswith("cuda"):
            grads, total, stop = self._on_device(params, batch_weight, asked, size)
        else:
            grads, total, stop = self._through_host(params, batch_weight, asked, size)
        self.stopping = stop
        xp, start = backend.xp, 0
        for p in params:
            count = math.prod(p.shape)
            p.grad = xp.reshape(grads[start : start + count], p.shape)
            start += count
        return total

    def _through_host(self, params: Sequence[Any], weight: Any, asked: float, size: int) -> tuple[Any, float, bool]:
        """The buffer staged through host memory (one copy each way; NumPy's gradients are host memory)."""
        first = params[0].data
        backend = backend_of(first)
        xp = backend.xp
        if isinstance(first, host.ndarray):
            buf = host.empty(size + 2, dtype=first.dtype)
            start = 0
            for p in params:
                count = math.prod(p.shape)
                buf[start : start + count] = 0 if p.grad is None else p.grad.reshape(-1)
                start += count
            buf[size] = weight
        else:
            if isinstance(weight, (int, float)):
                weight = backend.asarray([float(weight)], dtype=first.dtype)
            tail = [xp.reshape(xp.astype(weight, first.dtype), (1,)), backend.asarray([0.0], dtype=first.dtype)]
            buf = to_host(xp.concat([*(_flat(p, xp) for p in params), *tail]))  # staging: it waits for the stream
            if not buf.flags.writeable:
                buf = buf.copy()
        buf[-1] = asked
        if buf[size] > 0:
            buf[:size] *= buf[size]
        else:  # a part whose rows weigh nothing adds nothing (its 0/0 mean is not 0 x NaN)
            buf[:size] = 0
        out = self._sum(buf, host)
        total = float(out[size])
        grads = out[:size]
        grads /= out[size]
        if not isinstance(first, host.ndarray):
            grads = backend.asarray(grads, dtype=first.dtype)
        return grads, total, bool(out[-1] > 0)

    def _on_device(self, params: Sequence[Any], weight: Any, asked: float, size: int) -> tuple[Any, float, bool]:
        """The buffer in device memory, for a CUDA-aware MPI: the stream synchronised before MPI reads it."""
        first = params[0].data
        backend = backend_of(first)
        xp = backend.xp
        if isinstance(weight, (int, float)):
            weight = backend.asarray(float(weight), dtype=first.dtype)
        weight = xp.astype(weight, first.dtype)
        grads = xp.concat([_flat(p, xp) for p in params])
        grads = xp.where(weight > 0, grads * weight, xp.zeros_like(grads))
        flat = xp.concat([grads, xp.reshape(weight, (1,)), backend.asarray([asked], dtype=first.dtype)])
        synchronize(backend)  # MPI reads device memory the stream may still be writing
        out = self._sum(flat, xp)
        head = to_host(out[size:])  # total weight, stop requests
        return out[:size] / float(head[0]), float(head[0]), bool(head[1] > 0)

    def _sum(self, buf: Any, xp: Any) -> Any:
        """The element-wise sum of every process's ``buf``, the same bits on all (see the reduction modes)."""
        with self.watchdog.watching():
            return self._sum_now(buf, xp)

    def _sum_now(self, buf: Any, xp: Any) -> Any:
        if self.reduce == "allreduce":
            out = xp.empty_like(buf)
            self.comm.Allreduce(buf, out, op=self._MPI.SUM)
            return out
        where = {} if xp is host else {"device": buf.device}
        table = xp.empty((self.size, buf.shape[0]), dtype=buf.dtype, **where) if self.rank == 0 else None
        self.comm.Gather(buf, table, root=0)
        if self.rank == 0:
            out = _sum_rows(table)
            if xp is not host:
                synchronize(backend_of(out))
        else:
            out = xp.empty_like(buf)
        self.comm.Bcast(out, root=0)
        return out

    def agreed_stop(self, should_stop: Callable[[], bool] | None) -> Callable[[], bool]:
        """The trainer's ``should_stop``: this process's own request rides on every gradient reduction, and
        the answer -- whether any process asked -- is the same on all, after the same step."""
        self._asked, self.stopping = should_stop, False
        return lambda: self.stopping

    # -- statistics and one-off agreements --------------------------------------------------

    def gather(self, values: Any) -> Any:
        """A host vector from every process, as a (size, k) float64 table in rank order, on every process."""
        values = host.ascontiguousarray(values, dtype=host.float64).reshape(-1)
        table = host.empty((self.size, values.shape[0]), dtype=host.float64)
        with self.watchdog.watching():
            self.comm.Allgather(values, table)
        return table

    def sum(self, values: Any) -> Any:
        """Host vectors summed over the processes in rank order (the same bits on all); float64."""
        return _sum_rows(self.gather(values))

    def concat(self, values: Any) -> Any:
        """Every process's 1-D host array, concatenated in rank order, on every process."""
        values = host.ascontiguousarray(values).reshape(-1)
        with self.watchdog.watching():
            if values.dtype.kind not in "biuf":
                return host.concatenate(self.comm.allgather(values))
            counts = [int(c) for c in self.comm.allgather(values.shape[0])]
            out = host.empty(sum(counts), dtype=values.dtype)
            self.comm.Allgatherv(values, [out, counts])
        return out

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any process (the same answer on all)."""
        with self.watchdog.watching():
            return bool(self.comm.allreduce(1 if flag else 0, op=self._MPI.MAX))

    def union(self, labels: Any) -> Any:
        """The sorted distinct values found on any process (the classes of a data set spread over them)."""
        with self.watchdog.watching():
            parts = self.comm.allgather(host.unique(host.asarray(labels)))
        return host.unique(host.concatenate(parts))

    def rows(self, held: int) -> tuple[int, int]:
        """(offset, total): the data set is every process's rows in rank order; this one holds ``held``."""
        with self.watchdog.watching():
            counts = [int(c) for c in self.comm.allgather(int(held))]
        return sum(counts[: self.rank]), sum(counts)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every process."""
        with self.watchdog.watching():
            return self.comm.bcast(value if self.rank == 0 else None, root=0)

    def same_rng(self, rng: Any) -> Any:
        """``rng`` (a NumPy Generator) set to rank 0's state, so every process draws the same numbers."""
        rng.bit_generator.state = self.broadcast(rng.bit_generator.state)
        return rng

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        """Rank 0's parameter values on every process: one flat buffer."""
        backend = backend_of(params[0].data)
        xp = backend.xp
        flat = to_host(xp.concat([xp.reshape(p.data, (-1,)) for p in params]), copy=True)
        with self.watchdog.watching():
            self.comm.Bcast(flat, root=0)
        if self.rank == 0:
            return
        start = 0
        for p in params:
            count = math.prod(p.shape)
            p.data = backend.asarray(flat[start : start + count].reshape(p.shape), dtype=p.data.dtype)
            start += count

    def device_for(self, backend: str, device: Any) -> Any:
        """The device this process trains on: ``device`` if given, else its node-local rank's GPU."""
        return rank_device(backend, device, self.local_rank)

    def abort(self, code: int) -> None:
        """End every process of the group now (``MPI_Abort``): the way out when one fails alone."""
        self.comm.Abort(code)


def data_parallel(comm: Any = None, *, reduce: str | None = None) -> MPIGroup:
    """A group over ``comm`` (default ``MPI.COMM_WORLD``), to train in: ``with data_parallel(): est.fit(X, y)``."""
    return MPIGroup(comm, reduce=reduce)


def _sum_rows(table: Any) -> Any:
    """The rows of a (size, m) table added in rank order, into its first row."""
    out = table[0, ...]
    for i in range(1, table.shape[0]):
        out += table[i, ...]
    return out


def _flat(p: Any, xp: Any) -> Any:
    """A parameter's gradient as one row (zeros where it has none: no row of the batch was here)."""
    if p.grad is None:
        return xp.zeros((math.prod(p.shape),), dtype=p.data.dtype, device=p.data.device)
    return xp.reshape(p.grad, (-1,))


def _cuda_aware(MPI: Any) -> bool:
    """Whether the MPI library takes CUDA device buffers: GPUBP_MPI_CUDA_AWARE, mpi4py, or MPI-4.1's info."""
    said = os.environ.get("GPUBP_MPI_CUDA_AWARE", "").strip().lower()
    if said:
        return said in ("1", "yes", "on", "true")
    query = getattr(MPI, "Query_cuda_support", None)
    if query is not None:
        try:
            return bool(query())
        except Exception:  # an MPI without the MPIX extension
            pass
    try:
        kinds = MPI.INFO_ENV.Get("mpi_memory_alloc_kinds")
    except Exception:  # an MPI before 4.1
        return False
    return bool(kinds) and "cuda" in str(kinds)
