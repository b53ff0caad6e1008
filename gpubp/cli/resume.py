"""``gpubp train --resume DIR``: claim the run's folder, check its checkpoint against what is there, go on.

The folder is locked before anything is read, so a run another process is
still training is refused. The checkpoint is called what it is when it is not
one (a folder, a FIFO, a broken link, a finished run), is checked field by
field when it loads (:mod:`gpubp.checkpoint`), and then against the data it
continues on: the split, the features, the step count and the rows seen. A
flag given with ``--resume`` must repeat the run's setting.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Callable
from typing import Any

from ..backend import device_name, host, resolve
from ..data import Split, decide_task, load_dataset
from ..distributed import MPIGroup, shards
from ..errors import GpubpError
from ..estimators import MLPClassifier
from ..estimators.base import BaseMLP
from ..estimators.state import check_resumable
from ..persist import load
from ..settings import check
from .flags import RUN_ONLY, TRAIN_FLAGS, given
from .output import reason, say_backend, write_text
from .runs import CHECKPOINT_FILE, LOCK_FILE, METRICS_FILE, MODEL_FILE, RunDir, RunLock, claim_run_dir


def resumed_run(args: argparse.Namespace, say: Callable[[str], None], group: MPIGroup | None = None) -> dict[str, Any]:
    """A run continued from ``--resume DIR``: its checkpoint holds the settings, the split and the training state.

    The folder is claimed (locked) before anything is read, so a run another
    process is still training is refused. Data parallel, every process reads
    the checkpoint (rank 0 holds the lock), which must come from as many processes.
    """
    if args.out is not None:
        raise GpubpError(f"--out {args.out}: a resumed run stays in its folder ({args.resume}); drop --out")
    if group is None or group.rank == 0:
        run_dir = claim_run_dir(args.resume)
    else:
        run_dir = RunDir(args.resume, None, RunLock(os.path.join(args.resume, LOCK_FILE), None))
    try:
        return _resume(args, say, run_dir, group)
    except BaseException:
        run_dir.release()
        raise


def _resume(
    args: argparse.Namespace, say: Callable[[str], None], run_dir: RunDir, group: MPIGroup | None
) -> dict[str, Any]:
    path = run_dir.file(CHECKPOINT_FILE)
    problem = _checkpoint_problem(run_dir)
    if problem:
        raise GpubpError(f"--resume {run_dir.path}: {problem}")
    flags = given(args)
    est = load(path, backend=flags.get("backend"), device=flags.get("device"))
    data = est.metadata_.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("command"), dict):
        raise GpubpError(f"{path}: not a gpubp train checkpoint (no record of its data)")
    _refuse_changes(run_dir.path, flags, est, data["command"])
    if "_trainer" not in est.__dict__:
        raise GpubpError(f"{path}: not a gpubp training checkpoint (it holds no training state)")
    _check_processes(run_dir.path, data.get("processes", 1), group)
    if group is not None:  # each process on its own device
        device = group.device_for(est._backend.name, flags.get("device"))
        if device is not None and device_name(resolve(est._backend.name, device).device) != device_name(
            est._backend.device
        ):
            est = load(path, backend=est._backend.name, device=device)
    if "threads" in flags:  # how to run, not what to train: a resumed run may use other threads
        est.set_params(threads=flags["threads"])
    say_backend(est, say, group)
    source, target = data.get("source"), data.get("target")
    if not isinstance(source, str) or not isinstance(target, (str, type(None))) or type(data.get("seed")) is not int:
        raise GpubpError(f"{path}: damaged checkpoint: 'data' does not name a data source, target and seed")
    if data.get("task") != ("classify" if isinstance(est, MLPClassifier) else "regress"):
        task = data.get("task")
        raise GpubpError(f"{path}: damaged checkpoint: 'data' task {task!r} does not suit {type(est).__name__}")
    read = load_dataset if group is None else shards.open_dataset  # data parallel: each process reads its rows
    ds = read(source, target=target if source.lower().endswith(".csv") else None, seed=data["seed"])
    if ds.n_samples != data.get("n_samples"):
        raise GpubpError(
            f"--resume {run_dir.path}: {source} now has {ds.n_samples} rows, "
            f"the run was started on {data.get('n_samples')}"
        )
    _, y = decide_task(ds, data.get("task"))
    try:
        split = Split.from_dict(data.get("split"), n=ds.n_samples)
        _check_resumable(est, split, ds.n_samples, ds.X.shape[1])
    except GpubpError as exc:
        raise GpubpError(f"{path}: {exc}") from None
    history = est.history_.epochs
    part = est._trainer.partial
    say(
        f"resuming {run_dir.path} after epoch {len(history)}"
        + (f", step {part['steps']} of epoch {len(history) + 1}" if part else "")
    )
    if group is None or group.rank == 0:
        lines = "".join(json.dumps(record) + "\n" for record in history)
        write_text(run_dir.file(METRICS_FILE), lines, flag="--resume")  # drop epochs the checkpoint lacks
    saved = (len(history), bool(est._trainer.history.stopped))
    return {"est": est, "ds": ds, "y": y, "split": split, "dir": run_dir, "data": data, "saved": saved}


def _check_processes(run_dir: str, recorded: Any, group: MPIGroup | None) -> None:
    """A run resumes on as many processes as it was started on."""
    now = 1 if group is None else group.size
    if recorded != now:
        how = "without mpiexec" if recorded == 1 else f"with mpiexec -n {recorded} (or srun -n {recorded})"
        raise GpubpError(
            f"--resume {run_dir}: the run was started on {recorded} process{'es' if recorded != 1 else ''}, "
            f"this is {now}; resume it {how}"
        )


def _checkpoint_problem(run_dir: RunDir) -> str | None:
    """Why the run folder's checkpoint cannot be resumed, in the words of what is there; None if it may be."""
    path = run_dir.file(CHECKPOINT_FILE)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{path} is a symbolic link to {os.readlink(path)}, which does not exist"
        if os.path.lexists(run_dir.file(MODEL_FILE)):
            return f"the run finished (its result is {run_dir.file(MODEL_FILE)}); there is no checkpoint to resume"
        return f"no {CHECKPOINT_FILE} there (the run stopped before its first epoch ended, or this is no run folder)"
    except OSError as exc:
        return f"cannot read {path} ({reason(exc)})"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a checkpoint file"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file, so not a checkpoint"
    return None


