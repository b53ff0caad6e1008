"""Optimizers, in order of increasing complexity: SGD, SGD with momentum, Adam.

Each applies the notes' update theta <- theta - alpha * dL/dtheta (or a
smoothed version of it) to every parameter that has a gradient. Updates are in
place on the arrays gpubp owns; state (velocities, moments) is kept parallel to
the parameters. Bad settings are rejected when the optimizer is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .backend import backend_of, namespace, to_backend, to_host
from .errors import GpubpError, ParameterError
from .layers import Parameter


def _check_number(name: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float in [low, high) (or (low, high)); otherwise a ParameterError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, "must be a number", value) from None
    ok = math.isfinite(number) and (number > low if low_open else number >= low) and number < high
    if not ok:
        left = "(" if low_open else "["
        hi = "inf" if math.isinf(high) else f"{high:g}"
        raise ParameterError(name, f"must be finite and in {left}{low:g}, {hi})", value)
    return number


class Optimizer:
    """Base class: holds the parameters and the learning rate; ``step`` updates them."""

    def __init__(self, params: Iterable[Parameter], lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise GpubpError("optimizer got no parameters")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise GpubpError(f"optimizer: {p!r} is not a gpubp Parameter")
        self.lr = _check_number("lr", lr, low=0.0, low_open=True)
        self.weight_decay = _check_number("weight_decay", weight_decay, low=0.0)
        self.steps = 0

    def zero_grad(self) -> None:
        """Forget every parameter's gradient."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.steps += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                g = p.grad if self.weight_decay == 0 else p.grad + self.weight_decay * p.data  # L2 term
                self._update(i, p, g)

    def _update(self, i: int, p: Parameter, g: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- state, for checkpoints and resume ------------------------------------

    def state_buffers(self) -> dict[str, Any]:
        """Named device arrays of the optimizer's state (none for plain SGD)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Host copies of the state buffers plus the step count."""
        state = {name: to_host(buf, copy=True) for name, buf in self.state_buffers().items()}
        return {"steps": self.steps, "buffers": state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, onto the parameters' device."""
        self.steps = int(state["steps"])
        for name, value in state["buffers"].items():
            kind, index = name.rsplit(".", 1)
            p = self.params[int(index)]
            getattr(self, f"_{kind}")[int(index)] = to_backend(value, backend_of(p.data), dtype=p.data.dtype)

    def config(self) -> dict[str, Any]:
        """The settings, as stored in checkpoints."""
        return {"name": type(self).__name__, "lr": self.lr, "weight_decay": self.weight_decay}


class SGD(Optimizer):
    """Gradient descent: theta <- theta - lr * g, optionally with (Nesterov) momentum.

    With momentum mu: v <- mu v + g; theta <- theta - lr v (Nesterov:
    theta <- theta - lr (g + mu v)). This is PyTorch's formulation.

    ``lr_in_velocity`` is scikit-learn's: the velocity holds steps, v <- mu v +
    lr g; theta <- theta - v (Nesterov: theta <- theta - (lr g + mu v)). The two
    agree while lr is constant; when a schedule changes lr, scikit-learn's
    velocity keeps the steps taken at the old rate instead of rescaling them.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float
        Learning rate alpha, finite and > 0.
    momentum : float
        In [0, 1); 0 is plain SGD.
    nesterov : bool
        Nesterov momentum (needs momentum > 0).
    weight_decay : float
        L2 penalty: g <- g + weight_decay * theta.
    lr_in_velocity : bool
        scikit-learn's formulation (above) instead of PyTorch's.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        lr_in_velocity: bool = False,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_number("momentum", momentum, low=0.0, high=1.0)
        if nesterov and self.momentum == 0:
            raise ParameterError("nesterov", "Nesterov momentum needs momentum > 0", nesterov)
        self.nesterov = bool(nesterov)
        self.lr_in_velocity = bool(lr_in_velocity)
        self._velocity: list[Any] = [None] * len(self.params)

    def _update(self, i: int, p: Parameter, g: Any) -> None:
        if self.momentum == 0:
            p.subtract_(self.lr * g)  # theta <- theta - alpha dL/dtheta
            return
        v = self._velocity[i]
        g_in = self.lr * g if self.lr_in_velocity else g  # what the velocity accumulates
        if v is None:
            v = g_in if g_in is not p.grad else namespace(g).asarray(g, copy=True)  # never alias .grad
        elif p._inplace:
            v *= self.momentum
            v += g_in
        else:
            v = self.momentum * v + g_in
        self._velocity[i] = v
        step = g_in + self.momentum * v if self.nesterov else v
        p.subtract_(step if self.lr_in_velocity else self.lr * step)

    def state_buffers(self) -> dict[str, Any]:
        return {f"velocity.{i}": v for i, v in enumerate(self._velocity) if v is not None}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "lr_in_velocity": self.lr_in_velocity}  # fmt: skip


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; L2 weight decay added to g.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    theta <- theta - lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
    (computed as the paper's section 2 suggests, with the corrections folded into lr and eps).
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if len(betas) != 2:
            raise ParameterError("betas", "must be two numbers", betas)
        self.beta1 = _check_number("beta1", betas[0], low=0.0, high=1.0)
        self.beta2 = _check_number("beta2", betas[1], low=0.0, high=1.0)
        self.eps = _check_number("eps", eps, low=0.0, low_open=True)
        self._m: list[Any] = [None] * len(self.params)
        self._v: list[Any] = [None] * len(self.params)

    def _update(self, i: int, p: Parameter, g: Any) -> None:
        xp = namespace(p.data)
        b1, b2 = self.beta1, self.beta2
        m, v = self._m[i], self._v[i]
        if m is None:
            m, v = (1 - b1) * g, (1 - b2) * (g * g)
        elif p._inplace:  # the moments are ours: the same arithmetic in place, three arrays fewer
            m *= b1
            m += (1 - b1) * g
            g2 = g * g
            g2 *= 1 - b2
            v *= b2
            v += g2
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * (g * g)
        self._m[i], self._v[i] = m, v
        # m_hat / (sqrt(v_hat) + eps) with m_hat = m / c1, v_hat = v / c2 is c (m / (sqrt(v) + eps sqrt(c2))),
        # c = sqrt(c2) / c1: the bias corrections become host floats (no sync) and v is never divided
        t = self.steps
        root_c2 = math.sqrt(1 - b2**t)
        scale = self.lr * root_c2 / (1 - b1**t)
        denom = xp.sqrt(v)
        if p._inplace:
            denom += self.eps * root_c2
            delta = m / denom
            delta *= scale
        else:
            delta = scale * (m / (denom + self.eps * root_c2))
        p.subtract_(delta)

    def state_buffers(self) -> dict[str, Any]:
        named = {f"m.{i}": m for i, m in enumerate(self._m) if m is not None}
        named.update({f"v.{i}": v for i, v in enumerate(self._v) if v is not None})
        return named

    def config(self) -> dict[str, Any]:
        return {**super().config(), "betas": [self.beta1, self.beta2], "eps": self.eps}


#: Optimizer name -> factory ``f(params, lr, weight_decay)`` (the command's names).
OPTIMIZERS = {
    "sgd": lambda params, lr, weight_decay: SGD(params, lr, weight_decay=weight_decay),
    "momentum": lambda params, lr, weight_decay: SGD(params, lr, momentum=0.9, weight_decay=weight_decay),
    "nesterov": lambda params, lr, weight_decay: SGD(
        params, lr, momentum=0.9, nesterov=True, weight_decay=weight_decay
    ),
    "adam": lambda params, lr, weight_decay: Adam(params, lr, weight_decay=weight_decay),
}


def get_optimizer(name: str, params: Iterable[Parameter], lr: float, weight_decay: float = 0.0) -> Optimizer:
    """Build an optimizer by name; a clear error for an unknown one."""
    if name not in OPTIMIZERS:
        raise ParameterError("optimizer", f"must be one of {', '.join(OPTIMIZERS)}", name)
    return OPTIMIZERS[name](params, lr, weight_decay)
