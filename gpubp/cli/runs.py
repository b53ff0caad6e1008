"""Run folders: the files a run writes, claiming (and locking) a folder, removing what a failed run made.

A run folder belongs to one run. It is claimed before any work: made (a new
run's folder is created atomically with ``mkdir``) and then locked with
``flock`` on ``.gpubp.lock`` for the run's lifetime, so a second ``gpubp
train`` with the same ``--out``, or a ``--resume`` of a run still training, is
refused; whether the folder already holds a run is looked at under the lock.
The lock belongs to the open file, not to the file's existence: the kernel
drops it when the process ends in any way (SIGKILL included), so a killed run
leaves a harmless ``.gpubp.lock`` and never blocks the folder. On NFS, Linux
turns ``flock`` into an NFS byte-range lock that every client sees; the server
drops a dead client's locks when its lease ends (NFSv4) or it reboots (NFSv3
with lockd). A mount with ``nolock`` or ``local_lock=flock`` keeps locks on
one machine only; where the file system cannot lock at all (ENOLCK) the run
goes on unlocked. A failed run removes the folders it made.

Temporary files an interrupted write left in a run folder (gpubp's own
names only) are removed when the next run claims it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import fnmatch
import os
import shutil
import socket
import time
from dataclasses import dataclass

from ..errors import GpubpError
from .output import reason
from .stop import Interrupted

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"
LOCK_FILE = ".gpubp.lock"

#: The files a run writes in its folder.
RUN_FILES = (MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE, PLOT_FILE)

#: Temporary files gpubp's writers make in a run folder (io's mkstemp names, write_text's, the plot's, older ones).
TEMPORARIES = (
    f".{MODEL_FILE}.*.tmp",
    f".{CHECKPOINT_FILE}.*.tmp",
    f".{METRICS_FILE}.tmp",
    f".{PLOT_FILE}.tmp",
    f"{PLOT_FILE}.tmp.png",
    ".gpubp-write-test",
)


@dataclass
class RunDir:
    """A claimed run folder: its path, the topmost folder this run made (None: it existed) and the lock held."""

    path: str
    created: str | None
    lock: RunLock

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def release(self) -> None:
        """Let other runs have the folder."""
        self.lock.release()

    def remove(self) -> None:
        """Remove the folder and the folders above it this run made, while empty (never another run's)."""
        if self.created is None:
            return
        self.lock.release()
        shutil.rmtree(self.path, ignore_errors=True)
        folder = os.path.abspath(self.path)
        while folder != self.created:
            folder = os.path.dirname(folder)
            try:
                os.rmdir(folder)  # fails if another run put something there meanwhile
            except OSError:
                return


def make_run_dir(out: str | None) -> RunDir:
    """Create and claim a new run's folder (``out``, else ``runs/<timestamp>``); refuse one that holds a run."""
    if out is not None:
        check_folder_path(out, "--out")
    path = out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    try:
        created = _make_parents(os.path.dirname(os.path.abspath(path)))
        if out is None:  # a fresh folder: two runs started in one second never share it
            base, n = path, 1
            while not _mkdir(path):
                n += 1
                path = f"{base}-{n}"
        if _mkdir(path) or out is None:
            created = created or os.path.abspath(path)
    except OSError as exc:
        raise GpubpError(f"--out {path}: cannot make the folder ({_why_not_folder(path, exc)})") from None
    try:
        lock = RunLock.claim(path, "--out")
    except BaseException:
        if created is not None and not os.path.exists(os.path.join(path, LOCK_FILE)):
            _remove_empty(path, created)
        raise
    run = RunDir(path, created, lock)
    _refuse_folders(run, "--out", RUN_FILES)
    for kept in (MODEL_FILE, CHECKPOINT_FILE):  # looked at under the lock: a run that just finished counts
        if os.path.lexists(run.file(kept)):
            lock.release()
            hint = f"continue it with --resume {path}" if kept == CHECKPOINT_FILE else "choose another --out"
            raise GpubpError(f"--out {path}: already holds a run ({kept}); {hint}")
    remove_temporaries(path)
    return run


def claim_run_dir(path: str) -> RunDir:
    """Claim an existing run's folder for ``--resume``: refused while another process trains it."""
    check_folder_path(path, "--resume")
    if not os.path.exists(path):
        raise GpubpError(f"--resume {path}: no such run folder")
    if not os.path.isdir(path):
        parent = os.path.dirname(path) or "."
        hint = f"; give the run folder, --resume {parent}" if os.path.basename(path) == CHECKPOINT_FILE else ""
        raise GpubpError(f"--resume {path}: is a file, not a run folder{hint}")
    run = RunDir(path, None, RunLock.claim(path, "--resume"))
    _refuse_folders(run, "--resume", (MODEL_FILE, PLOT_FILE))  # the checkpoint and the log: see resume.py
    remove_temporaries(path)
    return run


def _refuse_folders(run: RunDir, flag: str, names: tuple[str, ...]) -> None:
    """Refuse, before any training, a run folder where a file the run writes is a folder (the lock released)."""
    for name in names:
        if os.path.isdir(run.file(name)):
            run.lock.release()
            kept = "; the checkpoint is as it was" if flag == "--resume" else ""
            raise GpubpError(f"{flag} {run.path}: {run.file(name)} is a folder, where the run would write a file{kept}")


def check_folder_path(path: str, flag: str) -> None:
    """Refuse what cannot be a folder before touching anything: an empty path, a broken link, a file."""
    if path == "":
        raise GpubpError(f"{flag}: an empty path; give a folder")
    if os.path.islink(path) and not os.path.exists(path):
        target = os.readlink(path)
        raise GpubpError(f"{flag} {path}: a symbolic link to {target}, which does not exist (or is a link loop)")
    if flag == "--out" and os.path.exists(path) and not os.path.isdir(path):
        raise GpubpError(f"{flag} {path}: exists and is not a folder")


def _mkdir(path: str) -> bool:
    """Make one folder; False if it already exists (a folder or a link to one)."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return False


def _make_parents(folder: str) -> str | None:
    """Make ``folder`` and its missing ancestors; the topmost one made here, or None."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    created = None
    for folder in reversed(missing):
        if _mkdir(folder) and created is None:
            created = folder
    return created


def _why_not_folder(path: str, exc: OSError) -> str:
    """Why ``path`` cannot be made: a file in the way names that file."""
    parent = os.path.abspath(path)
    while parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)
        if os.path.lexists(parent) and not os.path.isdir(parent):
            return f"{parent} is a file, not a folder"
    if isinstance(exc, FileExistsError):
        return "a file of that name is in the way"
    return reason(exc)


