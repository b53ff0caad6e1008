"""``gpubp train``: a thin layer over the estimators.

What the command adds to ``MLPClassifier`` / ``MLPRegressor``: it reads the
data, decides the task (which estimator), holds out a test split and records
it in the model, turns on standardisation and early stopping by default,
writes a run folder (per-epoch metrics, a checkpoint every epoch, the model,
a loss plot), and resumes an interrupted run from its checkpoint.

Under an MPI launcher (``mpiexec -n N gpubp train ...``, ``srun``) the N
processes train one model together (:mod:`gpubp.distributed`): each reads its
share of the rows, rank 0 alone speaks and writes, a stop signal stops every
process after the same step, and an error on any process ends every process
with one ``gpubp: error:`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from sklearn.exceptions import ConvergenceWarning

from .. import distributed
from ..backend import device_name, host, install_hint
from ..data import decide_task, load_dataset, split_indices
from ..distributed import MPIGroup, shards
from ..errors import GpubpError, ParameterError, TrainingDiverged
from ..estimators import FitHooks, MLPClassifier, MLPRegressor
from ..estimators.base import BaseMLP
from ..plot import plot_losses
from ..settings import validate
from .flags import COMMAND_SETTINGS, FLAG_OF, LOSSES, given, settings_from
from .output import MetricsLog, Progress, Say, WriteFailed, emit, say_backend, tell, write_text
from .resume import resumed_run
from .runs import (
    CHECKPOINT_FILE,
    LOCK_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PLOT_FILE,
    RunDir,
    RunLock,
    make_run_dir,
    stopped_early,
)
from .stop import Interrupted, Stop


def estimator_for(task: str, loss: str, n_classes: int, params: dict[str, Any]) -> BaseMLP:
    """The estimator for the task, with the regressor's loss from --loss; a --loss that does not suit is refused."""
    need, regression_loss = LOSSES[loss]
    if task == "regress":
        if need == "classify":
            raise ParameterError("loss", f"{loss} needs a classification task; regression uses mse (or poisson)", loss)
        return MLPRegressor(loss=regression_loss or "squared_error", **params)
    if need == "regress":
        raise ParameterError("loss", f"{loss} needs a regression task; classification uses ce (or bce)", loss)
    if loss == "bce" and n_classes != 2:
        raise ParameterError("loss", f"bce needs exactly 2 classes, the targets have {n_classes}", loss)
    return MLPClassifier(**params)


def new_run(args: argparse.Namespace, say: Say, group: MPIGroup | None = None) -> dict[str, Any]:
    """A fresh run: the estimator from the flags, the data and its test split (the folder is claimed after)."""
    params, command = settings_from(given(args))
    validate(params)  # a bad value is refused before any data is read
    for s in COMMAND_SETTINGS:
        check_command(s.name, command[s.name])
    if group is not None and params["solver"] == "lbfgs":  # in the flag's words, before any data is read
        raise ParameterError(
            "optimizer", "lbfgs is not data parallel yet; use adam, sgd, momentum or nesterov", command["optimizer"]
        )
    seed = params["random_state"]
    read = load_dataset if group is None else shards.open_dataset  # data parallel: each process reads its rows
    ds = read(command["data"], target=command["target"], seed=seed)
    task, y = decide_task(ds, command["task"])
    n_classes = len(host.unique(y)) if task == "classify" else 0
    est = estimator_for(task, command["loss"], n_classes, params)
    say_backend(est, say, group)
    split = split_indices(
        ds.n_samples, validation_fraction=0.0, test_fraction=command["test_fraction"], seed=seed,
        y=y if task == "classify" else None,
    )  # fmt: skip
    data = {
        "source": ds.source,
        "target": ds.target_name,
        "task": task,
        "seed": seed,
        "n_samples": ds.n_samples,
        "split": split.to_dict(),
        "features": ds.feature_names,  # predict and evaluate take a CSV file's columns by these names
        "command": command,
        "processes": 1 if group is None else group.size,  # --resume needs as many
    }
    return {"est": est, "ds": ds, "y": y, "split": split, "dir": None, "data": data, "saved": None}


def check_command(name: str, value: Any) -> None:
    """One of the command's own settings against its declaration."""
    setting = next(s for s in COMMAND_SETTINGS if s.name == name)
    try:
        setting.valid.check(value)
    except Exception:
        raise ParameterError(name, f"must be {setting.valid.describe()}", value) from None


