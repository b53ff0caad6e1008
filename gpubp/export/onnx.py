"""ONNX export: a trained network, its input standardisation and its head as one checked graph.

The graph is built with the ``onnx`` package's own helper API (no PyTorch) and
reads raw features; what the estimator's ``predict`` / ``predict_proba`` give
comes out of it:

    input   X              (batch, n_features)  float32 or float64, raw features
    output  label          (batch,)             classifiers: the classes' kind -- int64 for integers
                                                (any width), string, bool, or float32/float64;
                           (batch, k)           int64 0/1 indicators for a multilabel 'logistic' head
            probabilities  (batch, C)           classifiers: the model's dtype
            value          (batch,) or (batch, t)  regressors: the model's dtype

``batch`` is a dynamic dimension. Inside, in order: ``(X - mean) / scale`` when
standardised (Sub, Div, in the model's dtype, as the estimators do), one
``Gemm`` per Linear (``X W + b`` with gpubp's ``W`` of shape (in, out), so no
transpose), the activations, then the head (Softmax + ArgMax + Gather; gpubp's
own sigmoid, built from Exp; labels from the logits' signs, as ``predict``
decides them; Exp). ``standardise_in_float64=True`` makes a float32 model
standardise in float64 instead (Cast, Sub, Div, Cast back), for a network whose
inputs were standardised that way.
Training state (optimizer moments, history, data split) is not exported.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..backend import host, install_hint
from ..errors import GpubpError, ParameterError, one_line
from ..io import write_atomic
from ..network import Sequential
from .spec import Activation, Dense, Head, check_head, check_standardisation, export_dtype, network_steps

if TYPE_CHECKING:
    import onnx

#: The opset written unless asked otherwise: recent, and run by onnxruntime >= 1.20.
DEFAULT_OPSET = 21
#: The oldest opset the graph can be written in (Softmax on one axis, Squeeze with axes as an input).
MIN_OPSET = 13
#: Names of the graph's input and outputs.
INPUT = "X"
LABEL, PROBABILITIES, VALUE = "label", "probabilities", "value"


_ACTIVATION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity"}


def to_onnx(
    net: Sequential,
    path: str | os.PathLike,
    /,
    *,
    head: str,
    classes: Any = None,
    mean: Any = None,
    scale: Any = None,
    dtype: str | None = None,
    opset: int = DEFAULT_OPSET,
    standardise_in_float64: bool = False,
) -> None:
    """Write ``net`` with its standardisation and head as a checked ONNX file, atomically.

    Parameters
    ----------
    net : Sequential
        Linear layers and the activations ReLU, Sigmoid, Tanh, LeakyReLU,
        Identity; no output activation (the head is added here).
    path : str or os.PathLike
        The file to write (e.g. ``model.onnx``); its folder must exist. It is
        replaced only once the new file is complete.
    head, classes, mean, scale, dtype, opset, standardise_in_float64
        As for :func:`onnx_model`.

    Raises
    ------
    GpubpError
        Everything :func:`onnx_model` raises, and ``cannot write ONNX file
        <path>: <reason>``. Nothing is written then.
    """
    model = onnx_model(
        net,
        head=head,
        classes=classes,
        mean=mean,
        scale=scale,
        dtype=dtype,
        opset=opset,
        standardise_in_float64=standardise_in_float64,
    )
    try:
        data = model.SerializeToString()
    except ValueError as e:  # protobuf refuses messages over 2 GiB
        raise GpubpError(f"cannot write ONNX file {os.fspath(path)}: {one_line(e)}") from None
    write_atomic(path, data, what="ONNX file", example="model.onnx")


def onnx_model(
    net: Sequential,
    /,
    *,
    head: str,
    classes: Any = None,
    mean: Any = None,
    scale: Any = None,
    dtype: str | None = None,
    opset: int = DEFAULT_OPSET,
    standardise_in_float64: bool = False,
) -> onnx.ModelProto:
    """Build and check the ONNX model of ``net`` with its standardisation and head.

    Parameters
    ----------
    net : Sequential
        The network, outputting raw logits or raw values.
    head : {'softmax', 'logistic', 'identity', 'exp'}
        What turns the outputs into predictions (see :mod:`gpubp.export.spec`).
    classes : sequence of int or str, optional
        Classifier labels in the order of the logits (binary: ``[negative,
        positive]``); default ``0 .. C-1``. Not used by regressors.
    mean, scale : array of shape (n_features,), optional
        The input standardisation ``(X - mean) / scale``, both or neither.
    dtype : {'float32', 'float64'}, optional
        The model's float type (input, weights, outputs); default the network's.
    opset : int
        ONNX opset, from 13 to the newest the installed ``onnx`` knows.
    standardise_in_float64 : bool
        False (default): standardise in the model's dtype, as gpubp's
        estimators do (on their device, in float32 for a float32 model), so
        the graph sees the very inputs ``predict`` does. True: in a float32
        model, compute ``(X - mean) / scale`` in float64 and round once to
        float32 -- for a network whose inputs were standardised that way;
        it then differs from an estimator's ``predict`` by an ulp of the
        standardised inputs.
        No effect on float64 models or without standardisation.

    Returns
    -------
    onnx.ModelProto
        Passed by ``onnx.checker.check_model(full_check=True)`` (strict shape
        inference included).

    Raises
    ------
    GpubpError
        ``onnx`` is not installed, or a bad head, classes, standardisation,
        dtype or opset, or a layer ONNX export does not support.
    """
    onnx = _import_onnx()
    dtype = export_dtype(dtype, net)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ParameterError("opset", f"must be an integer from {MIN_OPSET} to {newest}", opset)
    if not isinstance(standardise_in_float64, bool):
        raise ParameterError("standardise_in_float64", "must be True or False", standardise_in_float64)
    steps, n_features, n_outputs = network_steps(net, dtype=dtype, target="ONNX")
    spec = check_head(head, n_outputs, classes)
    standardisation = check_standardisation(mean, scale, n_features)
    graph = _Graph(onnx, dtype)
    x = INPUT
    if standardisation is not None:
        x = _standardise(graph, x, *standardisation, in_float64=standardise_in_float64)
    for i, step in enumerate(steps):
        x = _layer(graph, i, step, x)
    outputs = _head(graph, spec, x)
    helper = onnx.helper
    elem = graph.elem
    inputs = [helper.make_tensor_value_info(INPUT, elem, ["batch", n_features], "raw features")]
    body = helper.make_graph(graph.nodes, "gpubp", inputs, outputs, initializer=graph.initializers)
    body.doc_string = f"gpubp network, head {spec.name!r}, {'standardised' if standardisation else 'raw'} input"
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        body,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),  # the oldest IR that opset allows: runs on older runtimes
        producer_name="gpubp",
        producer_version=_gpubp_version(),
    )
    helper.set_model_props(model, _metadata(spec, n_features, standardisation is not None, dtype))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as e:  # a bug in this module, not bad input
        raise RuntimeError(f"gpubp built an invalid ONNX graph: {one_line(e)}") from e
    return model


class _Graph:
    """Nodes and initializers collected in order, each output named after what it holds."""

    def __init__(self, onnx: ModuleType, dtype: str) -> None:
        self.helper, self.numpy_helper, self.dtype = onnx.helper, onnx.numpy_helper, dtype
        self.elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
        self.string, self.int64 = onnx.TensorProto.STRING, onnx.TensorProto.INT64
        self.double = onnx.TensorProto.DOUBLE
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def tensor_type(self, dtype: Any) -> int:
        """The ONNX element type of a NumPy dtype (not str)."""
        return self.helper.np_dtype_to_tensor_dtype(dtype)

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """Append ``op(inputs) -> output``; returns the output's name."""
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def constant(self, name: str, value: Any) -> str:
        """A host array as an initializer (strings as UTF-8 bytes); returns its name."""
        if value.dtype.kind == "U":
            tensor = self.helper.make_tensor(name, self.string, value.shape, [v.encode() for v in value.tolist()])
        else:
            tensor = self.numpy_helper.from_array(host.ascontiguousarray(value), name)
        self.initializers.append(tensor)
        return name

    def scalar(self, name: str, value: float) -> str:
        """A 0-d float constant in the model's dtype."""
        return self.constant(name, host.asarray(value, dtype=self.dtype))


