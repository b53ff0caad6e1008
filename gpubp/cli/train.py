"""``gpubp train``: a thin layer over the estimators.

What the command adds to ``MLPClassifier`` / ``MLPRegressor``: it reads the
data, decides the task (which estimator), holds out a test split and records
it in the model, turns on standardisation and early stopping by default,
writes a run folder (per-epoch metrics, a checkpoint every epoch, the model,
a loss plot), and resumes an interrupted run from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from sklearn.exceptions import ConvergenceWarning

from ..backend import default_backend_name, device_name, host, resolve
from ..data import Split, decide_task, load_dataset, split_indices
from ..errors import GpubpError, ParameterError, TrainingDiverged
from ..estimators import FitHooks, MLPClassifier, MLPRegressor
from ..estimators.base import BaseMLP
from ..persist import load
from ..plot import PLOT_HINT, plot_losses
from ..settings import check, validate
from .flags import COMMAND_SETTINGS, FLAG_OF, LOSSES, RUN_ONLY, TRAIN_FLAGS, given, settings_from
from .runs import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PLOT_FILE,
    MetricsLog,
    Progress,
    Stop,
    make_run_dir,
    remove_run_dir,
    write_text,
)


class Say:
    """The command's progress lines: on stdout, or stderr with --json; held until an epoch runs with --json."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet, self.held = args.quiet, [] if args.json else None
        self.stream = sys.stderr if args.json else sys.stdout

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        if self.held is not None:
            self.held.append(message)
        else:
            print(message, file=self.stream, flush=True)

    def release(self) -> None:
        """An epoch ran, so the input was good: say what was held."""
        held, self.held = self.held, None
        for message in held or ():
            self(message)


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


def _say_backend(est: BaseMLP, say: Say) -> None:
    backend = est._backend if "_backend" in est.__dict__ else _resolve(est)
    reason = f" ({backend.reason})" if backend.reason else ""
    say(f"using {backend.describe()}{reason}")


def _resolve(est: BaseMLP) -> Any:
    name = est.backend if est.backend != "auto" else default_backend_name("auto")
    return resolve(name, est.device)


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
    _say_backend(est, say)
    split = split_indices(
        ds.n_samples, validation_fraction=0.0, test_fraction=command["test_fraction"], seed=seed,
        y=y if task == "classify" else None,
    )  # fmt: skip
    run_dir, created = make_run_dir(args.out)
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
    return {"est": est, "ds": ds, "y": y, "split": split, "run_dir": run_dir, "created": created, "data": data}


def check_command(name: str, value: Any) -> None:
    """One of the command's own settings against its declaration."""
    setting = next(s for s in COMMAND_SETTINGS if s.name == name)
    try:
        setting.valid.check(value)
    except Exception:
        raise ParameterError(name, f"must be {setting.valid.describe()}", value) from None


def resumed_run(args: argparse.Namespace, say: Say) -> dict[str, Any]:
    """A run continued from ``--resume DIR``: its checkpoint holds the settings, the split and the training state."""
    run_dir = args.resume
    path = os.path.join(run_dir, CHECKPOINT_FILE)
    if args.out is not None:
        raise GpubpError(f"--out {args.out}: a resumed run stays in its folder ({run_dir}); drop --out")
    if not os.path.isdir(run_dir):
        raise GpubpError(f"--resume {run_dir}: no such run folder")
    if not os.path.isfile(path):
        raise GpubpError(
            f"--resume {run_dir}: no {CHECKPOINT_FILE} there (the run finished, or stopped before its first epoch)"
        )
    flags = given(args)
    est = load(path, backend=flags.get("backend"), device=flags.get("device"))
    data = est.metadata_.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("command"), dict):
        raise GpubpError(f"{path}: not a gpubp train checkpoint (no record of its data)")
    _refuse_changes(run_dir, flags, est, data["command"])
    if "_trainer" not in est.__dict__:
        raise GpubpError(f"{path}: not a gpubp training checkpoint (it holds no training state)")
    _say_backend(est, say)
    ds = load_dataset(data["source"], target=data["target"] if data["source"].lower().endswith(".csv") else None,
                      seed=data["seed"])  # fmt: skip
    if ds.n_samples != data["n_samples"]:
        raise GpubpError(
            f"--resume {run_dir}: {data['source']} now has {ds.n_samples} rows, "
            f"the run was started on {data['n_samples']}"
        )
    _, y = decide_task(ds, data["task"])
    try:
        split = Split.from_dict(data["split"], n=ds.n_samples)
    except GpubpError as exc:
        raise GpubpError(f"{path}: {exc}") from None
    history = est.history_.epochs
    part = est._trainer.partial
    say(
        f"resuming {run_dir} after epoch {len(history)}"
        + (f", step {part['steps']} of epoch {len(history) + 1}" if part else "")
    )
    lines = "".join(json.dumps(record) + "\n" for record in history)
    write_text(os.path.join(run_dir, METRICS_FILE), lines, flag="--resume")  # drop epochs the checkpoint lacks
    return {"est": est, "ds": ds, "y": y, "split": split, "run_dir": run_dir, "created": None, "data": data}


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
            f"was started with {was}; only --backend, --device, --quiet and --json may be given)"
        )


