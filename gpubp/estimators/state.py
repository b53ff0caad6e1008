"""A fitted estimator as plain data -- host tensors and a JSON document -- and back.

One format serves pickling (``__getstate__``) and model files
(:mod:`gpubp.persist`): the network's weights under their ``Sequential`` names
(``0.weight``, ``0.bias``, ...), the input standardisation, and with
``checkpoint`` the training state (optimizer, best weights, generator,
validation rows, a part-done epoch). Importing resolves the backend again, so
a model fitted on a GPU comes back on a machine without one (on NumPy, with
the reason recorded).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Any

import array_api_compat

from .. import __version__, settings
from ..backend import (
    BACKENDS,
    Backend,
    default_backend_name,
    device_name,
    host,
    host_rng,
    library_version,
    resolve,
    to_host,
)
from ..checkpoint import check_rows, damaged
from ..errors import GpubpError
from ..io import save_model_file
from ..network import Sequential
from ..train import History

#: The fitted attributes stored as JSON (the network and arrays are tensors).
FITTED = (
    "n_features_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
)


def json_params(estimator: Any) -> dict[str, Any]:
    """``get_params()`` as JSON values: tuples become lists, a RandomState or Generator becomes None."""
    out = {}
    for name, value in estimator.get_params().items():
        if isinstance(value, host.generic):  # a NumPy scalar setting: its Python value
            value = value.item()
        if isinstance(value, (tuple, list, host.ndarray)):
            value = [v.item() if isinstance(v, host.generic) else v for v in list(value)]
        elif isinstance(value, (host.random.RandomState, host.random.Generator)):
            value = None  # a generator's state is not a setting; the fitted weights carry its effect
        elif isinstance(value, float) and math.isinf(value):
            value = "inf"
        elif name == "device" and value is not None and not isinstance(value, (str, int)):
            value = str(value)
        out[name] = value
    return out


def params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`json_params` for the constructor."""
    out = dict(params)
    if isinstance(out.get("hidden_layer_sizes"), list):
        out["hidden_layer_sizes"] = tuple(out["hidden_layer_sizes"])
    if out.get("n_iter_no_change") == "inf":
        out["n_iter_no_change"] = math.inf
    return out


