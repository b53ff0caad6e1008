"""How processes training together fail together: agreement on errors, and a watchdog on collectives.

A process that raises while the others wait in a collective would leave them
waiting forever. Three mechanisms keep every failure a failure of all:

* :func:`agreed` wraps local work (reading, checking input): one allgather at
  its end tells every process whether any failed, and all raise the first
  failure's message (:class:`ProcessFailed` on the others).
* :func:`alike` marks errors raised from data every process shares (the
  split, the network's size): each process raises the same error by itself.
* What one process meets alone during training (out of memory, a full disk)
  cannot be agreed: the command prints it and aborts the group (``MPI_Abort``).
  :func:`is_agreed` tells the two apart.

The :class:`Watchdog` (``GPUBP_MPI_TIMEOUT`` seconds, default 300; 0 turns it
off) guards every collective of the group, from the agreement on the data read
to the last evaluation: a process that waits longer for the others -- one was
killed under a launcher that does not end the rest, or hangs, in training or
while reading its data -- says so and aborts them all (exit 124). ``mpiexec`` (Hydra, Open MPI)
and ``srun --kill-on-bad-exit=1`` end the others at once when one dies.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import GpubpError, one_line

if TYPE_CHECKING:
    from .group import MPIGroup

#: Seconds a training collective may wait for the other processes before the watchdog aborts them all.
DEFAULT_TIMEOUT = 300.0

#: Exit code of a watchdog abort (as ``timeout`` uses).
TIMEOUT_EXIT = 124


class ProcessFailed(GpubpError):
    """Another process of the group failed; its message, and its exit code, are this error's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def is_agreed(exc: BaseException) -> bool:
    """Whether every process of the group raised ``exc`` (so none is left waiting in a collective)."""
    return bool(getattr(exc, "gpubp_agreed", False))


def mark_agreed(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised on every process of the group (see :func:`is_agreed`); returns it."""
    exc.gpubp_agreed = True  # type: ignore[attr-defined]
    return exc


def _describe(exc: BaseException) -> tuple[str, int]:
    """(one line, exit code) of an error, as the command would report it."""
    if isinstance(exc, GpubpError):
        return one_line(exc), int(exc.exit_code)
    return f"internal error: {type(exc).__name__}: {one_line(str(exc))}", 1


@contextlib.contextmanager
def agreed(group: MPIGroup | None) -> Iterator[None]:
    """A block of local work (reading, checking): if it fails on any process, it fails on every one.

    One allgather at the end. The first process that failed raises its own
    error; the others raise :class:`ProcessFailed` with its message and exit
    code. Nothing in the block may be collective. For one process (``group``
    None), nothing happens.
    """
    if group is None:
        yield
        return
    error: Exception | None = None
    try:
        yield
    except Exception as exc:
        error = exc
    with group.watchdog.watching():  # a process that never ends its part (a hung read) ends every process
        said = group.comm.allgather(None if error is None else _describe(error))
    failed = [(rank, what) for rank, what in enumerate(said) if what is not None]
    if not failed:
        return
    rank, (text, code) = failed[0]
    if error is not None and rank == group.rank:
        raise mark_agreed(error)
    raise mark_agreed(ProcessFailed(f"process {rank} of {group.size}: {text}", code)) from None


@contextlib.contextmanager
def alike(group: MPIGroup | None) -> Iterator[None]:
    """A block whose errors (GpubpError) come from data every process shares: raised on all at once."""
    try:
        yield
    except GpubpError as exc:
        if group is not None:
            mark_agreed(exc)
        raise


class Watchdog:
    """Aborts the group when a collective waits too long (see the module's notes).

    The deadline is staggered by rank (a second per rank, up to ten), so the
    first process left waiting is the one that speaks.
    """

    def __init__(self, group: MPIGroup) -> None:
        self.group = group
        self.timeout = timeout_from_env()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """A collective under the watchdog: waiting more than ``timeout`` seconds aborts every process."""
        if not self.timeout:
            yield
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="gpubp-mpi-watchdog", daemon=True)
            self._thread.start()
        self._deadline = time.monotonic() + self.timeout + min(self.group.rank, 10)
        try:
            yield
        finally:
            self._deadline = None

    def _watch(self) -> None:
        """The watchdog thread: wakes every second (sooner for short timeouts) and checks the deadline."""
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                g = self.group
                print(
                    f"gpubp: error: process {g.rank} of {g.size} waited more than {self.timeout:g} s for the "
                    "others (one was killed or hangs; GPUBP_MPI_TIMEOUT sets the limit); stopping them all",
                    file=sys.stderr,
                    flush=True,
                )
                threading.Timer(10.0, os._exit, (TIMEOUT_EXIT,)).start()  # should MPI_Abort itself hang
                g.abort(TIMEOUT_EXIT)


def timeout_from_env() -> float:
    """GPUBP_MPI_TIMEOUT in seconds (0: no watchdog), else :data:`DEFAULT_TIMEOUT`."""
    text = os.environ.get("GPUBP_MPI_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise GpubpError(f"GPUBP_MPI_TIMEOUT={text!r}: must be a number of seconds (0: no watchdog)") from None
    if not math.isfinite(value) or value < 0:
        raise GpubpError(f"GPUBP_MPI_TIMEOUT={text!r}: must be a number of seconds >= 0 (0: no watchdog)")
    return value
