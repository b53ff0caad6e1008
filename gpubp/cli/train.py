"""``gpubp train``: a thin layer over the estimators.

What the command adds to ``MLPClassifier`` / ``MLPRegressor``: it reads the
data, decides the task (which estimator), holds out a test split and records
it in the model, turns on standardisation and early stopping by default,
writes a run folder (per-epoch metrics, a checkpoint every epoch, the model,
a loss plot), and resumes an interrupted run from its checkpoint.
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

from ..backend import device_name, host
from ..data import decide_task, load_dataset, split_indices
from ..errors import GpubpError, ParameterError, TrainingDiverged
from ..estimators import FitHooks, MLPClassifier, MLPRegressor
from ..estimators.base import BaseMLP
from ..plot import PLOT_HINT, plot_losses
from ..settings import validate
from .flags import COMMAND_SETTINGS, FLAG_OF, LOSSES, given, settings_from
from .output import MetricsLog, Progress, Say, WriteFailed, emit, say_backend, tell, write_text
from .resume import resumed_run, stopped_early
from .runs import CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE, PLOT_FILE, make_run_dir
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


def new_run(args: argparse.Namespace, say: Say) -> dict[str, Any]:
    """A fresh run: the estimator from the flags, the data, its test split and the run folder."""
    params, command = settings_from(given(args))
    validate(params)  # a bad value is refused before any data is read
    for s in COMMAND_SETTINGS:
        check_command(s.name, command[s.name])
    seed = params["random_state"]
    ds = load_dataset(command["data"], target=command["target"], seed=seed)
    task, y = decide_task(ds, command["task"])
    n_classes = len(host.unique(y)) if task == "classify" else 0
    est = estimator_for(task, command["loss"], n_classes, params)
    say_backend(est, say)
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
    }
    run_dir = make_run_dir(args.out)  # claimed last: a run refused above leaves nothing behind
    return {"est": est, "ds": ds, "y": y, "split": split, "dir": run_dir, "data": data, "saved": None}


def check_command(name: str, value: Any) -> None:
    """One of the command's own settings against its declaration."""
    setting = next(s for s in COMMAND_SETTINGS if s.name == name)
    try:
        setting.valid.check(value)
    except Exception:
        raise ParameterError(name, f"must be {setting.valid.describe()}", value) from None


def train(args: argparse.Namespace) -> int:
    """``gpubp train``: load data, split, fit (checkpointing every epoch), save, evaluate on the test part."""
    say = Say(args)
    with Stop() as stop:
        try:
            run = resumed_run(args, say) if args.resume is not None else new_run(args, say)
        except Interrupted as exc:
            tell(stopped_early(args, exc))
            return exc.exit_code
        except WriteFailed as exc:
            if args.resume is None:
                raise
            raise WriteFailed(f"{exc}; the checkpoint is as it was") from None
        try:
            return _train(args, say, stop, run)
        except Interrupted as exc:
            tell(_stopped(run, exc))
            return exc.exit_code
        except WriteFailed as exc:
            raise WriteFailed(f"{exc}; {_kept(run)}") from None
        except GpubpError as exc:
            kept = _kept(run)  # nothing worth keeping: leave no half-written run
            if run.get("model_saved"):  # e.g. the test evaluation failed: the model is not lost
                raise GpubpError(f"{exc}; {kept}") from None
            raise
        finally:
            run["dir"].release()


