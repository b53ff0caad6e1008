"""Layers: each ``forward(x)`` sits beside its ``backward(dout) -> dx``.

A hidden layer of the notes is ``Linear`` followed by an activation:

    h = sigma(X W + b)

``forward`` keeps the little ``backward`` needs (the input of ``Linear``, the
output of an activation); ``backward`` receives dL/d(output), adds dL/dW and
dL/db into the parameters' ``.grad`` and returns dL/d(input) -- one link of the
chain rule. Every function takes its namespace ``xp`` from its input, so the
same code runs on NumPy, CuPy, PyTorch or array-api-strict.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import array_api_compat

from .backend import Backend, check_same_device, host_rng, namespace, resolve, to_backend
from .errors import GpubpError, ParameterError
from .init import get_initializer


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``grad`` is None until a backward pass adds to it, and again after
    ``zero_grad``; optimizers skip parameters whose ``grad`` is None.
    ``regularized`` marks the parameters an L2 penalty applies to (weights,
    not biases, as in scikit-learn's MLP).
    """

    __slots__ = ("data", "grad", "name", "regularized", "_inplace")

    def __init__(self, data: Any, name: str = "", *, regularized: bool = False) -> None:
        self.data = data
        self.grad: Any = None
        self.name = name
        self.regularized = regularized
        self._inplace = array_api_compat.is_writeable_array(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def accumulate(self, dvalue: Any) -> None:
        """grad += dvalue (in place when the library allows; ``dvalue`` must be fresh)."""
        if self.grad is None:
            self.grad = dvalue
        elif self._inplace:
            self.grad += dvalue
        else:
            self.grad = self.grad + dvalue

    def subtract_(self, delta: Any) -> None:
        """data -= delta: in place on arrays gpubp owns, rebinding where arrays are immutable."""
        if self._inplace:
            self.data -= delta
        else:
            self.data = self.data - delta

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape})"


class Layer:
    """Base class: a forward, its backward, and the parameters between them."""

    def forward(self, x: Any) -> Any:  # pragma: no cover - every layer overrides
        raise NotImplementedError

    def backward(self, dout: Any) -> Any:  # pragma: no cover - every layer overrides
        raise NotImplementedError

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs; none for a layer without weights."""
        return iter(())

    def parameters(self) -> list[Parameter]:
        """The trainable parameters, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget accumulated gradients (``grad`` becomes None, as in PyTorch)."""
        for p in self.parameters():
            p.grad = None

    def to(self, backend: Backend | str | None, dtype: str | None = None) -> Layer:
        """Move (and optionally cast) the parameters onto ``backend``, in place; returns self."""
        backend = resolve(backend)
        for p in self.parameters():
            target = backend.dtype(dtype) if dtype is not None else _dtype_name(p.data)
            p.data = to_backend(p.data, backend, dtype=target)
            p.grad = None
            p._inplace = array_api_compat.is_writeable_array(p.data)
        return self

    def config(self) -> dict[str, Any]:
        """What rebuilds this layer (without its weights): stored in checkpoints."""
        return {"type": type(self).__name__}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


def _dtype_name(x: Any) -> str:
    xp = namespace(x)
    return "float64" if x.dtype == xp.float64 else "float32"


class Linear(Layer):
    """An affine layer ``h = x W + b`` with ``W`` of shape (in_features, out_features).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output.
    init : str
        ``he_uniform``, ``he_normal``, ``xavier_uniform`` (default), ``xavier_normal`` or
        ``xavier_uniform_logistic`` (see :data:`gpubp.init.INITIALIZERS`).
    bias_init : {'zeros', 'same'}
        Biases start at zero, or are drawn from the weights' distribution (as scikit-learn's MLP).
    rng : int, numpy.random.Generator or None
        Seed or host generator the weights are drawn from.
    backend : Backend, str or None
        Where the parameters live (see :func:`gpubp.backend.resolve`).
    dtype : {'float32', 'float64'}

    Notes
    -----
    ``W`` is (in, out), the transpose of PyTorch's ``nn.Linear.weight``, so that
    the forward pass reads exactly as the notes write it: ``X W + b``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "xavier_uniform",
        bias_init: str = "zeros",
        rng: Any = None,
        backend: Backend | str | None = None,
        dtype: str = "float32",
    ) -> None:
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                raise GpubpError(f"Linear: {what} must be a positive integer, got {n!r}")
        backend = resolve(backend)
        xp, dt = backend.xp, backend.dtype(dtype)
        gen = host_rng(rng)
        W = get_initializer(init)(gen, in_features, out_features)  # host, float64
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.weight = Parameter(backend.asarray(W, dtype=dt), "weight", regularized=True)  # (in, out)
        if bias_init == "zeros":
            b = xp.zeros(out_features, dtype=dt, device=backend.device)
        elif bias_init == "same":  # drawn like the weights, after them (scikit-learn's MLP does this)
            b = backend.asarray(get_initializer(init)(gen, in_features, out_features, size=(out_features,)), dtype=dt)
        else:
            raise ParameterError("bias_init", "must be 'zeros' or 'same'", bias_init)
        self.bias = Parameter(b, "bias")  # (out,)
        self.needs_input_grad = True  # the fit loop (and the benchmarks) turn this off for the first layer: no dX
        self._x: Any = None
        self._ones: Any = None  # (1, batch) of ones: db as a product (see backward)

    @classmethod
    def from_arrays(cls, W: Any, b: Any, *, backend: Backend | str | None = None, dtype: str = "float32") -> Linear:
        """A Linear holding copies of host arrays ``W`` (in, out) and ``b`` (out,): nothing drawn, one copy each."""
        layer = cls.__new__(cls)
        backend = resolve(backend)
        dt = backend.dtype(dtype)
        layer.in_features, layer.out_features, layer.init = int(W.shape[0]), int(W.shape[1]), "given"
        layer.weight = Parameter(backend.asarray(W, dtype=dt), "weight", regularized=True)
        layer.bias = Parameter(backend.asarray(b, dtype=dt), "bias")
        layer.needs_input_grad, layer._x, layer._ones = True, None, None
        return layer

    def forward(self, x: Any) -> Any:
        W, b = self.weight.data, self.bias.data
        if type(x) is not type(W) or x.device != W.device:
            check_same_device(x, W, "input", f"{self!r}'s parameters")
        self._x = x  # (batch, in)
        h = x @ W  # (batch, out): XW, a fresh array ...
        if self.bias._inplace:
            h += b  # ... so h = XW + b without a second (batch, out) array
            return h
        return h + b

    def backward(self, dout: Any) -> Any:
        # dout = dL/dh, (batch, out). The chain rule through h = XW + b:
        xp = namespace(dout)
        self.weight.accumulate(self._x.T @ dout)  # dW = X^T dout, (in, out)
        self.bias.accumulate(xp.reshape(self._ones_like(dout) @ dout, (-1,)))  # db = 1^T dout, the batch's sum, (out,)
        if not self.needs_input_grad:
            return None
        return dout @ self.weight.data.T  # dX = dout W^T, (batch, in)

    def _ones_like(self, dout: Any) -> Any:
        """A (1, batch) row of ones for ``dout``, kept while batches look alike (a sum over a matrix's rows
        as a matrix product: twice as fast in NumPy as ``sum(axis=0)``)."""
        ones = self._ones
        fits = ones is not None and type(ones) is type(dout) and ones.shape[1] == dout.shape[0]
        if not (fits and ones.dtype == dout.dtype and ones.device == dout.device):
            ones = self._ones = namespace(dout).ones((1, dout.shape[0]), dtype=dout.dtype, device=dout.device)
        return ones

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield "weight", self.weight
        yield "bias", self.bias

    def config(self) -> dict[str, Any]:
        return {"type": "Linear", "in_features": self.in_features, "out_features": self.out_features}