def _standardise(graph: _Graph, x: str, mean: Any, scale: Any, *, in_float64: bool) -> str:
    """``(x - mean) / scale``: in the model's dtype, or in float64 rounded once to float32."""
    if graph.dtype == "float64" or not in_float64:
        centred = graph.node("Sub", [x, graph.constant("mean", mean.astype(graph.dtype))], "centred")
        return graph.node("Div", [centred, graph.constant("scale", scale.astype(graph.dtype))], "standardised")
    wide = graph.node("Cast", [x], "X_float64", to=graph.double)  # exact
    centred = graph.node("Sub", [wide, graph.constant("mean", mean)], "centred")
    standardised = graph.node("Div", [centred, graph.constant("scale", scale)], "standardised_float64")
    return graph.node("Cast", [standardised], "standardised", to=graph.elem)


def _layer(graph: _Graph, i: int, step: Dense | Activation, x: str) -> str:
    """The nodes of layer ``i``; returns the name of its output."""
    if isinstance(step, Dense):
        W, b = graph.constant(f"{i}.weight", step.weight), graph.constant(f"{i}.bias", step.bias)
        return graph.node("Gemm", [x, W, b], f"{i}.linear")  # x W + b, W (in, out)
    if step.name != "leaky_relu":
        return graph.node(_ACTIVATION_OPS[step.name], [x], f"{i}.{step.name}")
    if graph.dtype == "float32":
        return graph.node("LeakyRelu", [x], f"{i}.leaky_relu", alpha=step.negative_slope)
    # onnxruntime has no float64 LeakyRelu kernel: where(x > 0, x, slope * x), gpubp's own formula
    positive = graph.node("Greater", [x, graph.scalar(f"{i}.zero", 0.0)], f"{i}.positive")
    scaled = graph.node("Mul", [x, graph.scalar(f"{i}.negative_slope", step.negative_slope)], f"{i}.scaled")
    return graph.node("Where", [positive, x, scaled], f"{i}.leaky_relu")