def train(args: argparse.Namespace) -> int:
    """``gpubp train``: load data, split, fit (checkpointing every epoch), save, evaluate on the test part.

    Under an MPI launcher the processes train together; :func:`_ended` says how one of them fails.
    """
    try:
        group = distributed.launched()
    except GpubpError:
        if distributed.launcher_rank() != 0:
            return 2  # rank 0 says why
        raise
    if group is None:
        return _run(args, None)
    with group:
        try:
            return _run(args, group)
        except BaseException as exc:
            if distributed.is_agreed(exc) and group.rank == 0:
                raise  # every process has it: rank 0 says it once, as one process would
            return _ended(group, exc)


def _run(args: argparse.Namespace, group: MPIGroup | None) -> int:
    speaks = group is None or group.rank == 0  # data parallel: rank 0 alone speaks and writes
    say = Say(args)
    say.quiet = say.quiet or not speaks
    # Data parallel, a signal never interrupts a process in a collective: it is a flag the processes agree on.
    with Stop() as stop, stop.deferred() if group is not None else contextlib.nullcontext():
        try:
            with distributed.agreed(group):
                run = resumed_run(args, say, group) if args.resume is not None else new_run(args, say, group)
            if args.resume is None:
                with distributed.agreed(group):  # claimed last: a run refused above leaves nothing behind
                    run["dir"] = make_run_dir(args.out) if speaks else None
        except Interrupted as exc:
            if group is not None and not distributed.is_agreed(exc):
                raise
            if speaks:
                tell(stopped_early(args, exc))
            return exc.exit_code
        except WriteFailed as exc:
            if args.resume is None:
                raise
            raise WriteFailed(f"{exc}; the checkpoint is as it was") from None
        if group is not None:  # every process knows the folder; only rank 0 holds its lock
            path, created = group.broadcast((run["dir"].path, run["dir"].created) if speaks else None)
            run["dir"] = run["dir"] if speaks else RunDir(path, created, RunLock(os.path.join(path, LOCK_FILE), None))
            run["launcher"] = f"mpiexec -n {group.size} "
        try:
            return _train(args, say, stop, run, group)
        except Interrupted as exc:
            if group is not None and not distributed.is_agreed(exc):
                raise
            if speaks:
                tell(_stopped(run, exc))
            return exc.exit_code
        except WriteFailed as exc:
            raise WriteFailed(f"{exc}; {_kept(run)}") from None
        except GpubpError as exc:
            if not speaks:  # rank 0 tidies up and says it; a process failing alone removes an empty run folder
                files = (run["dir"].file(MODEL_FILE), run["dir"].file(CHECKPOINT_FILE))
                if not distributed.is_agreed(exc) and not any(os.path.exists(f) for f in files):
                    run["dir"].remove()
                raise
            kept = _kept(run)  # nothing worth keeping: leave no half-written run
            if run.get("model_saved"):  # e.g. the test evaluation failed: the model is not lost
                raise GpubpError(f"{exc}; {kept}") from None
            raise
        finally:
            run["dir"].release()


def _ended(group: MPIGroup, exc: BaseException) -> int:
    """An error under MPI, on a process other than rank 0 or on one process alone.

    Raised on every process (bad input, divergence): this one exits with its
    code and says nothing. Met alone (out of memory, a full disk, an internal
    error, a second Ctrl-C): the others wait in a collective, so this process
    says what happened and aborts them all (``MPI_Abort``, which adds MPI's own line).
    """
    if distributed.is_agreed(exc):
        return int(getattr(exc, "exit_code", 1))
    if isinstance(exc, Interrupted):
        text, code = exc.what, exc.exit_code
    elif isinstance(exc, KeyboardInterrupt):
        text, code = "interrupted", 130
    elif isinstance(exc, GpubpError):
        from . import render

        text, code = f"error: process {group.rank} of {group.size}: {render(exc, sys.argv[1:])}", exc.exit_code
    else:
        text, code = f"internal error: process {group.rank} of {group.size}: {type(exc).__name__}: {exc}", 1
    tell(f"gpubp: {' '.join(text.split())}")
    group.abort(code)
    return code  # not reached: MPI_Abort ends this process too


