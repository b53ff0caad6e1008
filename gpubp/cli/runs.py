"""Run folders and what the command writes into them: claiming a folder, the per-epoch log, signals.

A run folder belongs to one run: it is created (claimed) atomically before any
work, and a failed run removes the folders it made. Text goes to files through
one atomic writer (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import GpubpError

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


def make_run_dir(out: str | None) -> tuple[str, str | None]:
    """Create the run folder; returns (path, the topmost folder this made or None) so a failed run can remove it."""
    path = out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    if os.path.exists(path) and not os.path.isdir(path):
        raise GpubpError(f"--out {path}: exists and is not a folder")
    for kept in (MODEL_FILE, CHECKPOINT_FILE):
        if os.path.exists(os.path.join(path, kept)):
            hint = f"continue it with --resume {path}" if kept == CHECKPOINT_FILE else "choose another --out"
            raise GpubpError(f"--out {path}: already holds a run ({kept}); {hint}")
    created = None  # e.g. runs/ itself when it did not exist yet
    missing = os.path.abspath(path)
    while not os.path.exists(missing):
        created, missing = missing, os.path.dirname(missing)
    try:
        if out is None:  # claim a fresh folder atomically: two runs started in one second never share it
            os.makedirs(os.path.dirname(path), exist_ok=True)
            base, n = path, 1
            while True:
                try:
                    os.mkdir(path)
                    break
                except FileExistsError:
                    n += 1
                    path = f"{base}-{n}"
            if created == os.path.abspath(base):
                created = os.path.abspath(path)
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".gpubp-write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        if created is not None:
            remove_run_dir(path, created)
        raise GpubpError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None
    return path, created


def remove_run_dir(path: str, created: str | None) -> None:
    """Remove the run folder and the folders above it that ``make_run_dir`` made, while empty (never another run)."""
    if created is None:
        return
    shutil.rmtree(path, ignore_errors=True)
    folder = os.path.abspath(path)
    while folder != created:
        folder = os.path.dirname(folder)
        try:
            os.rmdir(folder)  # fails if another run put something there meanwhile
        except OSError:
            return


def write_text(path: str | None, text: str, flag: str = "--out") -> None:
    """To stdout, or atomically to ``path`` (a temporary file renamed into place).

    A link or something other than a regular file (``/dev/stdout``, a FIFO) is
    written through, never replaced by the rename.
    """
    if path is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise GpubpError(f"standard output: cannot write ({exc.strerror or exc})") from None
        return
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)):
        try:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise GpubpError(f"{flag} {path}: cannot write ({exc.strerror or exc})") from None
        return
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise GpubpError(f"{flag} {path}: cannot write ({exc.strerror or exc})") from None


class Stop:
    """SIGINT and SIGTERM set a flag the fit loop polls after each step; a second one aborts at once.

    ``exit_code`` is what the command returns for the signal that came: 130
    for Ctrl-C, 143 for SIGTERM (what ``kill``, Slurm, Kubernetes and ``docker
    stop`` send).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def is_set(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


class MetricsLog:
    """Appends each epoch's record to ``metrics.jsonl`` (one JSON line, flushed)."""

    def __init__(self, path: str, on_first: Callable[[], None] = lambda: None) -> None:
        self.path, self.on_first = path, on_first

    def __call__(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        self.on_first()


class Progress:
    """A tqdm bar with one tick per epoch showing the losses and the validation score (terminals only)."""

    SHOWN = ("train_loss", "val_loss", "val_accuracy", "val_r2")

    def __init__(self, total: int, initial: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="epoch", leave=False, dynamic_ncols=True)

    def __call__(self, record: dict[str, Any]) -> None:
        self.bar.update(1)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in self.SHOWN and v is not None})

    def close(self) -> None:
        self.bar.close()
