"""How a job is told to stop, and what the command does about it.

These signals mean "stop": SIGINT (Ctrl-C), SIGTERM (``kill``, ``timeout``,
Slurm, Kubernetes, systemd, ``docker stop``), SIGHUP (the terminal or SSH
session went away), SIGXCPU (the CPU-time limit, ``ulimit -t``, before the
kernel's SIGKILL) and SIGUSR1/SIGUSR2 (what a batch system sends ahead of a
time limit when asked, e.g. Slurm's ``--signal=USR1@120``). Left alone, each
of them would kill the process without a checkpoint. Each is handled the same
way:

* outside training's epochs the command stops at once: the handler raises
  :class:`Interrupted` (a ``KeyboardInterrupt``, so every writer's clean-up
  runs and no temporary file is left);
* during the epochs (:meth:`Stop.deferred`) the first signal sets a flag that
  the fit loop polls after each step; the step finishes, the checkpoint is
  saved and the command says how to resume; a second signal stops at once.

A signal that was ignored when gpubp started stays ignored (``nohup`` ignores
SIGHUP; a shell ignores SIGINT for a job started with ``&``). The exit code is
128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP,
152 for SIGXCPU, 138 and 140 for SIGUSR1 and SIGUSR2 (on Linux). SIGKILL cannot
be handled: what it leaves is still consistent (every write is atomic) and the
next run of the folder removes its temporary files. A signal in the first
fraction of a second, while Python imports gpubp, meets the default action: the
process ends and has written nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupted(KeyboardInterrupt):
    """A stop signal came: ``signum`` says which; the command exits with :attr:`exit_code`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def what(self) -> str:
        """``interrupted`` (Ctrl-C) or ``interrupted by SIGTERM``, for messages."""
        return "interrupted" if self.signum == signal.SIGINT else f"interrupted by {signal.Signals(self.signum).name}"


class Stop:
    """The stop signals' handler while the command runs (a context manager); see the module's docstring."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGXCPU", "SIGUSR1", "SIGUSR2")
        if hasattr(signal, name)
    )  # fmt: skip

    def __init__(self, *, last: bool = False) -> None:
        self.signum: int | None = None
        self._defer = False
        self._previous: dict[int, Any] = {}
        self._last = last

    def __enter__(self) -> Stop:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may handle signals; there the defaults stay
        for signum in self.SIGNALS:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue  # nohup, or a background job: the user asked for this one to be ignored
            self._previous[signum] = signal.signal(signum, self._handle)
            outer = getattr(self._previous[signum], "__self__", None)
            if isinstance(outer, Stop) and outer.signum is not None and self.signum is None:
                self.signum = outer.signum  # a signal the enclosing handler deferred: still to be acted on
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            # ``last``: the process ends once the command has said how it ended; a signal while the interpreter
            # shuts down (a second or so with torch loaded) would kill it silently, a finished run's exit 0 lost.
            signal.signal(signum, signal.SIG_IGN if self._last else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self._defer and self.signum is None:
            self.signum = signum  # the fit loop finishes its step and saves
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[Stop]:
        """Within this block the first signal only sets the flag :meth:`is_set` reads."""
        self._defer = True
        try:
            yield self
        finally:
            self._defer = False

    def is_set(self) -> bool:
        """A signal came while deferred."""
        return self.signum is not None

    def interrupted(self) -> Interrupted:
        """The exception for the signal that came."""
        return Interrupted(self.signum or signal.SIGINT)