def _head(graph: _Graph, spec: Head, z: str) -> list[Any]:
    """The head's nodes on the network output ``z`` (batch, n_outputs); returns the graph outputs."""
    helper, elem, int64, k = graph.helper, graph.elem, graph.int64, spec.n_outputs
    if spec.name in ("identity", "exp"):
        y = z if spec.name == "identity" else graph.node("Exp", [z], "exp")
        if k == 1:
            graph.node("Squeeze", [y, graph.constant("axis1", host.asarray([1]))], VALUE)
        else:
            graph.node("Identity", [y], VALUE)
        shape = ["batch"] if k == 1 else ["batch", k]
        return [helper.make_tensor_value_info(VALUE, elem, shape, "predictions")]
    if spec.multilabel:
        _sigmoid(graph, z, PROBABILITIES)
        zero = graph.scalar("zero", 0.0)
        positive = graph.node("Greater", [z, zero], "positive")  # the logit's sign, as predict decides
        graph.node("Cast", [positive], LABEL, to=int64)
        label_info = helper.make_tensor_value_info(LABEL, int64, ["batch", k], "0/1 label indicators")
        return [label_info, helper.make_tensor_value_info(PROBABILITIES, elem, ["batch", k], "P(label)")]
    if spec.name == "softmax":
        graph.node("Softmax", [z], PROBABILITIES, axis=1)
        index = graph.node("ArgMax", [z], "class_index", axis=1, keepdims=0)  # (batch,), first of ties
    else:  # binary logistic: one logit
        p = _sigmoid(graph, z, "p")  # (batch, 1)
        q = graph.node("Sub", [graph.scalar("one", 1.0), p], "q")
        graph.node("Concat", [q, p], PROBABILITIES, axis=1)  # (batch, 2): [1 - p, p]
        zero = graph.scalar("zero", 0.0)
        positive = graph.node("Greater", [z, zero], "positive")  # z > 0, not p > 0.5: p rounds to 0.5 near z = 0
        index = graph.node("Cast", [positive], "positive_index", to=int64)
        index = graph.node("Squeeze", [index, graph.constant("axis1", host.asarray([1]))], "class_index")
    classes = graph.constant("classes", spec.classes)
    graph.node("Gather", [classes, index], LABEL, axis=0)
    label_type = graph.string if spec.classes.dtype.kind == "U" else graph.tensor_type(spec.classes.dtype)
    n_classes = len(spec.classes)
    return [
        helper.make_tensor_value_info(LABEL, label_type, ["batch"], "predicted class"),
        helper.make_tensor_value_info(PROBABILITIES, elem, ["batch", n_classes], "class probabilities"),
    ]


