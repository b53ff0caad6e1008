"""What an export holds: the network as plain host arrays, the input standardisation, the output head.

Both exports (ONNX and PyTorch) read a trained :class:`~gpubp.network.Sequential`
through :func:`network_steps` -- ``Linear`` layers as host weight and bias
arrays, activations by name -- so they support exactly the same layers and
refuse the same ones with the same message. :func:`check_head` and
:func:`check_standardisation` validate the plain values an estimator keeps
beside its network.

Heads (what ``predict`` / ``predict_proba`` give, scikit-learn's conventions):

    softmax    C >= 2 logits: probabilities = softmax (n, C); label = classes[argmax(logits)]
    logistic   1 logit z: probabilities = [1 - p, p] (n, 2), p = sigmoid(z); label = classes[z > 0]
               k >= 2 logits (multilabel): probabilities = sigmoid (n, k); label = (z > 0) as int64 (n, k)

The labels follow the logits' signs, as ``predict`` does: ``p > 0.5`` would differ
where a tiny positive logit rounds p to exactly 0.5.
    identity   value = output: (n,) for one output, else (n, t)
    exp        value = exp(output) (Poisson regression), shaped as for identity
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import host, namespace, to_host
from ..errors import GpubpError, ParameterError, one_line
from ..layers import Identity, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from ..network import Sequential

#: The head names an export accepts.
HEADS: tuple[str, ...] = ("softmax", "logistic", "identity", "exp")

#: gpubp layer type -> activation name (Linear is the one layer with weights).
ACTIVATION_NAMES: dict[type[Layer], str] = {
    ReLU: "relu",
    Sigmoid: "sigmoid",
    Tanh: "tanh",
    LeakyReLU: "leaky_relu",
    Identity: "identity",
}

SUPPORTED = ", ".join(["Linear", *(cls.__name__ for cls in ACTIVATION_NAMES)])


@dataclass(frozen=True)
class Dense:
    """A ``Linear`` layer as host arrays: ``h = x @ weight + bias``."""

    weight: Any  # (in, out), host, the export dtype
    bias: Any  # (out,)


@dataclass(frozen=True)
class Activation:
    """An activation layer by name (``relu``, ``sigmoid``, ``tanh``, ``leaky_relu``, ``identity``)."""

    name: str
    negative_slope: float = 0.0  # leaky_relu only


@dataclass(frozen=True)
class Head:
    """A validated output head: its name, the network's output width, and the classes (classifiers only)."""

    name: str
    n_outputs: int
    classes: Any  # host str, int64, bool or float array of shape (C,); None for regressors and multilabel

    @property
    def is_classifier(self) -> bool:
        return self.name in ("softmax", "logistic")

    @property
    def multilabel(self) -> bool:
        return self.name == "logistic" and self.n_outputs > 1


def export_dtype(dtype: str | None, net: Sequential) -> str:
    """``dtype`` checked, or the dtype of the network's parameters when None."""
    if dtype is None:
        params = net.parameters()
        if not params:
            return "float32"
        x = params[0].data
        dtype = "float64" if x.dtype == namespace(x).float64 else "float32"
    if dtype not in ("float32", "float64"):
        raise ParameterError("dtype", "must be 'float32' or 'float64'", dtype)
    return dtype


def cast(x: Any, dtype: str) -> Any:
    """A host copy of ``x`` in ``dtype``; values beyond float32's range become infinite, silently (checked after)."""
    with host.errstate(over="ignore"):
        return x.astype(dtype, copy=True)


def network_steps(net: Sequential, *, dtype: str, target: str) -> tuple[list[Dense | Activation], int, int]:
    """The layers of ``net`` as host arrays in ``dtype``, with the input and output widths.

    Parameters
    ----------
    net : Sequential
        Linear layers and the activations ReLU, Sigmoid, Tanh, LeakyReLU, Identity.
    dtype : {'float32', 'float64'}
        The dtype of the returned weights (a float64 network exported as
        float32 is rounded once, here).
    target : str
        What the export is for (``ONNX``, ``PyTorch``), for messages.

    Returns
    -------
    steps : list of Dense and Activation
        One per layer, in order (a layer's index in ``net`` is its index here).
    n_features, n_outputs : int
        The first Linear's input width and the last Linear's output width.

    Raises
    ------
    GpubpError
        ``net`` is not a Sequential, has no Linear layer, has a layer of
        another type (named with its index), widths that do not chain, or
        parameters that are not finite in ``dtype``.
    """
    if not isinstance(net, Sequential):
        raise GpubpError(f"cannot export to {target}: expected a gpubp Sequential network, got {type(net).__name__}")
    steps: list[Dense | Activation] = []
    widths: list[int] = []
    for i, layer in enumerate(net.layers):
        kind = type(layer)  # exactly these types: a subclass may compute something else
        if kind is Linear:
            W, b = cast(to_host(layer.weight.data), dtype), cast(to_host(layer.bias.data), dtype)  # (in, out), (out,)
            if widths and W.shape[0] != widths[-1]:
                raise GpubpError(
                    f"cannot export to {target}: layer {i} (Linear) takes {W.shape[0]} inputs "
                    f"but the Linear before it gives {widths[-1]}"
                )
            if not (host.all(host.isfinite(W)) and host.all(host.isfinite(b))):
                raise GpubpError(f"cannot export to {target}: layer {i} (Linear) has parameters that are not finite")
            widths += [W.shape[0], W.shape[1]] if not widths else [W.shape[1]]
            steps.append(Dense(W, b))
        elif kind in ACTIVATION_NAMES:
            steps.append(Activation(ACTIVATION_NAMES[kind], getattr(layer, "negative_slope", 0.0)))
        else:
            raise GpubpError(
                f"cannot export to {target}: layer {i} is {kind.__name__}, which has no {target} equivalent "
                f"(supported: {SUPPORTED})"
            )
    if not widths:
        raise GpubpError(f"cannot export to {target}: the network has no Linear layer")
    return steps, widths[0], widths[-1]


