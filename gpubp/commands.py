"""What each ``gpubp`` subcommand does, once its arguments are parsed (see :mod:`gpubp.cli`)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from . import __version__
from .backend import backend_report, default_backend_name, device_name, host, library_version
from .datasets import SOURCES, Split, columns_by_name, load_dataset, load_features, split_indices
from .errors import GpubpError, TrainingDiverged
from .io import load_model_file
from .model import Model, _fraction, load
from .plot import PLOT_HINT, plot_losses

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"


def _parse_hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise GpubpError(f"--hidden: expected comma-separated positive integers like 128,64, got {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise GpubpError(f"--hidden: expected comma-separated positive integers like 128,64, got {text!r}")
    return sizes


def _labels(ds: Any) -> Any:
    """Original class labels (or the regression targets) of a loaded data set."""
    if ds.task != "classify":
        return ds.y
    return host.asarray(ds.classes)[ds.y]


def _make_run_dir(out: str | None) -> tuple[str, str | None]:
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
            _remove_run_dir(path, created)
        raise GpubpError(f"--out {path}: cannot write there ({exc.strerror or exc})") from None
    return path, created


def _remove_run_dir(path: str, created: str | None) -> None:
    """Remove the run folder and the folders above it that ``_make_run_dir`` made, while empty (never another run)."""
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


class _Interrupt:
    """SIGINT sets a flag the fit loop polls after each step; a second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def is_set(self) -> bool:
        return self.requested


def _new_run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """A fresh run: the model from the flags, the data, its split and the run folder."""
    test_fraction = _fraction("test-fraction", args.test_fraction)
    model = Model(
        hidden=_parse_hidden(args.hidden),
        activation=args.activation,
        task=args.task,
        loss=args.loss,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        tol=args.tol,
        patience=args.patience,
        val_fraction=args.val_fraction,
        seed=args.seed,
        dtype=args.dtype,
        backend=args.backend or default_backend_name("auto"),
        device=args.device,
    )
    _say_backend(model, say)
    ds = load_dataset(args.data, target=args.target, task=args.task, seed=args.seed)
    split = split_indices(
        ds.X.shape[0],
        val_fraction=model.val_fraction,
        test_fraction=test_fraction,
        seed=args.seed,
        y=ds.y if ds.task == "classify" else None,
    )
    model.task = ds.task
    run_dir, created = _make_run_dir(args.out)
    data = {
        "source": args.data,
        "target": ds.target_name,
        "task": ds.task,
        "seed": args.seed,
        "n_samples": int(ds.X.shape[0]),
        "val_fraction": model.val_fraction,
        "test_fraction": test_fraction,
        "split": split.to_dict(),
        "features": ds.feature_names,  # predict and evaluate take a CSV file's columns by these names
    }
    return {"model": model, "ds": ds, "split": split, "run_dir": run_dir, "created": created, "data": data}


def _resumed_run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """A run continued from ``--resume DIR``: everything but the output flags comes from its checkpoint."""
    run_dir = args.resume
    path = os.path.join(run_dir, CHECKPOINT_FILE)
    if not os.path.isdir(run_dir):
        raise GpubpError(f"--resume {run_dir}: no such run folder")
    if not os.path.isfile(path):
        raise GpubpError(
            f"--resume {run_dir}: no {CHECKPOINT_FILE} there (the run finished, or stopped before its first epoch)"
        )
    tensors, meta = load_model_file(path)
    try:
        hp, data, trained_on = meta["hyperparameters"], meta["data"], meta["trained_on"]
        meta["checkpoint"]["history"]  # noqa: B018 - a checkpoint, not a finished model
        model = Model(
            **{**hp, "hidden": tuple(hp["hidden"])},
            backend=args.backend or trained_on["backend"],
            device=args.device if args.backend else (args.device or trained_on["device"]),
        )
    except (KeyError, TypeError) as exc:
        raise GpubpError(f"{path}: not a gpubp training checkpoint ({exc!r} missing or invalid)") from None
    _say_backend(model, say)
    source = data["source"]
    target = data.get("target") if _trained_on_csv(data) else None
    ds = load_dataset(source, target=target, task=data["task"], seed=data["seed"])
    if ds.X.shape[0] != data["n_samples"]:
        raise GpubpError(
            f"--resume {run_dir}: {source} now has {ds.X.shape[0]} rows, the run was started on {data['n_samples']}"
        )
    try:
        split = Split.from_dict(data["split"], n=ds.X.shape[0])
    except GpubpError as exc:
        raise GpubpError(f"{path}: {exc}") from None
    epochs = len(meta["checkpoint"]["history"])
    part = meta["checkpoint"].get("partial")
    say(f"resuming {run_dir} after epoch {epochs}" + (f", step {part['steps']} of epoch {epochs + 1}" if part else ""))
    history = "".join(json.dumps(record) + "\n" for record in meta["checkpoint"]["history"])
    _write_text(os.path.join(run_dir, METRICS_FILE), history, flag="--resume")  # drop epochs the checkpoint lacks
    return {
        "model": model,
        "ds": ds,
        "split": split,
        "run_dir": run_dir,
        "created": None,
        "data": data,
        "resume_from": (tensors, meta),
    }