def _agree_on_stop(group: MPIGroup | None, stop: Stop) -> None:
    """A stop signal that came on any process stops every one here (one process: a signal that came).

    Every process raises the same signal's :class:`Interrupted` (the first process's that had one), so rank 0
    names the signal that came and every process exits with its code, whichever process it came to.
    """
    if group is None:
        if stop.is_set():
            raise distributed.mark_agreed(stop.interrupted())
        return
    came = group.gather([stop.signum or 0])[:, 0]  # (size,) 0 where none came
    if came.any():
        raise distributed.mark_agreed(Interrupted(int(came[came > 0][0])))


def _train(args: argparse.Namespace, say: Say, stop: Stop, run: dict[str, Any], group: MPIGroup | None) -> int:
    speaks = group is None or group.rank == 0
    est, ds, y, split, run_dir = run["est"], run["ds"], run["y"], run["split"], run["dir"]
    if group is not None:
        _agree_on_stop(group, stop)
    fit_rows = split.train if len(split.val) == 0 else host.sort(host.concatenate([split.train, split.val]))
    n_val = _validation_size(est, len(fit_rows))
    say(
        f"data: {ds.source} ({ds.n_samples} samples, {ds.X.shape[1]} features, "
        + (f"{len(host.unique(y))} classes" if isinstance(est, MLPClassifier) else "regression")
        + f"); split {len(fit_rows) - n_val}/{n_val}/{len(split.test)} train/val/test"
    )
    model_path, checkpoint_path = run_dir.file(MODEL_FILE), run_dir.file(CHECKPOINT_FILE)
    extra = {"data": run["data"]}
    if args.resume is None and speaks:
        write_text(run_dir.file(METRICS_FILE), "", flag="--out")
    progress = (
        Progress(est.max_iter, len(est.history_.epochs) if args.resume is not None else 0)
        if _bar(args) and speaks
        else None
    )
    callbacks: list[Callable[[dict[str, Any]], Any]] = []
    if speaks:
        callbacks.append(MetricsLog(run_dir.file(METRICS_FILE), say.release))
    if progress is not None:
        callbacks.append(progress)
    fit_here, test_here = fit_rows, split.test
    if group is not None:  # data parallel: each process trains on (and tests) a contiguous share of the rows
        fit_here, test_here = _part(fit_rows, group), _part(split.test, group)
    with distributed.agreed(group):
        X_fit = ds.X[fit_here]  # data parallel: only these rows are read (.npy, .npz)
    t0 = time.perf_counter()
    try:
        # lbfgs polls no flag and keeps no checkpoint: a signal stops it at once (data parallel: deferred already)
        deferred = stop.deferred() if est.solver != "lbfgs" and group is None else contextlib.nullcontext()
        with deferred, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # "stopped: max_epochs" says it
            warnings.filterwarnings("ignore", "Got `batch_size`", UserWarning)  # a small set: one batch, as before
            hooks = FitHooks(
                callbacks=callbacks,
                should_stop=stop.is_set,
                on_epoch_end=_checkpointer(run, checkpoint_path, extra) if speaks else None,
                resume=args.resume is not None,
            )
            try:
                est.fit(X_fit, y[fit_here], hooks=hooks)
            except TrainingDiverged as exc:
                if speaks and est.__dict__.get("_trainer") is not None and est._trainer.history.best_epoch > 0:
                    _save_model(est, model_path, extra)
                    best = est._trainer.history.best_epoch
                    kept = TrainingDiverged(
                        f"{exc}; the best model so far (epoch {best}) is kept in {model_path}",
                        epoch=exc.epoch,
                        step=exc.step,
                    )
                    raise (kept if group is None else distributed.mark_agreed(kept)) from None
                raise
    finally:
        if progress is not None:
            progress.close()
    # the step finished and the checkpoint is saved (or a signal came after the last step)
    _agree_on_stop(group, stop)
    seconds = time.perf_counter() - t0
    say.release()
    history = est.history_
    if speaks:
        _save_model(est, model_path, extra)
        run["model_saved"] = True
        with contextlib.suppress(OSError):
            os.remove(checkpoint_path)  # the run is complete: model.safetensors is its result
        if est.solver == "lbfgs":
            write_text(run_dir.file(METRICS_FILE), "".join(json.dumps(r) + "\n" for r in history.epochs))
    test = None
    if len(split.test):
        with distributed.agreed(group):
            X_test = ds.X[test_here]
        test = est.evaluate(X_test, y[test_here])  # data parallel: every process's share, the whole test set
    if not speaks:
        return 0
    try:
        drawn = plot_losses(history, run_dir.file(PLOT_FILE))
    except GpubpError as exc:
        raise WriteFailed(str(exc)) from None
    except Exception as exc:  # matplotlib is an optional extra: its failure never outweighs the saved model
        raise WriteFailed(f"cannot draw the loss plot {run_dir.file(PLOT_FILE)}: {type(exc).__name__}: {exc}") from None
    if not drawn:
        say(f"no loss plot: matplotlib is not installed ({install_hint('plot')})")
    summary = {
        "backend": est._backend.name,
        "device": device_name(est._backend.device),
        "fallback_reason": est._backend.reason,
        "task": run["data"]["task"],
        "data": ds.source,
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "seconds": round(seconds, 3),
        "run_dir": run_dir.path,
        "model_path": model_path,
        "n_train": len(fit_rows) - n_val,
        "n_val": n_val,
        "n_test": len(split.test),
        "test": test,
        "processes": 1 if group is None else group.size,
    }
    if args.json:
        emit(json.dumps(summary) + "\n")
    else:
        say(
            f"trained {len(history.epochs)} epochs in {seconds:.2f} s "
            f"(best epoch {history.best_epoch}, stopped: {history.stopped})"
        )
        say(f"test: {format_metrics(test)} on {len(split.test)} samples")
        say(f"model: {model_path}")
    return 0