def _check_resumable(est: BaseMLP, split: Split, n_samples: int, n_features: int) -> None:
    """The checkpoint against the data it continues on: the split, the features, the step count."""
    every = host.sort(host.concatenate([split.train, split.val, split.test]))
    if not host.array_equal(every, host.arange(n_samples)):
        raise GpubpError(f"damaged checkpoint: its split does not cover the {n_samples} rows of the data once each")
    if n_features != est.n_features_in_:
        raise GpubpError(f"the data now has {n_features} features, the run was trained on {est.n_features_in_}")
    check_resumable(est, len(split.train) + len(split.val))
    trainer = est._trainer
    records = trainer.history.epochs
    if all("steps" in r for r in records):  # the command never warm-starts: every step is in the history
        done = sum(r["steps"] for r in records) + (trainer.partial["steps"] if trainer.partial else 0)
        if trainer.optimizer.steps != done:
            raise GpubpError(
                f"damaged checkpoint: 'optimizer_steps' is {trainer.optimizer.steps}, the history records {done} steps"
            )
    n_train = len(est._train_rows) if est._train_rows is not None else len(split.train) + len(split.val)
    if trainer.samples_seen != len(records) * n_train:
        raise GpubpError(
            f"damaged checkpoint: 'samples_seen' is {trainer.samples_seen}, but {len(records)} epochs of {n_train} "
            f"rows make {len(records) * n_train}"
        )
    if len(records) > est.max_iter:
        raise GpubpError(f"damaged checkpoint: {len(records)} epochs recorded, more than max_iter {est.max_iter}")


def _refuse_changes(run_dir: str, flags: dict[str, Any], est: BaseMLP, command: dict[str, Any]) -> None:
    """A training flag given with --resume must repeat the run's setting: a different value is refused."""
    recorded = {**est.get_params(), **command}
    differ = []
    for f in TRAIN_FLAGS:
        if f.name not in flags or f.name in RUN_ONLY:
            continue
        if _normal(f.name, flags[f.name]) != _normal(f.name, recorded.get(f.name)):
            differ.append((f.flag, recorded.get(f.name)))
    if differ:
        was = ", ".join(f"{flag} {_text(value)}" for flag, value in differ)
        raise GpubpError(
            f"--resume {run_dir}: {', '.join(flag for flag, _ in differ)} cannot be changed when resuming (the run "
            f"was started with {was}; only --backend, --device, --threads, --quiet and --json may be given)"
        )


def _normal(name: str, value: Any) -> Any:
    try:
        return check(name, value)
    except (GpubpError, KeyError):
        return value


def _text(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