def _remove_empty(path: str, created: str) -> None:
    folder = os.path.abspath(path)
    while True:
        try:
            os.rmdir(folder)
        except OSError:
            return
        if folder == created:
            return
        folder = os.path.dirname(folder)


def remove_temporaries(path: str) -> list[str]:
    """Remove the temporary files interrupted writes left in a run folder (the caller holds its lock)."""
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(path):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in TEMPORARIES):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(path, name))
                    removed.append(name)
    return removed


class RunLock:
    """``flock`` on a run folder's ``.gpubp.lock``, held while the run lives; the file says who holds it."""

    def __init__(self, path: str, fd: int | None) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def claim(cls, folder: str, flag: str) -> RunLock:
        path = os.path.join(folder, LOCK_FILE)
        for _ in range(100):  # another run may remove the file between our open and our lock: then again
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # O_NOFOLLOW: never truncate what a planted link points at
                    raise GpubpError(f"{flag} {folder}: its {LOCK_FILE} is a symbolic link; remove it") from None
                if os.path.isdir(path):
                    raise GpubpError(f"{flag} {folder}: its {LOCK_FILE} is a folder; remove it") from None
                raise GpubpError(f"{flag} {folder}: cannot write there ({reason(exc)})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise GpubpError(
                        f"{flag} {folder}: another gpubp process{_owner(path)} is training in this run folder; "
                        f"wait for it to end{', or choose another --out' if flag == '--out' else ''}"
                    ) from None
                with contextlib.suppress(OSError):  # this file system cannot lock (ENOLCK: NFS without lockd)
                    os.unlink(path)
                return cls(path, None)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except OSError:
                same = False
            if same:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
                return cls(path, fd)
            os.close(fd)
        raise GpubpError(f"{flag} {folder}: cannot lock the run folder (its lock file keeps changing)")

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        """Remove the lock file, then unlock (a run that opened the old file finds it gone and tries again)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def _owner(path: str) -> str:
    """`` (pid N on HOST)`` from the lock file, or nothing if it cannot be read yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(200).strip()
    except OSError:
        return ""
    return f" ({text})" if text.startswith("pid ") and "\n" not in text else ""


def stopped_early(args: argparse.Namespace, exc: Interrupted) -> str:
    """The line for a signal before training started: nothing was made, or the checkpoint is as it was."""
    if args.resume is not None and os.path.isfile(os.path.join(args.resume, CHECKPOINT_FILE)):
        resume = f"resume with: gpubp train --resume {args.resume}"
        return f"gpubp: {exc.what} before training resumed; the checkpoint is as it was; {resume}"
    return f"gpubp: {exc.what} before training started; nothing was saved"
