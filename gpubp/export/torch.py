"""PyTorch, both ways: a gpubp network as a ``torch.nn.Sequential`` state dict, and back.

gpubp's ``Linear`` keeps ``W`` as (in, out) and computes ``x W + b``; PyTorch's
``nn.Linear`` keeps ``weight`` as (out, in) and computes ``x weight^T + bias``.
The state dict is therefore gpubp's weights transposed, under the keys
``nn.Sequential`` gives them: ``<index>.weight`` (out, in) and ``<index>.bias``
(out,), with the activations taking their own indices (no keys, no weights).
Both directions copy the bits: a round trip is exact in float32 and float64.

An input standardisation ``(x - mean) / scale`` is folded into the first
Linear, so the PyTorch model takes raw features:

    W' = W / scale[:, None]        b' = b - (mean / scale) @ W

computed in float64 and rounded once to the model's dtype. The folded model
multiplies raw features, so its rounding errors grow with ``|mean| / scale``:
measured against ``predict``, as a share of the largest output, features centred
near 0 differ by about 1e-7 (float32) / 3e-16 (float64), features whose mean is
1e3 times their spread by 3e-5 / 5e-14, and 1e5 times by 2e-3 / 7e-12. The ONNX
graph, which standardises first, has no such loss.

The head (softmax, sigmoid, exp) is not a layer: the PyTorch model outputs raw
logits or values, and :func:`torch_source` writes the line that applies it.
``torch`` is imported only when a function here needs it (:func:`to_torch`,
:func:`from_torch`); writing the safetensors file does not need it.
"""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType
from typing import Any

import safetensors.numpy

from ..backend import Backend, host, install_hint
from ..errors import GpubpError, ParameterError, one_line
from ..io import write_atomic
from ..layers import Identity, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from ..network import Sequential
from .spec import Dense, cast, check_head, check_standardisation, export_dtype, network_steps

#: activation name -> torch.nn class name (and back, for from_torch).
_TORCH_NAMES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU", "identity": "Identity"}
_GPUBP_LAYERS: dict[str, type[Layer]] = {"ReLU": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "Identity": Identity}


def torch_state_dict(
    net: Sequential, /, *, mean: Any = None, scale: Any = None, dtype: str | None = None
) -> dict[str, Any]:
    """The state dict of the matching ``torch.nn.Sequential``, as host arrays.

    Parameters
    ----------
    net : Sequential
        Linear layers and the activations ReLU, Sigmoid, Tanh, LeakyReLU, Identity.
    mean, scale : array of shape (n_features,), optional
        An input standardisation to fold into the first Linear (which must be layer 0).
    dtype : {'float32', 'float64'}, optional
        Default: the network's.

    Returns
    -------
    dict of str -> numpy.ndarray
        ``'<i>.weight'`` of shape (out, in) and ``'<i>.bias'`` of shape (out,)
        for each Linear at index ``i``, C-contiguous.

    Raises
    ------
    GpubpError
        A layer PyTorch export does not support, a bad standardisation or
        dtype, or weights that are not finite in ``dtype``.
    """
    dtype = export_dtype(dtype, net)
    steps, n_features, _ = network_steps(net, dtype="float64", target="PyTorch")  # exact for float32 weights too
    standardisation = check_standardisation(mean, scale, n_features)
    if standardisation is not None:
        first = steps[0]
        if not isinstance(first, Dense):
            raise ParameterError(
                ("mean", "scale"),
                "cannot be folded: PyTorch export folds the standardisation into the first layer, "
                f"which must be Linear, not {type(net.layers[0]).__name__}",
            )
        m, s = standardisation
        steps[0] = Dense(first.weight / s[:, None], first.bias - (m / s) @ first.weight)  # (in, out), (out,)
    state = {}
    for i, step in enumerate(steps):
        if isinstance(step, Dense):
            W = host.ascontiguousarray(cast(step.weight.T, dtype))  # (out, in): torch's layout
            b = cast(step.bias, dtype)  # (out,)
            if not (host.all(host.isfinite(W)) and host.all(host.isfinite(b))):
                raise GpubpError(f"cannot export to PyTorch: layer {i} (Linear) is not finite in {dtype}")
            state[f"{i}.weight"], state[f"{i}.bias"] = W, b
    return state