def _sigmoid(graph: _Graph, z: str, output: str) -> str:
    """gpubp's sigmoid: ``where(z >= 0, 1 / (1 + e), e / (1 + e))`` with ``e = exp(-|z|)``.

    Not the Sigmoid op: onnxruntime's is accurate only in absolute terms (sigmoid(-20)
    comes out 0 in float32, sigmoid(-30) 1e-3 off in float64), and a probability of
    1e-12 must be 1e-12 to the dtype's relative precision. Exp is accurate to an ulp.
    """
    minus_abs = graph.node("Neg", [graph.node("Abs", [z], f"{output}.abs")], f"{output}.minus_abs")
    e = graph.node("Exp", [minus_abs], f"{output}.e")  # in (0, 1]
    one = graph.scalar(f"{output}.one", 1.0)
    denominator = graph.node("Add", [one, e], f"{output}.denominator")
    upper = graph.node("Div", [one, denominator], f"{output}.upper")  # z >= 0: 1 / (1 + e)
    lower = graph.node("Div", [e, denominator], f"{output}.lower")  # z < 0: e / (1 + e)
    nonnegative = graph.node("GreaterOrEqual", [z, graph.scalar(f"{output}.zero", 0.0)], f"{output}.nonnegative")
    return graph.node("Where", [nonnegative, upper, lower], output)


def _metadata(spec: Head, n_features: int, standardised: bool, dtype: str) -> dict[str, str]:
    """Model properties a server can read: what the graph expects and gives."""
    props = {
        "gpubp.head": spec.name,
        "gpubp.n_features": str(n_features),
        "gpubp.n_outputs": str(spec.n_outputs),
        "gpubp.standardised": "true" if standardised else "false",
        "gpubp.dtype": dtype,
    }
    if spec.classes is not None:
        props["gpubp.classes"] = json.dumps(spec.classes.tolist())
    return props


def _import_onnx() -> ModuleType:
    """The ``onnx`` package, or a GpubpError naming the extra to install."""
    try:
        import onnx  # absolute: the onnx package, not this module
        import onnx.checker
        import onnx.defs
        import onnx.helper
        import onnx.numpy_helper
    except ImportError:
        raise GpubpError(f"ONNX export needs the onnx package ({install_hint('onnx')})") from None
    return onnx


def _gpubp_version() -> str:
    """The installed gpubp's version, or ``unknown`` when run from a source tree."""
    try:
        return version("gpubp")
    except PackageNotFoundError:
        return "unknown"