def _json_float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def export_state(est: Any, *, checkpoint: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(host tensors, JSON metadata) describing the fitted ``est`` completely."""
    tensors = dict(est._net.state_dict())
    if est.feature_mean_ is not None:
        tensors["standardize.mean"] = host.asarray(est.feature_mean_, dtype=host.float64)
        tensors["standardize.scale"] = host.asarray(est.feature_scale_, dtype=host.float64)
    fitted = {name: _json_float(getattr(est, name)) for name in FITTED if name in est.__dict__}
    for name in ("loss_curve_", "validation_scores_"):
        if fitted.get(name) is not None:
            fitted[name] = [_json_float(v) for v in fitted[name]]
    if hasattr(est, "classes_"):
        fitted["classes_"] = [_plain(c) for c in to_host(est.classes_).tolist()]
    if hasattr(est, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(name) for name in est.feature_names_in_]
    history = est.__dict__.get("history_")
    backend: Backend = est._backend
    lib = backend.name if backend.name != "numpy" else None
    meta: dict[str, Any] = {
        "estimator": type(est).__name__,
        "params": json_params(est),
        "fitted": fitted,
        "architecture": est._net.config(),
        "history": {
            "epochs": history.epochs if history is not None else [],
            "best_epoch": history.best_epoch if history is not None else 0,
            "stopped": history.stopped if history is not None else "",
        },
        "trained_on": {
            "backend": backend.name,
            "device": device_name(backend.device),
            "fallback_reason": backend.reason,
            "dtype": est._dtype_name,
        },
        "versions": {
            "gpubp": __version__,
            "numpy": library_version("numpy"),
            "array_api_compat": array_api_compat.__version__,
            **({lib: library_version(lib)} if lib else {}),
        },
    }
    if checkpoint and "_trainer" in est.__dict__:
        trainer_tensors, trainer_meta = est._trainer.state_dict()
        tensors.update(trainer_tensors)
        for part in ("train", "val"):
            rows = est.__dict__.get(f"_{part}_rows")
            if rows is not None:
                tensors[f"split.{part}"] = host.asarray(rows, dtype=host.int64)
        meta["checkpoint"] = trainer_meta
    return tensors, meta


def _plain(value: Any) -> Any:
    """A class label as a JSON value (whole floats stay floats: 1.0 is not the label 1)."""
    return value.item() if hasattr(value, "item") else value


def placement(meta: dict[str, Any], backend: Any = None, device: Any = None) -> Backend:
    """Where a stored model goes: ``backend``/``device`` if given, else where it was trained, else ``auto``."""
    if backend is not None:
        return resolve(backend, device)
    trained = meta.get("trained_on", {})
    name, where = trained.get("backend"), trained.get("device")
    env = default_backend_name("")
    if env:
        return resolve(env, device)
    if name in BACKENDS and name != "auto":
        try:
            return resolve(name, None if where in (None, "cpu") and name != "array_api_strict" else where)
        except GpubpError as exc:  # the library or device is not here: the CPU it is, with the reason
            fallback = resolve("auto")
            return Backend(fallback.name, fallback.xp, fallback.device, reason=f"{name} on {where} unavailable: {exc}")
    return resolve("auto", device)


def import_state(est: Any, tensors: dict[str, Any], meta: dict[str, Any], backend: Backend | None = None) -> None:
    """Rebuild ``est``'s fitted state from :func:`export_state`'s output on ``backend`` (default: :func:`placement`)."""
    backend = backend if backend is not None else placement(meta)
    fitted = meta["fitted"]
    dtype_name = meta["trained_on"]["dtype"]
    settings.check("dtype", dtype_name)
    weights = {name: value for name, value in tensors.items() if name.split(".", 1)[0].isdigit()}
    net = Sequential.from_config(meta["architecture"], backend=backend, dtype=dtype_name, state=weights)
    net.layers[0].needs_input_grad = False
    est._net, est._backend, est._dtype_name = net, backend, dtype_name
    for name in FITTED:
        if name in fitted:
            setattr(est, name, fitted[name])
    if "classes_" in fitted:
        est.classes_ = host.asarray(fitted["classes_"])
    if "feature_names_in_" in fitted:
        est.feature_names_in_ = host.asarray(fitted["feature_names_in_"], dtype=object)
    if "standardize.mean" in tensors:
        est.feature_mean_ = tensors["standardize.mean"]
        est.feature_scale_ = tensors["standardize.scale"]
        dt = backend.dtype(dtype_name)
        est._std = (backend.asarray(est.feature_mean_, dtype=dt), backend.asarray(est.feature_scale_, dtype=dt))
    else:
        est.feature_mean_ = est.feature_scale_ = None
        est._std = None
    record = meta.get("history", {})
    est.history_ = History(
        list(record.get("epochs", [])), int(record.get("best_epoch", 0)), str(record.get("stopped", ""))
    )
    est.__dict__.pop("_classes_dev", None)
    state = meta.get("checkpoint")
    if state is not None:
        _import_trainer(est, tensors, state)


def _import_trainer(est: Any, tensors: dict[str, Any], state: dict[str, Any]) -> None:
    """The training state of a checkpoint: a trainer ready to continue, and the validation rows.

    Every part is checked before it is used (see :mod:`gpubp.checkpoint`); a
    damaged one raises GpubpError and leaves ``est`` without training state.
    """
    p = settings.validate(params_from_json(est.get_params()))
    if p["solver"] == "lbfgs":
        raise damaged("state", "for solver 'lbfgs', which keeps none")
    unknown = sorted(name for name in tensors if not _checkpoint_tensor(name))
    if unknown:
        raise damaged("tensors:", f"unexpected {', '.join(unknown)}")
    train_rows, val_rows = _split_rows(tensors, p["early_stopping"])
    trainer = est._new_trainer(p, host_rng(0), batch_size=1)  # the batch is set from the data when training goes on
    trainer.load_state_dict(tensors, state)
    order = tensors.get("partial.order")
    if order is not None and train_rows is not None:
        if len(order) != len(train_rows) or not host.array_equal(host.sort(order), host.sort(train_rows)):
            raise damaged("tensor 'partial.order'", "does not order the training rows of 'split.train'")
    est._train_rows, est._val_rows, est._n_rows = train_rows, val_rows, None
    est.history_ = trainer.history
    est._trainer = trainer


#: Tensor names a checkpoint may hold besides the network's: prefixes, and whole names.
_STATE_PREFIXES = ("optim.", "best.")
_STATE_NAMES = ("standardize.mean", "standardize.scale", "partial.order", "split.train", "split.val")


def _checkpoint_tensor(name: str) -> bool:
    return name.split(".", 1)[0].isdigit() or name in _STATE_NAMES or name.startswith(_STATE_PREFIXES)


def _split_rows(tensors: dict[str, Any], early_stopping: bool) -> tuple[Any, Any]:
    """Early stopping's (train, validation) rows: together every row 0..n-1 once; (None, None) without it."""
    train, val = tensors.get("split.train"), tensors.get("split.val")
    if not early_stopping:
        if train is not None or val is not None:
            raise damaged("tensors 'split.train', 'split.val'", "are there, but the run has no early stopping")
        return None, None
    if train is None or val is None:
        raise damaged("tensors 'split.train', 'split.val'", "must both be there (early stopping's split)")
    for name, rows in (("split.train", train), ("split.val", val)):
        check_rows(name, rows)
    every = host.sort(host.concatenate([train, val]))
    if not host.array_equal(every, host.arange(len(every))):
        raise damaged("tensors 'split.train', 'split.val'", "must split the rows 0..n-1, each once")
    if len(val) < 2 or len(train) < 1:
        raise damaged("tensor 'split.val'", f"holds {len(val)} rows and 'split.train' {len(train)}; too few")
    return train, val


def check_resumable(est: Any, n_rows: int) -> None:
    """A loaded checkpoint's training state against the ``n_rows`` rows ``fit`` will be given to continue it.

    Raises
    ------
    GpubpError
        The split or the part-done epoch was made for another number of rows.
    """
    train, val = est.__dict__.get("_train_rows"), est.__dict__.get("_val_rows")
    if train is not None and len(train) + len(val) != n_rows:
        raise GpubpError(
            f"its early-stopping split covers {len(train) + len(val)} rows, but {n_rows} rows are given to train on"
        )
    trainer = est.__dict__.get("_trainer")
    if trainer is None or trainer.partial is None:
        return
    n = n_rows if train is None else len(train)
    order = trainer.partial["order"]
    if train is None and (len(order) != n or not host.array_equal(host.sort(order), host.arange(n))):
        raise GpubpError(f"its part-done epoch orders {len(order)} rows, but {n} rows are given to train on")
    batch = est.batch_size
    batch = min(200, n) if batch == "auto" else min(batch, n)
    if trainer.partial["steps"] > -(-n // batch):
        raise GpubpError(
            f"its part-done epoch is at step {trainer.partial['steps']}, past the {-(-n // batch)} steps of an epoch"
        )


#: The metadata key of :func:`digest`'s SHA-256.
DIGEST = "sha256"


def digest(tensors: dict[str, Any], meta: dict[str, Any]) -> str:
    """SHA-256 of a file's tensors (names, dtypes, shapes, bytes) and, for a checkpoint, of all its metadata.

    :func:`save` stores it under ``sha256``; :func:`load` recomputes it after
    every other check, so a flipped bit that leaves every value plausible is
    still refused. (A model's metadata is left out: it is checked field by
    field, and the command's run records in it may be edited by hand.)
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        value = host.asarray(tensors[name])
        stored = host.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        h.update(json.dumps([name, stored.dtype.str, list(stored.shape)]).encode())
        h.update(stored.tobytes())
    if "checkpoint" in meta:
        rest = {key: value for key, value in meta.items() if key != DIGEST}
        h.update(json.dumps(rest, sort_keys=True, allow_nan=False).encode())
    return h.hexdigest()


def write_model(est: Any, path: str | os.PathLike[str], *, extra: dict[str, Any] | None, checkpoint: bool) -> None:
    """``est`` (fitted) as one model file at ``path``, atomically, sealed with its :func:`digest`."""
    tensors, meta = export_state(est, checkpoint=checkpoint)
    meta = {**meta, **(extra or {})}
    meta[DIGEST] = digest(tensors, meta)
    save_model_file(path, tensors, meta)