def torch_source(
    net: Sequential,
    /,
    *,
    path: str | os.PathLike = "model.safetensors",
    head: str | None = None,
    classes: Any = None,
    standardised: bool = False,
    dtype: str | None = None,
) -> str:
    """The few lines of Python that build the matching ``nn.Sequential`` and load ``path`` into it.

    Parameters
    ----------
    net : Sequential
        The exported network.
    path : str or os.PathLike
        The safetensors file the lines load.
    head, classes : optional
        When given, the last line applies the head (see :mod:`gpubp.export.spec`).
    standardised : bool
        Whether a standardisation was folded into layer 0 (said in a comment).
    dtype : {'float32', 'float64'}, optional
        Default: the network's.

    Returns
    -------
    str
        Python source, ending in a newline; ``X`` stands for a (batch,
        n_features) tensor of raw features in ``dtype``.
    """
    dtype = export_dtype(dtype, net)
    steps, n_features, n_outputs = network_steps(net, dtype=dtype, target="PyTorch")
    layers = []
    for step in steps:
        if isinstance(step, Dense):
            layers.append(f"torch.nn.Linear({step.weight.shape[0]}, {step.weight.shape[1]})")
        elif step.name == "leaky_relu":
            layers.append(f"torch.nn.LeakyReLU({step.negative_slope!r})")
        else:
            layers.append(f"torch.nn.{_TORCH_NAMES[step.name]}()")
    what = "raw features" + (" (the standardisation is folded into layer 0)" if standardised else "")
    lines = [
        "import torch",
        "from safetensors.torch import load_file",
        "",
        f"# gpubp network: {n_features} {what} -> {n_outputs} outputs",
        "model = torch.nn.Sequential(",
        *(f"    {layer},  # {i}" for i, layer in enumerate(layers)),
        f").to(torch.{dtype})",
        f"model.load_state_dict(load_file({os.fspath(path)!r}))",
        "model.eval()",
    ]
    if head is not None:
        lines += _head_lines(check_head(head, n_outputs, classes))
    return "\n".join(lines) + "\n"


def _head_lines(spec: Any) -> list[str]:
    """Lines that turn ``model(X)`` into what ``predict`` / ``predict_proba`` give."""
    lines = ["with torch.no_grad():", "    output = model(X)  # X: (batch, n_features) raw features"]
    if spec.name in ("identity", "exp"):
        value = "output" if spec.name == "identity" else "torch.exp(output)"
        return lines + [f"    value = {value}" + ("[:, 0]" if spec.n_outputs == 1 else "")]
    if spec.multilabel:
        return lines + ["    probabilities = torch.sigmoid(output)", "    label = (output > 0).long()"]
    lines.insert(0, f"classes = {spec.classes.tolist()!r}")
    if spec.name == "softmax":
        return lines + [
            "    probabilities = torch.softmax(output, dim=1)",
            "    label = [classes[i] for i in output.argmax(dim=1).tolist()]",
        ]
    return lines + [
        "    p = torch.sigmoid(output)  # (batch, 1)",
        "    probabilities = torch.cat([1 - p, p], dim=1)",
        "    label = [classes[i] for i in (output[:, 0] > 0).long().tolist()]",
    ]


def save_torch(
    net: Sequential,
    path: str | os.PathLike,
    /,
    *,
    head: str | None = None,
    classes: Any = None,
    mean: Any = None,
    scale: Any = None,
    dtype: str | None = None,
) -> str:
    """Write the ``nn.Sequential`` state dict as a safetensors file, atomically; return the lines that load it.

    The file is what ``safetensors.torch.save_file(model.state_dict(), path)``
    writes (metadata ``format: pt``), plus a ``gpubp`` metadata entry (JSON:
    head, classes, dtype, whether standardisation was folded). Parameters as
    for :func:`torch_state_dict` and :func:`torch_source`.

    Raises
    ------
    GpubpError
        As :func:`torch_state_dict` and :func:`torch_source`, and ``cannot
        write PyTorch file <path>: <reason>``. Nothing is written then.
    """
    dtype = export_dtype(dtype, net)
    state = torch_state_dict(net, mean=mean, scale=scale, dtype=dtype)
    standardised = mean is not None
    source = torch_source(net, path=path, head=head, classes=classes, standardised=standardised, dtype=dtype)
    info: dict[str, Any] = {"head": head, "dtype": dtype, "standardisation_folded": standardised}
    if head is not None:
        spec = check_head(head, state[_last_weight(state)].shape[0], classes)  # (out, in)
        info["classes"] = None if spec.classes is None else spec.classes.tolist()
    try:
        data = safetensors.numpy.save(state, metadata={"format": "pt", "gpubp": json.dumps(info)})
    except Exception as e:  # defensive: the arrays are checked host float arrays
        raise GpubpError(f"cannot write PyTorch file {os.fspath(path)}: {one_line(e)}") from None
    write_atomic(path, data, what="PyTorch file", example="model.safetensors")
    return source


def _last_weight(state: dict[str, Any]) -> str:
    """The key of the last Linear's weight."""
    return [k for k in state if k.endswith(".weight")][-1]


def to_torch(
    net: Sequential, /, *, mean: Any = None, scale: Any = None, dtype: str | None = None
) -> Any:  # torch.nn.Sequential
    """The matching ``torch.nn.Sequential`` (on the CPU), holding a copy of the weights.

    Parameters as for :func:`torch_state_dict`. Without standardisation and in
    the network's dtype, the weights are bit for bit gpubp's (transposed).
    Draws no random numbers (PyTorch's global generator is left alone).

    Raises
    ------
    GpubpError
        torch is not installed, or anything :func:`torch_state_dict` raises.
    """
    torch = _import_torch()
    dtype = export_dtype(dtype, net)
    state = torch_state_dict(net, mean=mean, scale=scale, dtype=dtype)
    steps, _, _ = network_steps(net, dtype=dtype, target="PyTorch")
    modules = []
    for i, step in enumerate(steps):
        if isinstance(step, Dense):
            n_in, n_out = step.weight.shape
            linear = torch.nn.utils.skip_init(torch.nn.Linear, n_in, n_out, dtype=getattr(torch, dtype))
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(state[f"{i}.weight"]))
                linear.bias.copy_(torch.from_numpy(state[f"{i}.bias"]))
            modules.append(linear)
        elif step.name == "leaky_relu":
            modules.append(torch.nn.LeakyReLU(step.negative_slope))
        else:
            modules.append(getattr(torch.nn, _TORCH_NAMES[step.name])())
    return torch.nn.Sequential(*modules)


