"""Saving a fitted estimator to one ``.safetensors`` file, and :func:`load` -- which gives the right estimator back.

The file holds the network's weights (and the input standardisation) as
tensors and everything else as JSON (see :mod:`gpubp.estimators.state`);
nothing is pickled. A file is checked before it is trusted: the network its
metadata describes must match the tensors' names, shapes and float dtypes
before anything is built, every weight must be finite, the recorded
settings must be valid ones, a checkpoint's training state must be whole
(:mod:`gpubp.checkpoint`), and the SHA-256 saved with the file must match.
"""

from __future__ import annotations

import math
import os
from typing import Any

from . import settings
from .backend import Backend, host
from .errors import GpubpError, one_line
from .estimators import MLPClassifier, MLPRegressor
from .estimators.base import BaseMLP
from .estimators.state import DIGEST, digest, import_state, params_from_json, placement
from .io import load_model_file, read_header
from .layers import ACTIVATIONS, Identity

#: The estimator classes a model file may name.
ESTIMATORS: dict[str, type[BaseMLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

#: Output activations per estimator.
_OUTPUTS = {"MLPClassifier": ("softmax", "logistic"), "MLPRegressor": ("identity", "exp")}


def save(
    est: BaseMLP, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None, checkpoint: bool = False
) -> None:
    """Write ``est`` (fitted) to ``path`` atomically: :meth:`BaseMLP.save`, as a function."""
    est.save(path, extra=extra, checkpoint=checkpoint)


def load(path: str | os.PathLike[str], backend: Backend | str | None = None, device: Any = None) -> BaseMLP:
    """Load a model written by ``save`` (or ``gpubp train``) as the estimator it was.

    Parameters
    ----------
    path : str or PathLike
        A ``.safetensors`` file written by gpubp.
    backend, device
        Where to put it; None: where it was trained if that works here
        (``GPUBP_BACKEND`` wins), else the CPU, with the reason in ``backend_``.

    Returns
    -------
    MLPClassifier or MLPRegressor
        Fitted; with the training state too when the file is a checkpoint.
        The file's metadata is kept in ``metadata_``.

    Raises
    ------
    GpubpError
        One line naming the file and what is wrong with it.
    """
    where = os.fspath(path)
    infos, meta = read_header(where)  # nothing of the tensors read yet
    place = placement(meta, backend, device) if backend is not None else None  # a bad backend: its own error
    try:
        est = _estimator(meta)
        check_model(meta, infos)  # names, shapes and dtypes against the network, before any allocation
    except GpubpError as exc:
        raise GpubpError(f"{where}: model metadata is invalid ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise GpubpError(f"{where}: model metadata is incomplete or invalid ({one_line(repr(exc))})") from None
    tensors, meta = load_model_file(where)
    try:
        check_values(meta, tensors)
    except GpubpError as exc:
        raise GpubpError(f"{where}: model metadata is invalid ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise GpubpError(f"{where}: model metadata is incomplete or invalid ({one_line(repr(exc))})") from None
    if place is None:  # GPUBP_BACKEND, else where it was trained: a bad backend name is its own error, not the file's
        place = placement(meta)
    try:
        import_state(est, tensors, meta, backend=place)
    except GpubpError as exc:
        raise GpubpError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise GpubpError(f"{where}: model metadata is incomplete or invalid ({one_line(repr(exc))})") from None
    recorded = meta.get(DIGEST)
    if recorded is not None and recorded != digest(tensors, meta):  # last: a specific message wins where there is one
        what = "checkpoint" if "checkpoint" in meta else "model"
        raise GpubpError(f"{where}: damaged {what}: its contents do not match the SHA-256 saved with them")
    est.metadata_ = meta
    return est


def _estimator(meta: dict[str, Any]) -> BaseMLP:
    """A new estimator of the recorded class with the recorded (and checked) settings."""
    if "estimator" not in meta:
        raise GpubpError("written by an older gpubp (before the scikit-learn estimators); train the model again")
    name = meta["estimator"]
    if name not in ESTIMATORS:
        raise GpubpError(f"unknown estimator {name!r} (expected {', '.join(ESTIMATORS)})")
    cls = ESTIMATORS[name]
    params = meta["params"]
    if not isinstance(params, dict):
        raise GpubpError("'params' must be a dict of settings")
    known = {s.name for s in settings.settings_for(cls._kind)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise GpubpError(f"unknown settings {', '.join(unknown)}")
    params = params_from_json(params)
    settings.validate(params)
    return cls(**params)


def check_model(meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    """The network the metadata describes against the tensors' names, shapes and dtypes, before any is read.

    ``tensors`` maps names to anything with ``shape`` and ``dtype``: the
    header's :class:`~gpubp.io.TensorInfo` (dtype a name) or arrays.
    """
    architecture = meta["architecture"]
    layers = architecture.get("layers") if isinstance(architecture, dict) else None
    if not isinstance(layers, list) or not layers:
        raise GpubpError("the network description must be a dict with a 'layers' list")
    expected: dict[str, tuple[int, ...]] = {}
    width = None
    for i, spec in enumerate(layers):
        if not isinstance(spec, dict):
            raise GpubpError(f"layer {i} of the network description is not a dict")
        if spec.get("type") == "Linear":
            n_in, n_out = spec.get("in_features"), spec.get("out_features")
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n_in, n_out)):
                raise GpubpError(f"layer {i}: Linear sizes must be positive integers")
            if width is not None and n_in != width:
                raise GpubpError(f"layer {i}: Linear takes {n_in} inputs but the Linear before it gives {width}")
            expected[f"{i}.weight"], expected[f"{i}.bias"] = (n_in, n_out), (n_out,)
            width = n_out
    _check_layers(meta["params"], layers)
    network = {name: t for name, t in tensors.items() if name.split(".", 1)[0].isdigit()}
    if set(network) != set(expected):
        missing, extra = sorted(set(expected) - set(network)), sorted(set(network) - set(expected))
        raise GpubpError(f"the weights do not fit the network: missing {missing}, unexpected {extra}")
    others = sorted(set(tensors) - set(network) - {"standardize.mean", "standardize.scale"})
    if others and "checkpoint" not in meta:  # a checkpoint's training state is checked when it is imported
        raise GpubpError(f"unexpected tensors {', '.join(others)} (a model holds its network and standardisation)")
    dtype = meta["trained_on"]["dtype"]
    for name, shape in expected.items():
        value = network[name]
        if tuple(value.shape) != shape:
            raise GpubpError(f"tensor {name!r} has shape {tuple(value.shape)}, the network needs {shape}")
        if _dtype_name(value) != dtype:  # another dtype is refused, never cast
            raise GpubpError(f"tensor {name!r} has dtype {_dtype_name(value)}, the model is {dtype}")
    fitted = meta["fitted"]
    first, last = expected[f"{min(int(k.split('.')[0]) for k in expected)}.weight"], None
    last = [shape for name, shape in expected.items() if name.endswith(".weight")][-1]
    if fitted["n_features_in_"] != first[0] or fitted["n_outputs_"] != last[1]:
        raise GpubpError(
            f"n_features_in_ {fitted['n_features_in_']} and n_outputs_ {fitted['n_outputs_']} do not fit the "
            f"network's weights ({first[0]} inputs, {last[1]} outputs)"
        )
    if fitted["out_activation_"] not in _OUTPUTS[meta["estimator"]]:
        raise GpubpError(f"out_activation_ {fitted['out_activation_']!r} does not suit {meta['estimator']}")
    if meta["estimator"] == "MLPClassifier":
        classes = fitted["classes_"]
        outputs = 1 if len(classes) == 2 and fitted["out_activation_"] == "logistic" else len(classes)
        if not isinstance(classes, list) or len(classes) < 2 or outputs != fitted["n_outputs_"]:
            raise GpubpError(f"{len(classes)} classes do not fit {fitted['n_outputs_']} outputs")
        _check_labels(classes)
    elif "classes_" in fitted:
        raise GpubpError("classes_ is recorded, but a regressor has no classes")
    names = fitted.get("feature_names_in_")
    if names is not None and (not isinstance(names, list) or len(names) != fitted["n_features_in_"]):
        raise GpubpError("feature_names_in_ must list one name per feature")
    if names is not None and not all(isinstance(name, str) for name in names):
        raise GpubpError("feature_names_in_ must be strings, the column names it was fitted on")
    if ("standardize.mean" in tensors) != ("standardize.scale" in tensors):
        raise GpubpError("the standardisation needs both a mean and a scale")
    if "standardize.mean" in tensors:
        mean, scale = tensors["standardize.mean"], tensors["standardize.scale"]
        if tuple(mean.shape) != (first[0],) or tuple(scale.shape) != (first[0],):
            raise GpubpError(f"the standardisation must have {first[0]} values per statistic")
        if _dtype_name(mean) != "float64" or _dtype_name(scale) != "float64":
            raise GpubpError(f"the standardisation must be float64, not {_dtype_name(mean)} and {_dtype_name(scale)}")


def check_values(meta: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Once read: every weight finite, the standardisation finite with positive scales."""
    for name, value in tensors.items():
        if name.split(".", 1)[0].isdigit() and not host.all(host.isfinite(value)):
            raise GpubpError(f"tensor {name!r} holds NaN or infinite weights; the model is unusable")
    if "standardize.mean" in tensors:
        mean, scale = tensors["standardize.mean"], tensors["standardize.scale"]
        if not (host.all(host.isfinite(mean)) and host.all(host.isfinite(scale)) and host.all(scale > 0)):
            raise GpubpError("the standardisation must be finite, with every scale positive")


def _check_labels(classes: list[Any]) -> None:
    """Class labels as fit records them: distinct, and all numbers (bools too) or all strings; never null or nested."""
    numbers = all(isinstance(c, (int, float)) for c in classes)  # bool is an int
    if not (numbers or all(isinstance(c, str) for c in classes)):
        kinds = sorted({type(c).__name__ if c is not None else "null" for c in classes})
        raise GpubpError(f"classes_ must be all numbers or all strings, not {', '.join(kinds)}")
    if not all(math.isfinite(c) for c in classes if isinstance(c, float)):  # JSON reads 1e999 as infinity
        raise GpubpError("classes_ must be finite numbers")
    if len(set(classes)) != len(classes):
        raise GpubpError("classes_ names a class twice")


def _dtype_name(t: Any) -> str:
    """A tensor's dtype as a name, from a header entry (already a name) or an array."""
    return t.dtype if isinstance(t.dtype, str) else t.dtype.name


def _check_layers(params: dict[str, Any], layers: list[Any]) -> None:
    """The network's layers must be the ones the settings build: hidden_layer_sizes, each with the activation."""
    hidden = params["hidden_layer_sizes"]
    hidden = [hidden] if isinstance(hidden, int) else list(hidden)
    act = ACTIVATIONS[params["activation"]]
    one = ["Linear"] if act is Identity else ["Linear", act.__name__]
    types = [spec.get("type") for spec in layers]
    widths = [spec.get("out_features") for spec in layers if spec.get("type") == "Linear"][:-1]
    if types != one * len(hidden) + ["Linear"] or widths != hidden:
        shown = ",".join(str(h) for h in hidden)
        raise GpubpError(
            f"the network ({' -> '.join(str(t) for t in types)}) is not the one the settings describe "
            f"(hidden_layer_sizes {shown}, activation {params['activation']})"
        )