#: ``gpubp train`` flags a resumed run takes from its checkpoint, never from the command line.
_FIXED_ON_RESUME = (
    "data", "target", "task", "hidden", "activation", "loss", "optimizer", "lr", "weight_decay", "epochs",
    "batch_size", "tol", "patience", "val_fraction", "test_fraction", "seed", "dtype", "out",
)  # fmt: skip


def _refuse_flags_with_resume(args: argparse.Namespace) -> None:
    """A flag given with ``--resume`` would be silently ignored: say so instead."""
    from .cli import build_parser

    defaults = build_parser().parse_args(["train"])
    given = [
        f"--{name.replace('_', '-')}" for name in _FIXED_ON_RESUME if getattr(args, name) != getattr(defaults, name)
    ]
    if given:
        raise GpubpError(
            f"--resume {args.resume}: {', '.join(given)} cannot be changed when resuming (the run continues with the "
            "settings it was started with; only --backend, --device, --quiet and --json may be given)"
        )


def _say_backend(model: Model, say: Callable[[str], None]) -> None:
    reason = f" ({model.backend.reason})" if model.backend.reason else ""
    say(f"using {model.backend.describe()}{reason}")


def train(args: argparse.Namespace) -> int:
    """``gpubp train``: load data, split, fit (checkpointing each epoch), evaluate on the test part, save."""
    info = sys.stderr if args.json else sys.stdout
    held: list[str] = []  # --json: what is said waits until training runs, so bad input is stderr's only line
    holding = [args.json]

    def say(message: str) -> None:
        if args.quiet:
            return
        if holding[0]:
            held.append(message)
        else:
            print(message, file=info, flush=True)

    def release() -> None:
        if holding[0]:
            holding[0] = False
            for message in held:
                say(message)

    if args.resume:
        _refuse_flags_with_resume(args)
    run = _resumed_run(args, say) if args.resume else _new_run(args, say)
    model, ds, split, run_dir = run["model"], run["ds"], run["split"], run["run_dir"]
    labels = _labels(ds)
    say(
        f"data: {ds.source} ({ds.X.shape[0]} samples, {ds.X.shape[1]} features, "
        + (f"{len(ds.classes)} classes" if ds.task == "classify" else "regression")
        + f"); split {len(split.train)}/{len(split.val)}/{len(split.test)} train/val/test"
    )
    model_path = os.path.join(run_dir, MODEL_FILE)
    checkpoint_path = os.path.join(run_dir, CHECKPOINT_FILE)
    extra = {"data": run["data"]}
    interrupt = _Interrupt()
    signal.signal(signal.SIGINT, interrupt)
    t0 = time.perf_counter()
    try:
        mode = "a" if args.resume else "w"
        with open(os.path.join(run_dir, METRICS_FILE), mode, encoding="utf-8") as log:

            def write_metrics(record: dict[str, Any]) -> None:
                log.write(json.dumps(record) + "\n")
                log.flush()
                release()  # an epoch ran: the input was good

            try:
                history = model.fit(
                    ds.X[split.train],
                    labels[split.train],
                    X_val=ds.X[split.val],
                    y_val=labels[split.val],
                    callbacks=[write_metrics],
                    progress=not args.quiet and sys.stderr.isatty(),
                    should_stop=interrupt.is_set,
                    checkpoint=checkpoint_path,
                    checkpoint_extra=extra,
                    resume_from=run.get("resume_from"),
                )
            except TrainingDiverged as exc:
                if model.history is not None and model.history.best_epoch > 0:
                    model.save(model_path, extra)
                    raise TrainingDiverged(
                        f"{exc}; the best model so far (epoch {model.history.best_epoch}) is kept in {model_path}",
                        epoch=exc.epoch,
                        step=exc.step,
                    ) from None
                raise
    except (GpubpError, TrainingDiverged):
        if not os.path.exists(model_path) and not os.path.exists(checkpoint_path):
            _remove_run_dir(run_dir, run["created"])  # nothing worth keeping: leave no half-written run
        raise
    seconds = time.perf_counter() - t0
    release()
    if history.stopped == "interrupted":
        epoch = len(history.epochs) + 1
        print(
            f"gpubp: interrupted in epoch {epoch}; checkpoint saved in {checkpoint_path}; "
            f"resume with: gpubp train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    test = model.evaluate(ds.X[split.test], labels[split.test]) if len(split.test) else None
    model.save(model_path, extra)
    os.remove(checkpoint_path)  # the run is complete: model.safetensors is its result
    plotted = plot_losses(history, os.path.join(run_dir, "loss.png"))
    if not plotted:
        say(f"no loss plot: matplotlib is not installed ({PLOT_HINT})")
    summary = {
        "backend": model.backend.name,
        "device": device_name(model.backend.device),
        "fallback_reason": model.backend.reason,
        "task": ds.task,
        "data": ds.source,
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
        "seconds": round(seconds, 3),
        "run_dir": run_dir,
        "model_path": model_path,
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "test": _public_metrics(test),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        say(
            f"trained {len(history.epochs)} epochs in {seconds:.2f} s "
            f"(best epoch {history.best_epoch}, stopped: {history.stopped})"
        )
        say(f"test: {_format_metrics(test)} on {len(split.test)} samples")
        say(f"model: {model_path}")
    return 0


def _public_metrics(metrics: dict[str, float] | None) -> dict[str, float] | None:
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "loss"} | {"loss": metrics["loss"]}


def _format_metrics(metrics: dict[str, float] | None) -> str:
    if not metrics:
        return "no test split (--test-fraction 0)"
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def _recorded_data(path: str, model: Model) -> dict[str, Any]:
    """What the model records of its training data (source, target, split, ...), checked to be usable."""
    data = model.metadata_.get("data", {})
    if not (
        isinstance(data, dict)
        and isinstance(data.get("source", ""), str)
        and isinstance(data.get("target"), (str, type(None)))
        and isinstance(data.get("seed", 0), int)
        and isinstance(data.get("features", []), list)
        and all(isinstance(name, str) for name in data.get("features", []))
    ):
        raise GpubpError(f"{path}: model metadata is invalid ('data' does not describe a data source)")
    return data


def _trained_on_csv(data: dict[str, Any]) -> bool:
    return str(data.get("source", "")).lower().endswith(".csv")


def evaluate(args: argparse.Namespace) -> int:
    """``gpubp evaluate``: metrics on the recorded test split, or on all of a data source."""
    model = load(args.model, backend=args.backend, device=args.device)
    data = _recorded_data(args.model, model)
    source = args.data or data.get("source")
    if source is None:
        raise GpubpError(f"{args.model}: the model records no data source; pass --data")
    if args.data is None and source not in SOURCES and not os.path.lexists(source):
        raise GpubpError(
            f"{args.model}: was trained on {source}, which is not there (a path is recorded as given to "
            "gpubp train, relative to where it ran); pass --data"
        )
    if args.split == "test" and source != data.get("source"):
        raise GpubpError(
            f"--split test: the recorded split belongs to {data.get('source')!r}; use --split all for {source!r}"
        )
    by_name = _trained_on_csv(data) and str(source).lower().endswith(".csv")
    target = data.get("target") if by_name else None
    ds = load_dataset(source, target=target, task=model.task_, seed=data.get("seed", 0), origin=args.model)
    if by_name and data.get("features"):
        ds.X = ds.X[:, columns_by_name(source, ds.feature_names, data["features"])]
    if ds.X.shape[1] != model.n_features:
        raise GpubpError(f"{source}: has {ds.X.shape[1]} features, but {args.model} was trained on {model.n_features}")
    labels = _labels(ds)
    rows = host.arange(ds.X.shape[0])
    if args.split == "test":
        if ds.X.shape[0] != data.get("n_samples"):
            raise GpubpError(
                f"--data {source}: has {ds.X.shape[0]} rows, "
                f"but the model's split was recorded for {data.get('n_samples')}"
            )
        try:
            rows = Split.from_dict(data.get("split"), n=ds.X.shape[0]).test
        except GpubpError as exc:
            raise GpubpError(f"{args.model}: {exc}") from None
        if len(rows) == 0:
            raise GpubpError(f"{args.model}: the model was trained with no test split; use --split all")
    metrics = model.evaluate(ds.X[rows], labels[rows])
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{args.split}: {_format_metrics(metrics)} on {len(rows)} samples ({model.backend.describe()})")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``gpubp predict``: one CSV row per sample: label and probabilities, or values."""
    model = load(args.model, backend=args.backend, device=args.device)
    data = _recorded_data(args.model, model)
    if args.out is not None and os.path.isfile(args.out) and os.path.isfile(args.data):
        if os.path.samefile(args.out, args.data):
            raise GpubpError(f"--out {args.out}: is the --data file; the predictions would overwrite the data")
    by_name = _trained_on_csv(data)
    X = load_features(
        args.data,
        n_features=model.n_features,
        target=data.get("target") if by_name else None,
        seed=data.get("seed", 0),
        feature_names=data.get("features") if by_name else None,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if model.task_ == "classify":
        labels, proba = model.predict(X), model.predict_proba(X)
        writer.writerow(["prediction", *(f"p_{c}" for c in model.classes)])
        for label, row in zip(labels.tolist(), proba.tolist(), strict=True):
            writer.writerow([label, *(f"{p:.6g}" for p in row)])
    else:
        values = model.predict(X)
        values = values.reshape(len(values), -1)
        writer.writerow(["prediction"] if values.shape[1] == 1 else [f"prediction_{j}" for j in range(values.shape[1])])
        for row in values.tolist():
            writer.writerow([f"{v:.8g}" for v in row])
    _write_text(args.out, buffer.getvalue())
    return 0


def _write_text(path: str | None, text: str, flag: str = "--out") -> None:
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


def info(args: argparse.Namespace) -> int:
    """``gpubp info``: versions, backends (available or why not) and devices."""
    report = {
        "gpubp": __version__,
        "python": platform.python_version(),
        "numpy": library_version("numpy"),
        "default_backend": default_backend_name("auto"),
        "backends": backend_report(),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"gpubp {report['gpubp']} (python {report['python']}, numpy {report['numpy']})")
    for entry in report["backends"]:
        if entry["available"]:
            devices = ", ".join(
                d["name"] + (f" ({d['gpu']}, {d['memory_gib']} GiB)" if "gpu" in d else "") for d in entry["devices"]
            )
            print(f"  {entry['name']:<17} {entry['version'] or '':<12} available: {devices}")
        else:
            print(f"  {entry['name']:<17} {entry['version'] or '-':<12} unavailable: {entry['reason']}")
    return 0


#: Exit code of ``gpubp parity`` when a difference exceeds the tolerance.
PARITY_FAILED = 4


def parity(args: argparse.Namespace) -> int:
    """``gpubp parity``: same seed, same batches on each backend; per-layer differences."""
    from .parity import run_parity

    specs = []
    for item in (part.strip() for part in args.backends.split(",")):
        if not item:
            continue
        name, _, device = item.partition(":")
        specs.append((name, device or None))
    report = run_parity(specs, steps=args.steps, dtype=args.dtype, data=args.data, seed=args.seed)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "reference": report.reference,
                    "dtype": report.dtype,
                    "steps": report.steps,
                    "tolerance": report.tol,
                    "rows": report.rows,
                }
            )
        )
    else:
        print(report.table())
    return 0 if report.ok else PARITY_FAILED