def check_head(head: str, n_outputs: int, classes: Any = None) -> Head:
    """Validate a head against the network's output width; classes default to ``0 .. C-1``.

    Raises
    ------
    GpubpError
        An unknown head, a width the head cannot use (softmax needs 2 or more
        logits), classes for a regressor, or classes that are not distinct
        strings, integers, bools or finite numbers, one per class.
    """
    if head not in HEADS:
        raise ParameterError("head", f"must be one of {', '.join(HEADS)}", head)
    if head in ("identity", "exp"):
        if classes is not None:
            raise ParameterError("classes", f"must be None for the regressor head {head!r}")
        return Head(head, n_outputs, None)
    if head == "softmax" and n_outputs < 2:
        raise ParameterError(
            "head", f"'softmax' needs 2 or more logits, the network gives {n_outputs} (use 'logistic')"
        )
    if head == "logistic" and n_outputs > 1:  # multilabel: the labels are the indicator matrix itself
        given = None if classes is None else len(_classes(classes))
        if given is not None and given != n_outputs:
            raise ParameterError(
                "classes", f"must name {n_outputs} labels for {n_outputs} multilabel outputs, got {given}"
            )
        return Head(head, n_outputs, None)
    n_classes = 2 if head == "logistic" else n_outputs
    values = host.arange(n_classes, dtype=host.int64) if classes is None else _classes(classes)
    if len(values) != n_classes:
        what = "a binary 'logistic' head" if head == "logistic" else f"{n_outputs} softmax logits"
        raise ParameterError("classes", f"must name {n_classes} labels for {what}, got {len(values)}")
    return Head(head, n_outputs, values)


def _classes(classes: Any) -> Any:
    """Classes as a host array of shape (C,), distinct: str, int64, bool, or float (kept as given); an error otherwise.

    The kind follows the labels, as ``classes_`` does: an estimator trained on bool or
    float labels predicts bools or floats, so its export gives them too. Integers of
    every width become int64 (the type servers expect of integer labels).
    """
    try:
        values = host.asarray(classes)
    except (TypeError, ValueError) as e:
        raise ParameterError("classes", f"must be a list of labels ({one_line(e)})") from None
    if values.ndim != 1 or len(values) == 0:
        raise ParameterError("classes", f"must be a non-empty flat list of labels, got shape {values.shape}")
    items = list(classes) if isinstance(classes, (list, tuple)) else values.tolist()  # numpy turns [1, "a"] to str
    if all(isinstance(c, str) for c in items):
        values = host.asarray(items, dtype=str)
    elif all(isinstance(c, (bool, host.bool_)) for c in items):
        values = host.asarray(items, dtype=bool)
    elif all(isinstance(c, (int, host.integer)) and not isinstance(c, bool) for c in items):
        if not all(-(2**63) <= int(c) < 2**63 for c in items):
            raise ParameterError("classes", "must hold integers that fit in int64")
        values = host.asarray(items, dtype=host.int64)
    elif all(isinstance(c, (int, float, host.integer, host.floating)) and not isinstance(c, bool) for c in items):
        dtype = values.dtype if values.dtype.kind == "f" else host.float64  # float32 labels stay float32
        values = host.asarray(items, dtype=dtype)
        if not host.all(host.isfinite(values)):
            raise ParameterError("classes", "must hold finite numbers")
    else:
        kinds = ", ".join(sorted({type(c).__name__ for c in items}))
        raise ParameterError("classes", f"must be all strings, integers, bools or numbers, got {kinds}")
    if len(host.unique(values)) != len(values):
        raise ParameterError("classes", "must be distinct", values.tolist())
    return values


def check_standardisation(mean: Any, scale: Any, n_features: int) -> tuple[Any, Any] | None:
    """``(mean, scale)`` as float64 host arrays of shape (n_features,), or None for no standardisation.

    Raises
    ------
    GpubpError
        Only one of the two given, a shape other than (n_features,), a value
        that is not finite, or a scale of zero.
    """
    if mean is None and scale is None:
        return None
    if mean is None or scale is None:
        raise ParameterError(("mean", "scale"), "give both or neither")
    out = []
    for name, value in (("mean", mean), ("scale", scale)):
        try:
            array = host.asarray(value, dtype=host.float64)
        except (TypeError, ValueError) as e:
            raise ParameterError(name, f"must be an array of numbers ({one_line(e)})") from None
        if array.shape != (n_features,):
            raise ParameterError(name, f"must have shape ({n_features},) for {n_features} features, got {array.shape}")
        if not host.all(host.isfinite(array)):
            raise ParameterError(name, "must hold finite numbers")
        out.append(array)
    if host.any(out[1] == 0):
        raise ParameterError("scale", "must have no zeros (a constant feature's scale is 1)")
    return out[0], out[1]
