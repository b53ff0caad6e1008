"""Gradient checking: hand-written backward passes against central finite differences.

For a layer or network f and a fixed random projection ``dout``, the scalar
s(x, theta) = sum(f(x) * dout) has gradient dx = f.backward(dout) -- exactly
what the backward pass claims. Each element v is then perturbed by
+-h with h = eps * max(1, |v|) (a step relative to the value, so large inputs
are not drowned in rounding) and (s(+) - s(-)) / 2h compared with it. Everything is done in float64 on the
module's own backend and device, so the same check runs on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .backend import backend_of, host, host_rng, namespace, to_host
from .errors import GpubpError
from .layers import Layer
from .losses import Loss


@dataclass(frozen=True)
class GradcheckResult:
    """The outcome of :func:`gradcheck`.

    Attributes
    ----------
    max_rel_error : float
        max |analytic - numeric| / max(|analytic|, |numeric|, floor) over all checked elements.
    where : str
        The element with that error, e.g. ``'0.weight[2, 1]'`` or ``'input[0, 3]'``.
    analytic, numeric : float
        The two gradients at that element.
    checked : int
        How many elements were compared.
    tol : float
        The tolerance ``ok`` was judged against.
    """

    max_rel_error: float
    where: str
    analytic: float
    numeric: float
    checked: int
    tol: float

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (
            f"gradcheck {verdict}: max relative error {self.max_rel_error:.2e} at {self.where} "
            f"(analytic {self.analytic:.6g}, numeric {self.numeric:.6g}; {self.checked} elements, tol {self.tol:g})"
        )


def gradcheck(
    target: Layer | Loss,
    x: Any,
    y: Any = None,
    *,
    loss: Loss | None = None,
    eps: float = 1e-6,
    tol: float = 1e-5,
    floor: float = 1e-4,
    max_per_array: int | None = None,
    seed: int = 0,
) -> GradcheckResult:
    """Compare a backward pass with central finite differences, in float64.

    Parameters
    ----------
    target : Layer, Sequential or Loss
        What to check. A loss is checked with respect to its prediction ``x``
        (targets ``y``); a layer or network with respect to its input and every
        parameter -- through ``loss`` if given, else through sum(out * dout)
        with a random ``dout``.
    x : array
        Input (or, for a loss, prediction), on the target's backend.
    y : array, optional
        Targets, for a loss or with ``loss``.
    eps : float
        Perturbation step, relative to the element's size: h = eps * max(1, |v|).
    tol : float
        ``result.ok`` holds when the worst relative error is at most ``tol``.
    floor : float
        Lower bound of the denominator, so gradients near zero are compared absolutely.
    max_per_array : int, optional
        Check at most this many randomly chosen elements of each array.
    seed : int
        Seed for ``dout`` and the element sample.

    Returns
    -------
    GradcheckResult
        The worst error and where it occurred; truthy when within ``tol``.

    Notes
    -----
    Parameters are cast to float64 for the check and restored afterwards.
    """
    xp = namespace(x)
    rng = host_rng(seed)
    x64 = xp.astype(x, xp.float64)
    y64 = y if (y is None or not xp.isdtype(y.dtype, "real floating")) else xp.astype(y, xp.float64)
    params = list(target.named_parameters()) if isinstance(target, Layer) else []
    saved = [(p, p.data) for _, p in params]
    for _, p in params:
        p.data, p.grad = xp.astype(p.data, xp.float64), None
    try:
        scalar, analytic = _scalar_and_gradients(target, x64, y64, loss, rng)
        arrays: list[tuple[str, Any, Callable[[Any], None]]] = []
        inputs = {"x": x64}

        def set_input(v: Any) -> None:
            inputs["x"] = v

        if analytic["input"] is not None:
            arrays.append(("pred" if isinstance(target, Loss) else "input", x64, set_input))
        for name, p in params:
            arrays.append((name, p.data, _setter(p)))
        worst = (-1.0, "", 0.0, 0.0)
        checked = 0
        for name, base, setter in arrays:
            grad = to_host(analytic["input"] if name in ("input", "pred") else dict(params)[name].grad)
            h = to_host(base, copy=True)
            backend = backend_of(base)
            indices = list(host.ndindex(h.shape))
            if max_per_array is not None and len(indices) > max_per_array:
                pick = rng.choice(len(indices), size=max_per_array, replace=False)
                indices = [indices[i] for i in sorted(pick)]
            for idx in indices:
                step = eps * max(1.0, abs(float(h[idx])))
                values = []
                for sign in (1.0, -1.0):
                    hp = h.copy()
                    hp[idx] += sign * step
                    setter(backend.asarray(hp, dtype=xp.float64))
                    values.append(scalar(inputs["x"]))
                setter(base)
                numeric = (values[0] - values[1]) / (2 * step)
                a = float(grad[idx])
                rel = abs(a - numeric) / max(abs(a), abs(numeric), floor)
                checked += 1
                if rel > worst[0]:
                    where = f"{name}[{', '.join(str(i) for i in idx)}]"
                    worst = (rel, where, a, numeric)
        return GradcheckResult(worst[0], worst[1], worst[2], worst[3], checked, tol)
    finally:
        for p, data in saved:
            p.data, p.grad = data, None


def _setter(p: Any) -> Callable[[Any], None]:
    def set_param(v: Any) -> None:
        p.data = v

    return set_param


def _scalar_and_gradients(
    target: Layer | Loss, x: Any, y: Any, loss: Loss | None, rng: Any
) -> tuple[Callable[[Any], float], dict[str, Any]]:
    """The scalar function of the input, and the analytic gradients at ``x``."""
    if isinstance(target, Loss):
        if y is None:
            raise GpubpError("gradcheck: a loss needs targets y")

        def loss_value(xv: Any) -> float:
            return float(to_host(target.forward(xv, y)))

        target.forward(x, y)
        return loss_value, {"input": target.backward()}

    if not isinstance(target, Layer):
        raise GpubpError(f"gradcheck: {target!r} is neither a layer nor a loss")
    if loss is not None:
        if y is None:
            raise GpubpError("gradcheck: with a loss, targets y are needed")

        def net_loss(xv: Any) -> float:
            return float(to_host(loss.forward(target.forward(xv), y)))

        loss.forward(target.forward(x), y)
        return net_loss, {"input": target.backward(loss.backward())}

    out = target.forward(x)
    backend = backend_of(out)
    xp = backend.xp
    dout = backend.asarray(rng.standard_normal(tuple(out.shape)), dtype=xp.float64)

    def projected(xv: Any) -> float:
        return float(to_host(xp.sum(target.forward(xv) * dout)))

    return projected, {"input": target.backward(dout)}