def _checkpointer(run: dict[str, Any], path: str, extra: dict[str, Any]) -> Callable[[BaseMLP], None]:
    """on_epoch_end: write the checkpoint, and remember what it holds (for messages about what is saved)."""

    def save(est: BaseMLP) -> None:
        try:
            est.save(path, extra=extra, checkpoint=True)
        except GpubpError as exc:
            raise WriteFailed(str(exc)) from None
        history = est._trainer.history
        run["saved"] = (len(history.epochs), history.stopped not in ("", "interrupted"))

    return save


def _save_model(est: BaseMLP, path: str, extra: dict[str, Any]) -> None:
    try:
        est.save(path, extra=extra)
    except GpubpError as exc:
        raise WriteFailed(str(exc)) from None


def _kept(run: dict[str, Any]) -> str:
    """What the run has on disk, in words; a run with nothing on disk has its folder removed."""
    run_dir = run["dir"]
    model, checkpoint = run_dir.file(MODEL_FILE), run_dir.file(CHECKPOINT_FILE)
    if os.path.isfile(model):  # a folder in its place holds no model
        return f"the model is saved in {model}"
    if run["saved"] is not None and os.path.isfile(checkpoint):
        epochs, over = run["saved"]
        what = "the finished training" if over else f"epoch {epochs}" if epochs else "the first steps"
        resume = f"resume with: {run.get('launcher', '')}gpubp train --resume {run_dir.path}"
        return f"the checkpoint of {what} is kept in {checkpoint}; {resume}"
    run_dir.remove()
    return "nothing was saved"


def _stopped(run: dict[str, Any], exc: Interrupted) -> str:
    """The line that says a signal stopped the run, and what it left."""
    run_dir = run["dir"]
    model, checkpoint = run_dir.file(MODEL_FILE), run_dir.file(CHECKPOINT_FILE)
    if os.path.isfile(model):  # a folder in its place holds no model
        return f"gpubp: {exc.what} after the model was saved in {model}"
    if run["saved"] is not None and os.path.isfile(checkpoint):
        epochs, over = run["saved"]
        where = "after the last epoch, before the model was written" if over else f"in epoch {epochs + 1}"
        resume = f"resume with: {run.get('launcher', '')}gpubp train --resume {run_dir.path}"
        return f"gpubp: {exc.what} {where}; checkpoint saved in {checkpoint}; {resume}"
    run_dir.remove()
    return f"gpubp: {exc.what} before the first epoch ended; nothing was saved"


def _part(rows: Any, group: MPIGroup) -> Any:
    """This process's share of ``rows``: one of ``size`` contiguous, nearly equal parts, in rank order."""
    return host.array_split(rows, group.size)[group.rank]


def _validation_size(est: BaseMLP, n: int) -> int:
    if not est.early_stopping or est.solver == "lbfgs":
        return 0
    return max(round(n * est.validation_fraction), 1)


def _bar(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr is not None and sys.stderr.isatty()


def format_metrics(metrics: dict[str, float] | None) -> str:
    if not metrics:
        return "no test split (--test-fraction 0)"
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


_ = FLAG_OF