def bench(args: argparse.Namespace) -> int:
    """``gpubp bench``: the table on stdout, progress on stderr, JSON and PNG where asked."""
    from .bench import FULL, QUICK, Sweep, run_bench

    preset = QUICK if args.quick else FULL
    sweep = Sweep(
        batches=_sizes("batches", args.batches) if args.batches else preset["batches"],
        widths=_sizes("widths", args.widths) if args.widths else preset["widths"],
        depths=_sizes("depths", args.depths) if args.depths else preset["depths"],
        repeats=preset["repeats"] if args.repeats is None else args.repeats,
        warmup=preset["warmup"] if args.warmup is None else args.warmup,
        dtype=args.dtype,
        loss=args.loss,
        quick=args.quick,
        peak_n=args.peak_size,
        seed=args.seed,
    )
    json_path, report = args.json, sys.stdout
    if json_path == "-":  # stdout carries the JSON alone: the table moves to stderr
        json_path, report = None, sys.stderr
    elif json_path == "":
        json_path = os.path.join(args.out or os.path.join("runs", time.strftime("bench-%Y%m%d-%H%M%S")), "bench.json")
    plot_path = args.plot
    if plot_path is None and json_path is not None:
        plot_path = os.path.splitext(json_path)[0] + ".png"
    for flag, path in (("--json", json_path), ("--plot", plot_path)):
        if path is not None and os.path.isdir(path):
            raise GpubpError(f"{flag} {path}: is a folder, expected a file name")
    doc = run_bench(backends=args.backends, sweep=sweep, json_path=json_path, plot_path=plot_path, report=report)
    if args.json == "-":
        print(json.dumps(doc))
    return 0


def _sizes(flag: str, text: str) -> tuple[int, ...]:
    """``16,64,256`` -> (16, 64, 256), positive integers only."""
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise GpubpError(f"--{flag}: expected comma-separated positive integers like 16,64, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise GpubpError(f"--{flag}: expected comma-separated positive integers like 16,64, got {text!r}")
    return sizes


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "bench": bench,
    "parity": parity,
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "info": info,
}