def _train(args: argparse.Namespace, say: Say, stop: Stop, run: dict[str, Any]) -> int:
    est, ds, y, split, run_dir = run["est"], run["ds"], run["y"], run["split"], run["dir"]
    fit_rows = split.train if len(split.val) == 0 else host.sort(host.concatenate([split.train, split.val]))
    n_val = _validation_size(est, len(fit_rows))
    say(
        f"data: {ds.source} ({ds.n_samples} samples, {ds.X.shape[1]} features, "
        + (f"{len(host.unique(y))} classes" if isinstance(est, MLPClassifier) else "regression")
        + f"); split {len(fit_rows) - n_val}/{n_val}/{len(split.test)} train/val/test"
    )
    model_path, checkpoint_path = run_dir.file(MODEL_FILE), run_dir.file(CHECKPOINT_FILE)
    extra = {"data": run["data"]}
    if args.resume is None:
        write_text(run_dir.file(METRICS_FILE), "", flag="--out")
    progress = (
        Progress(est.max_iter, len(est.history_.epochs) if args.resume is not None else 0) if _bar(args) else None
    )
    callbacks: list[Callable[[dict[str, Any]], Any]] = [MetricsLog(run_dir.file(METRICS_FILE), say.release)]
    if progress is not None:
        callbacks.append(progress)
    t0 = time.perf_counter()
    try:
        # lbfgs polls no flag and keeps no checkpoint: a signal stops it at once
        deferred = stop.deferred() if est.solver != "lbfgs" else contextlib.nullcontext()
        with deferred, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # "stopped: max_epochs" says it
            hooks = FitHooks(
                callbacks=callbacks,
                should_stop=stop.is_set,
                on_epoch_end=_checkpointer(run, checkpoint_path, extra),
                resume=args.resume is not None,
            )
            try:
                est.fit(ds.X[fit_rows], y[fit_rows], hooks=hooks)
            except TrainingDiverged as exc:
                if est.__dict__.get("_trainer") is not None and est._trainer.history.best_epoch > 0:
                    _save_model(est, model_path, extra)
                    best = est._trainer.history.best_epoch
                    raise TrainingDiverged(
                        f"{exc}; the best model so far (epoch {best}) is kept in {model_path}",
                        epoch=exc.epoch,
                        step=exc.step,
                    ) from None
                raise
    finally:
        if progress is not None:
            progress.close()
    if stop.is_set():  # the step finished and the checkpoint is saved (or a signal came after the last step)
        raise stop.interrupted()
    seconds = time.perf_counter() - t0
    say.release()
    history = est.history_
    _save_model(est, model_path, extra)
    run["model_saved"] = True
    with contextlib.suppress(OSError):
        os.remove(checkpoint_path)  # the run is complete: model.safetensors is its result
    if est.solver == "lbfgs":
        write_text(run_dir.file(METRICS_FILE), "".join(json.dumps(r) + "\n" for r in history.epochs))
    test = est.evaluate(ds.X[split.test], y[split.test]) if len(split.test) else None
    try:
        drawn = plot_losses(history, run_dir.file(PLOT_FILE))
    except GpubpError as exc:
        raise WriteFailed(str(exc)) from None
    except Exception as exc:  # matplotlib is an optional extra: its failure never outweighs the saved model
        raise WriteFailed(f"cannot draw the loss plot {run_dir.file(PLOT_FILE)}: {type(exc).__name__}: {exc}") from None
    if not drawn:
        say(f"no loss plot: matplotlib is not installed ({PLOT_HINT})")
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
    if os.path.exists(model):
        return f"the model is saved in {model}"
    if run["saved"] is not None and os.path.exists(checkpoint):
        epochs, over = run["saved"]
        what = "the finished training" if over else f"epoch {epochs}" if epochs else "the first steps"
        return f"the checkpoint of {what} is kept in {checkpoint}; resume with: gpubp train --resume {run_dir.path}"
    run_dir.remove()
    return "nothing was saved"


def _stopped(run: dict[str, Any], exc: Interrupted) -> str:
    """The line that says a signal stopped the run, and what it left."""
    run_dir = run["dir"]
    model, checkpoint = run_dir.file(MODEL_FILE), run_dir.file(CHECKPOINT_FILE)
    if os.path.exists(model):
        return f"gpubp: {exc.what} after the model was saved in {model}"
    if run["saved"] is not None and os.path.exists(checkpoint):
        epochs, over = run["saved"]
        where = "after the last epoch, before the model was written" if over else f"in epoch {epochs + 1}"
        resume = f"resume with: gpubp train --resume {run_dir.path}"
        return f"gpubp: {exc.what} {where}; checkpoint saved in {checkpoint}; {resume}"
    run_dir.remove()
    return f"gpubp: {exc.what} before the first epoch ended; nothing was saved"


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