def from_torch(module: Any, /, *, backend: Backend | str | None = None, dtype: str | None = None) -> Sequential:
    """A gpubp network from a ``torch.nn.Sequential`` of Linear layers and supported activations.

    Parameters
    ----------
    module : torch.nn.Sequential
        Children ``Linear`` (with or without bias), ``ReLU``, ``Sigmoid``,
        ``Tanh``, ``LeakyReLU`` (slope in [0, 1)) and ``Identity``.
    backend : Backend, str or None
        Where the gpubp network lives (see :func:`gpubp.backend.resolve`).
    dtype : {'float32', 'float64'}, optional
        Default: the dtype of the module's parameters (which must then be
        float32 or float64).

    Returns
    -------
    Sequential
        Layer ``i`` is the module's child ``i``; ``W`` is ``weight.T``, bit for
        bit when the dtype is kept. A Linear without bias gets a zero bias.

    Raises
    ------
    GpubpError
        torch is not installed; ``module`` is not an ``nn.Sequential``; a child
        of another type (named with its index); widths that do not chain; a
        LeakyReLU slope gpubp does not take; parameters of another dtype.
    """
    torch = _import_torch()
    if not isinstance(module, torch.nn.Sequential):
        raise GpubpError(f"from_torch: expected a torch.nn.Sequential, got {type(module).__name__}")
    if dtype is None:
        found = sorted({str(p.dtype).removeprefix("torch.") for p in module.parameters()})
        dtype = found[0] if found else "float32"
        if len(found) > 1 or dtype not in ("float32", "float64"):
            raise GpubpError(
                f"from_torch: the module's parameters are {', '.join(found)}; pass dtype='float32' or 'float64'"
            )
    elif dtype not in ("float32", "float64"):
        raise ParameterError("dtype", "must be 'float32' or 'float64'", dtype)
    simple = {getattr(torch.nn, name): cls for name, cls in _GPUBP_LAYERS.items()}
    layers: list[Layer] = []
    state: dict[str, Any] = {}
    width: int | None = None
    for i, (name, child) in enumerate(module.named_children()):
        where = f"from_torch: layer {i}" + (f" ({name!r})" if name != str(i) else "")
        kind = type(child)  # exactly these types: a subclass may compute something else
        if kind is torch.nn.Linear:
            if width is not None and child.in_features != width:
                raise GpubpError(f"{where}: Linear takes {child.in_features} inputs, the Linear before gives {width}")
            try:
                layers.append(Linear(child.in_features, child.out_features, rng=0, backend=backend, dtype=dtype))
            except GpubpError as e:  # e.g. a width of 0
                raise GpubpError(f"{where}: {e}") from None
            W = _host_copy(child.weight, torch, dtype, where).T  # (in, out)
            no_bias = child.bias is None
            b = host.zeros(child.out_features, dtype=dtype) if no_bias else _host_copy(child.bias, torch, dtype, where)
            state[f"{i}.weight"], state[f"{i}.bias"] = W, b  # (in, out), (out,)
            width = child.out_features
        elif kind is torch.nn.LeakyReLU:
            try:
                layers.append(LeakyReLU(child.negative_slope))
            except GpubpError as e:
                raise GpubpError(f"{where}: {e}") from None
        elif kind in simple:
            layers.append(simple[kind]())
        else:
            shown = f"torch.nn.{kind.__name__}" if getattr(torch.nn, kind.__name__, None) is kind else kind.__qualname__
            raise GpubpError(
                f"{where} is {shown}, which gpubp cannot represent "
                "(supported: Linear, ReLU, Sigmoid, Tanh, LeakyReLU, Identity)"
            )
    if not layers:
        raise GpubpError("from_torch: the nn.Sequential is empty")
    net = Sequential(*layers)
    net.load_state_dict(state)
    return net


def _host_copy(tensor: Any, torch: ModuleType, dtype: str, where: str) -> Any:
    """A host copy of a parameter in ``dtype`` (bit for bit when it already has it)."""
    try:
        return tensor.detach().to(device="cpu", dtype=getattr(torch, dtype)).numpy().copy()
    except (RuntimeError, NotImplementedError) as e:  # a meta tensor has no data to copy
        raise GpubpError(f"{where}: cannot read its weights ({one_line(e)})") from None


def _import_torch() -> ModuleType:
    """torch, or a GpubpError naming the extra to install.

    This bridge converts to and from ``torch.nn`` modules, so it names torch;
    its arrays still cross to gpubp only as host arrays.
    """
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise GpubpError(f"PyTorch conversion needs torch ({install_hint('torch')})") from None
