"""What the command writes besides its run folder's files: progress lines, stdout, the metrics log, atomic text.

Every write that fails -- a full disk, ``/dev/full``, a read-only folder, a
closed pipe, a stream closed before gpubp started -- is the user's
:class:`WriteFailed` (exit 2, one line naming what could not be written), never
an internal error; the command adds what was already saved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..backend import default_backend_name, resolve
from ..errors import GpubpError


class WriteFailed(GpubpError):
    """A file or stream could not be written (full disk, read-only folder, closed pipe): the user's error, exit 2."""


def reason(exc: OSError) -> str:
    """An OSError's reason in words, without the file name."""
    if isinstance(exc, BrokenPipeError):
        return "the reader closed the pipe"
    return (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")


def write_text(path: str | None, text: str, flag: str = "--out") -> None:
    """To stdout, or atomically to ``path`` (a temporary file renamed into place).

    A link or something other than a regular file (``/dev/stdout``, a FIFO) is
    written through, never replaced by the rename.
    """
    if path is None:
        emit(text)
        return
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)):
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            link = f" through the symbolic link to {os.readlink(path)}" if os.path.islink(path) else ""
            raise WriteFailed(f"{flag} {path}: cannot write{link} ({reason(exc)})") from None
        return
    if os.path.isdir(path):
        raise WriteFailed(f"{flag} {path}: is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise WriteFailed(f"{flag} {path}: cannot write (folder {os.path.dirname(path) or folder} does not exist)")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException as exc:  # a signal mid-write too: leave no temporary file
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(f"{flag} {path}: cannot write ({reason(exc)})") from None
        raise


def emit(text: str) -> None:
    """Write ``text`` to standard output now; a full disk or a closed pipe there is a :class:`WriteFailed`."""
    if sys.stdout is None:  # started with stdout closed (>&-)
        raise WriteFailed("standard output: cannot write (it is closed)")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        raise WriteFailed(f"standard output: cannot write ({reason(exc)})") from None


class StandardOutput:
    """Standard output as a stream for ``print(..., file=...)``: each write is :func:`emit`'s, failing as it does."""

    def write(self, text: str) -> int:
        emit(text)
        return len(text)

    def flush(self) -> None:
        """Every write is flushed already."""


def _silence_stdout() -> None:
    """Point the stdout file descriptor at /dev/null, so the flush at exit does not fail a second time."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class MetricsLog:
    """Appends each epoch's record to ``metrics.jsonl`` (one JSON line, flushed)."""

    def __init__(self, path: str, on_first: Callable[[], None] = lambda: None) -> None:
        self.path, self.on_first = path, on_first

    def __call__(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise WriteFailed(f"cannot write the metrics log {self.path}: {reason(exc)}") from None
        self.on_first()


class Progress:
    """A tqdm bar with one tick per epoch showing the losses and the validation score (terminals only)."""

    SHOWN = ("train_loss", "val_loss", "val_accuracy", "val_r2")

    def __init__(self, total: int, initial: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="epoch", leave=False, dynamic_ncols=True)

    def __call__(self, record: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a terminal that went away does not stop training
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in self.SHOWN and v is not None})

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.bar.close()


class Say:
    """The command's progress lines: on stdout, or stderr with --json; held until an epoch runs with --json.

    A line that cannot be written to stdout (a full disk, a closed pipe) is a
    :class:`WriteFailed`; on stderr it is dropped (nowhere is left to say so).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet, self.held = args.quiet, [] if args.json else None
        self.to_stderr = bool(args.json)

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        if self.held is not None:
            self.held.append(message)
        elif self.to_stderr:
            tell(message)
        else:
            emit(message + "\n")

    def release(self) -> None:
        """An epoch ran, so the input was good: say what was held."""
        held, self.held = self.held, None
        for message in held or ():
            self(message)


def say_backend(est: Any, say: Callable[[str], None], group: Any = None) -> None:
    backend = est._backend if "_backend" in est.__dict__ else _resolve(est, group)
    reason = f" ({backend.reason})" if backend.reason else ""
    processes = "" if group is None else f" (rank 0 of {group.size} processes, each on its own device)"
    say(f"using {backend.describe()}{reason}{processes}")


def _resolve(est: Any, group: Any = None) -> Any:
    name = est.backend if est.backend != "auto" else default_backend_name("auto")
    return resolve(name, est.device if group is None else group.device_for(name, est.device))


def tell(line: str) -> None:
    """A line on stderr, if there is a stderr to write to."""
    if sys.stderr is None:  # closed at start: print would fall back to stdout
        return
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)