# ---------------------------------------------------------------------------
# Activations: derivatives written from the saved output where the math allows.


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow for any finite x (exp of -|x| only)."""
    xp = namespace(x)
    e = xp.exp(-xp.abs(x))  # in (0, 1]
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y)."""

    def forward(self, x: Any) -> Any:
        self._y = sigmoid(x)
        return self._y

    def backward(self, dout: Any) -> Any:
        y = self._y
        return dout * (y * (1 - y))


class Tanh(Layer):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def forward(self, x: Any) -> Any:
        self._y = namespace(x).tanh(x)
        return self._y

    def backward(self, dout: Any) -> Any:
        y = self._y
        return dout * (1 - y * y)


class ReLU(Layer):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0.

    Both directions are products with the 0/1 mask dy/dx, kept from the
    forward pass: NumPy's ``maximum`` and ``where`` take 2-4 times as long as a
    product. (So an input of -inf gives NaN, not 0; only a diverged network
    makes one.)
    """

    def forward(self, x: Any) -> Any:
        self._mask = namespace(x).astype(x > 0, x.dtype)  # dy/dx: 1 where x > 0, else 0
        return x * self._mask

    def backward(self, dout: Any) -> Any:
        return dout * self._mask


class LeakyReLU(Layer):
    """y = x for x > 0, else slope * x; dy/dx = 1 or slope."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, (int, float))
            or not 0 <= negative_slope < 1
        ):
            raise GpubpError(f"LeakyReLU: negative_slope must be a number in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Any:
        self._positive = x > 0
        return namespace(x).where(self._positive, x, self.negative_slope * x)

    def backward(self, dout: Any) -> Any:
        return namespace(dout).where(self._positive, dout, self.negative_slope * dout)

    def config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "negative_slope": self.negative_slope}


class Identity(Layer):
    """y = x; dy/dx = 1 (a linear output layer)."""

    def forward(self, x: Any) -> Any:
        return x

    def backward(self, dout: Any) -> Any:
        return dout


#: Activation name -> layer class; ``logistic`` is scikit-learn's name for the sigmoid.
ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "logistic": Sigmoid,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
}

#: Every layer type a checkpoint may name.
LAYER_TYPES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (Linear, Sigmoid, Tanh, ReLU, LeakyReLU, Identity)}


def activation(name: str) -> Layer:
    """A new activation layer by name; a clear error for an unknown one."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ParameterError("activation", f"must be one of {', '.join(ACTIVATIONS)}", name) from None
