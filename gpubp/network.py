"""``Sequential``: forward through the layers in order, backward in reverse.

The backward pass is the chain rule of the notes, one layer at a time:

    dL/dW_k = dL/dy_hat * dy_hat/dh_k * dh_k/dW_k

``backward`` starts from dL/dy_hat (given by the loss) and hands each layer
the gradient of its output; the layer fills its parameters' gradients and
returns the gradient of its input, which becomes the next ``dout``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .backend import Backend, backend_of, host_rng, resolve, to_backend, to_host
from .errors import GpubpError, ParameterError
from .layers import ACTIVATIONS, LAYER_TYPES, Identity, Layer, LeakyReLU, Linear, Parameter, activation


class Sequential(Layer):
    """A chain of layers.

    Examples
    --------
    >>> net = Sequential(Linear(2, 4, rng=0), Sigmoid(), Linear(4, 1, rng=1), Sigmoid())
    >>> y_hat = net.forward(x)             # (batch, 1)
    >>> dx = net.backward(loss.backward())  # fills every parameter's .grad
    """

    def __init__(self, *layers: Layer) -> None:
        if not layers:
            raise GpubpError("Sequential needs at least one layer")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise GpubpError(f"Sequential: {layer!r} is not a gpubp layer")
        self.layers: list[Layer] = list(layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: Any) -> Any:
        """Carry dL/d(output) back through every layer; returns dL/d(input).

        Returns None when the first layer was told not to compute its input
        gradient (``needs_input_grad = False``, as the training loop does).
        """
        for layer in reversed(self.layers):
            dout = layer.backward(dout)  # the chain rule: dL/d(input of layer)
            if dout is None:
                break
        return dout

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"{i}.{name}", p

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    # -- saving and loading -------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Host (NumPy) copies of every parameter, keyed ``'<layer>.<name>'``."""
        return {name: to_host(p.data, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy host arrays into the parameters, on this network's device and dtype.

        Raises
        ------
        GpubpError
            A key is missing or unexpected, or a shape does not match.
        """
        own = dict(self.named_parameters())
        missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
        if missing or unexpected:
            raise GpubpError(
                f"state dict does not fit the network: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
            )
        for name, p in own.items():
            value = state[name]
            if tuple(value.shape) != p.shape:
                raise GpubpError(f"state dict: {name} has shape {tuple(value.shape)}, the network expects {p.shape}")
            p.data = to_backend(value, backend_of(p.data), dtype=p.data.dtype)
            p.grad = None

    def to_torch(self, *, dtype: str | None = None) -> Any:
        """This network as a ``torch.nn.Sequential`` with a copy of its weights (see :func:`gpubp.export.to_torch`)."""
        from .export.torch import to_torch  # imports torch: only when asked

        return to_torch(self, dtype=dtype)

    def config(self) -> dict[str, Any]:
        return {"type": "Sequential", "layers": [layer.config() for layer in self.layers]}

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        *,
        backend: Backend | str | None = None,
        dtype: str = "float32",
        state: dict[str, Any] | None = None,
    ) -> Sequential:
        """Rebuild the layers a :meth:`config` describes: weights from ``state`` (host arrays), else drawn afresh.

        With ``state`` (as :meth:`state_dict` gives it, shapes already checked
        against the description) every Linear is made from its arrays with one
        copy each and nothing drawn: loading a model allocates what its file holds.

        Raises
        ------
        GpubpError
            The description is not a dict with a ``layers`` list of layer
            dicts, names an unknown layer type or a bad size, or chains two
            Linear layers whose widths do not meet.
        """
        specs = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(specs, list):
            raise GpubpError("the network description must be a dict with a 'layers' list")
        layers: list[Layer] = []
        width: int | None = None  # the previous Linear's out_features
        for i, spec in enumerate(specs):
            kind = spec.get("type") if isinstance(spec, dict) else None
            try:
                if kind == "Linear":
                    n_in, n_out = spec.get("in_features"), spec.get("out_features")
                    if width is not None and n_in != width:
                        raise GpubpError(f"Linear takes {n_in!r} inputs but the Linear before it gives {width}")
                    if state is not None:
                        W, b = state[f"{i}.weight"], state[f"{i}.bias"]
                        if tuple(W.shape) != (n_in, n_out) or tuple(b.shape) != (n_out,):
                            raise GpubpError(
                                f"the weights {tuple(W.shape)}, {tuple(b.shape)} do not fit {n_in} -> {n_out}"
                            )
                        layers.append(Linear.from_arrays(W, b, backend=backend, dtype=dtype))
                    else:
                        layers.append(Linear(n_in, n_out, backend=backend, dtype=dtype, rng=0))
                    width = n_out
                elif kind == "LeakyReLU":
                    layers.append(LeakyReLU(spec.get("negative_slope", 0.01)))
                elif isinstance(kind, str) and kind in LAYER_TYPES:
                    layers.append(LAYER_TYPES[kind]())
                else:
                    raise GpubpError(f"unknown layer type {kind!r}")
            except GpubpError as err:
                raise GpubpError(f"layer {i} of the network description: {err}") from None
        return cls(*layers)


def mlp(
    sizes: Sequence[int],
    *,
    activation_name: str = "relu",
    output: str = "identity",
    init: str | None = None,
    bias_init: str = "zeros",
    rng: Any = 0,
    backend: Backend | str | None = None,
    dtype: str = "float32",
) -> Sequential:
    """A multi-layer perceptron: ``Linear -> activation`` per hidden layer, then the output layer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(64, 128, 10)``.
    activation_name : str
        Hidden activation: ``relu``, ``leaky_relu``, ``logistic`` (= ``sigmoid``), ``tanh``, ``identity``.
    output : str
        Output activation (``identity`` for logits or regression, ``sigmoid``...).
    init : str or None
        Initialiser of every layer; None picks He for the ReLU family and Xavier
        otherwise (and Xavier for the output layer).
    bias_init : {'zeros', 'same'}
        Biases at zero, or drawn like the weights.
    rng : int or numpy.random.Generator
        Seed for the weights; one generator is shared so layers differ.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in sizes):
        raise ParameterError("sizes", "must be at least two positive integers", sizes)
    if activation_name not in ACTIVATIONS:
        raise ParameterError("activation_name", f"must be one of {', '.join(ACTIVATIONS)}", activation_name)
    same_init = init is not None  # an explicit initialiser is used for every layer
    if init is None:
        init = "he_uniform" if activation_name in ("relu", "leaky_relu") else "xavier_uniform"
    backend, gen = resolve(backend), host_rng(rng)
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        layers.append(
            Linear(
                n_in,
                n_out,
                init=init if not last or same_init else "xavier_uniform",
                bias_init=bias_init,
                rng=gen,
                backend=backend,
                dtype=dtype,
            )  # fmt: skip
        )
        act = activation(output) if last else activation(activation_name)
        if not isinstance(act, Identity):  # y = x needs no layer
            layers.append(act)
    return Sequential(*layers)