def _normal(name: str, value: Any) -> Any:
    try:
        return check(name, value)
    except (GpubpError, KeyError):
        return value


def _text(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)


def train(args: argparse.Namespace) -> int:
    """``gpubp train``: load data, split, fit (checkpointing every epoch), evaluate on the test part, save."""
    say = Say(args)
    run = resumed_run(args, say) if args.resume else new_run(args, say)
    est, ds, y, split, run_dir = run["est"], run["ds"], run["y"], run["split"], run["run_dir"]
    fit_rows = split.train if len(split.val) == 0 else host.sort(host.concatenate([split.train, split.val]))
    n_val = _validation_size(est, len(fit_rows))
    say(
        f"data: {ds.source} ({ds.n_samples} samples, {ds.X.shape[1]} features, "
        + (f"{len(host.unique(y))} classes" if isinstance(est, MLPClassifier) else "regression")
        + f"); split {len(fit_rows) - n_val}/{n_val}/{len(split.test)} train/val/test"
    )
    model_path = os.path.join(run_dir, MODEL_FILE)
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    extra = {"data": run["data"]}
    if not args.resume:
        write_text(os.path.join(run_dir, METRICS_FILE), "", flag="--out")
    progress = Progress(est.max_iter, len(est.history_.epochs) if args.resume else 0) if _bar(args) else None
    callbacks: list[Callable[[dict[str, Any]], Any]] = [MetricsLog(os.path.join(run_dir, METRICS_FILE), say.release)]
    if progress is not None:
        callbacks.append(progress)
    t0 = time.perf_counter()
    try:
        with Stop() as stop, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # "stopped: max_epochs" says it
            hooks = FitHooks(
                callbacks=callbacks,
                should_stop=stop.is_set,
                on_epoch_end=lambda e: e.save(checkpoint_path, extra=extra, checkpoint=True),
                resume=bool(args.resume),
            )
            try:
                est.fit(ds.X[fit_rows], y[fit_rows], hooks=hooks)
            except TrainingDiverged as exc:
                if est.__dict__.get("_trainer") is not None and est._trainer.history.best_epoch > 0:
                    est.save(model_path, extra=extra)
                    best = est._trainer.history.best_epoch
                    raise TrainingDiverged(
                        f"{exc}; the best model so far (epoch {best}) is kept in {model_path}",
                        epoch=exc.epoch,
                        step=exc.step,
                    ) from None
                raise
    except GpubpError:
        if not os.path.exists(model_path) and not os.path.exists(checkpoint_path):
            remove_run_dir(run_dir, run["created"])  # nothing worth keeping: leave no half-written run
        raise
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - t0
    say.release()
    history = est.history_
    if history.stopped == "interrupted":
        print(
            f"gpubp: interrupted in epoch {len(history.epochs) + 1}; checkpoint saved in {checkpoint_path}; "
            f"resume with: gpubp train --resume {run_dir}",
            file=sys.stderr,
        )
        return stop.exit_code
    if est.solver == "lbfgs":
        write_text(os.path.join(run_dir, METRICS_FILE), "".join(json.dumps(r) + "\n" for r in history.epochs))
    test = est.evaluate(ds.X[split.test], y[split.test]) if len(split.test) else None
    est.save(model_path, extra=extra)
    if os.path.exists(checkpoint_path):
        os.remove(checkpoint_path)  # the run is complete: model.safetensors is its result
    if not plot_losses(history, os.path.join(run_dir, PLOT_FILE)):
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
        "run_dir": run_dir,
        "model_path": model_path,
        "n_train": len(fit_rows) - n_val,
        "n_val": n_val,
        "n_test": len(split.test),
        "test": test,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        say(
            f"trained {len(history.epochs)} epochs in {seconds:.2f} s "
            f"(best epoch {history.best_epoch}, stopped: {history.stopped})"
        )
        say(f"test: {format_metrics(test)} on {len(split.test)} samples")
        say(f"model: {model_path}")
    return 0


def _validation_size(est: BaseMLP, n: int) -> int:
    if not est.early_stopping or est.solver == "lbfgs":
        return 0
    return max(round(n * est.validation_fraction), 1)


def _bar(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def format_metrics(metrics: dict[str, float] | None) -> str:
    if not metrics:
        return "no test split (--test-fraction 0)"
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


_ = FLAG_OF
