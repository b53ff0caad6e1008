"""``gpubp evaluate`` and ``gpubp predict``: a saved model on its recorded test split, or on new data."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from typing import Any

from ..backend import host
from ..data import SOURCES, Split, columns_by_name, decide_task, load_dataset, load_features
from ..errors import GpubpError, ParameterError
from ..estimators import MLPClassifier
from ..estimators.base import BaseMLP
from ..persist import load
from .output import emit, write_text
from .runs import CHECKPOINT_FILE, MODEL_FILE
from .train import format_metrics


def recorded_data(path: str, est: BaseMLP) -> dict[str, Any]:
    """What the model records of its training data (source, target, split, ...), checked to be usable."""
    data = est.metadata_.get("data", {})
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


def load_model(path: str, backend: str | None, device: str | None) -> BaseMLP:
    """The model at ``path``; a run folder given instead is named as one, with the file to give."""
    if os.path.isdir(path):
        model, checkpoint = os.path.join(path, MODEL_FILE), os.path.join(path, CHECKPOINT_FILE)
        if os.path.isfile(model):
            raise GpubpError(f"{path}: is a run folder; give its model file, {model}")
        if os.path.isfile(checkpoint):
            raise GpubpError(f"{path}: is a run folder whose run has not finished; resume it, or give {checkpoint}")
        raise GpubpError(f"{path}: is a folder, not a model file")
    return load(path, backend=backend, device=device)


def _csv(source: Any) -> bool:
    return str(source).lower().endswith(".csv")


def evaluate(args: argparse.Namespace) -> int:
    """``gpubp evaluate``: metrics on the recorded test split, or on all of a data source."""
    est = load_model(args.model, args.backend, args.device)
    data = recorded_data(args.model, est)
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
    by_name = _csv(data.get("source")) and _csv(source)
    try:
        ds = load_dataset(source, target=data.get("target") if by_name else None, seed=data.get("seed", 0))
    except ParameterError as exc:
        if "target" not in exc.params:
            raise
        raise GpubpError(
            f"{source}: no column {data.get('target')!r}, the target {args.model} was trained on"
        ) from None
    task = "classify" if isinstance(est, MLPClassifier) else "regress"
    try:
        _, y = decide_task(ds, task)
    except ParameterError as exc:
        kind = "classification" if task == "classify" else "regression"
        raise GpubpError(f"{args.model} is a {kind} model: {exc.problem}") from None
    if by_name and data.get("features"):
        ds.X = ds.X[:, columns_by_name(source, ds.feature_names, data["features"])]
    if ds.X.shape[1] != est.n_features_in_:
        raise GpubpError(
            f"{source}: has {ds.X.shape[1]} features, but {args.model} was trained on {est.n_features_in_}"
        )
    rows = host.arange(ds.n_samples)
    if args.split == "test":
        if ds.n_samples != data.get("n_samples"):
            raise GpubpError(
                f"--data {source}: has {ds.n_samples} rows, "
                f"but the model's split was recorded for {data.get('n_samples')}"
            )
        try:
            rows = Split.from_dict(data.get("split"), n=ds.n_samples).test
        except GpubpError as exc:
            raise GpubpError(f"{args.model}: {exc}") from None
        if len(rows) == 0:
            raise GpubpError(f"{args.model}: the model was trained with no test split; use --split all")
    metrics = est.evaluate(ds.X[rows], y[rows])
    if args.json:
        emit(json.dumps(metrics) + "\n")
    else:
        emit(f"{args.split}: {format_metrics(metrics)} on {len(rows)} samples ({est.backend_})\n")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``gpubp predict``: one CSV row per sample: label and probabilities, or values."""
    est = load_model(args.model, args.backend, args.device)
    data = recorded_data(args.model, est)
    if args.out is not None and os.path.isfile(args.out) and os.path.isfile(args.data):
        if os.path.samefile(args.out, args.data):
            raise GpubpError(f"--out {args.out}: is the --data file; the predictions would overwrite the data")
    by_name = _csv(data.get("source"))
    X = load_features(
        args.data,
        n_features=est.n_features_in_,
        target=data.get("target") if by_name else None,
        seed=data.get("seed", 0),
        feature_names=data.get("features") if by_name else None,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if isinstance(est, MLPClassifier):
        labels, proba = est.predict(X), est.predict_proba(X)
        writer.writerow(["prediction", *(f"p_{c}" for c in est.classes_.tolist())])
        for label, row in zip(labels.tolist(), proba.tolist(), strict=True):
            writer.writerow([label, *(f"{p:.6g}" for p in row)])
    else:
        values = est.predict(X)
        values = values.reshape(len(values), -1)
        writer.writerow(["prediction"] if values.shape[1] == 1 else [f"prediction_{j}" for j in range(values.shape[1])])
        for row in values.tolist():
            writer.writerow([f"{v:.8g}" for v in row])
    write_text(args.out, buffer.getvalue())
    return 0


def export(args: argparse.Namespace) -> int:
    """``gpubp export``: the model as an ONNX graph or a PyTorch state dict (printing the lines that load it)."""
    est = load_model(args.model, "numpy", None)  # the weights are read on the host either way
    if args.format == "onnx":
        if args.opset is not None and args.opset <= 0:
            raise GpubpError(f"--opset {args.opset}: must be a positive integer")
        est.to_onnx(args.out, opset=args.opset)
        emit(f"wrote {args.out} (ONNX: input 'X', outputs " + ("'label', 'probabilities')\n" if
             isinstance(est, MLPClassifier) else "'value')\n"))  # fmt: skip
        return 0
    if args.opset is not None:
        raise GpubpError("--opset: only for --format onnx")
    emit(f"{est.save_torch(args.out)}\n")
    return 0
