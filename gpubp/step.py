"""One step of gradient descent, and one pass of evaluation: the notes' recipe, each in one function.

:func:`train_step` is forward -> loss -> backward -> (reduce across
processes) -> (L2 penalty) -> update, in that order and nothing else: the
reduction (data-parallel training, :mod:`gpubp.distributed`) and the L2
penalty sit between backward and update, and nothing else in the step knows
about either. Nothing here converts a device array to a host value.
:func:`evaluate_sums` adds up a held-out set's loss and metric sums on the
device, in chunks, for the fit loop (:mod:`gpubp.train`) to read once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .backend import backend_of, namespace
from .layers import Parameter
from .losses import Loss
from .network import Sequential
from .optim import Optimizer

#: ``reduce_gradients(params, batch_weight) -> total weight``: sums every process's weighted gradients.
#: Each parameter's ``grad`` (None where this process had no row of the batch) is the weighted mean over
#: the local rows, ``batch_weight`` their total weight; afterwards every process holds the same ``grad``,
#: the mean over the global batch, and the return value is the global batch's total weight.
Reduce = Callable[[Sequence[Parameter], Any], Any]

#: Rows per chunk when evaluating (bounds device memory on large sets).
EVAL_CHUNK = 8192


def train_step(
    net: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    xb: Any,
    yb: Any,
    reduce_gradients: Reduce | None = None,
    *,
    weight: Any = None,
    alpha: float = 0.0,
) -> Any:
    """One step of gradient descent on a batch; returns the (data) loss as a 0-d device array.

    ``weight`` holds per-sample weights (n,); ``alpha`` is the L2 penalty
    (1/2) alpha ||W||^2 / (the batch's total weight) on the regularised
    parameters, as scikit-learn's MLP adds it.
    """
    optimizer.zero_grad()
    if xb.shape[0] == 0:  # data parallel: this process holds no row of the batch, it adds nothing but its weight 0
        xp = namespace(xb)
        loss = xp.zeros((), dtype=xb.dtype, device=xb.device)
    else:
        pred = net.forward(xb)  # forward: y_hat = f(X; W, b)
        loss = loss_fn.forward(pred, yb, weight)  # loss: L(y, y_hat)
        net.backward(loss_fn.backward())  # backward: dL/dtheta by the chain rule
    total = xb.shape[0] if weight is None else namespace(weight).sum(weight)
    if reduce_gradients is not None:
        total = reduce_gradients(optimizer.params, total)  # e.g. an all-reduce over processes
    if alpha:
        add_l2_gradient(optimizer.params, alpha / total)  # d/dW of (alpha / 2n) ||W||^2
    optimizer.step()  # update: theta <- theta - alpha dL/dtheta
    return loss


def add_l2_gradient(params: Iterable[Parameter], coef: Any) -> None:
    """grad += coef * W for every regularised parameter (weights, not biases)."""
    for p in params:
        if p.regularized and p.grad is not None:
            p.accumulate(coef * p.data)


def squared_norm(params: Iterable[Parameter]) -> Any:
    """sum ||W||^2 over the regularised parameters, as a 0-d device array."""
    total = None
    for p in params:
        if p.regularized:
            xp = namespace(p.data)
            part = xp.sum(p.data * p.data)
            total = part if total is None else total + part
    return total


class Validation:
    """A held-out set on the device and how to score it; subclasses say what the score is.

    ``sums(out, y, weight)`` returns a 1-D device array of metric sums over a
    chunk; ``record(sums, total_weight)`` turns the whole set's sums (host)
    into record entries, among them ``val_score`` (higher is better).
    """

    def __init__(self, X: Any, y: Any, weight: Any = None) -> None:
        self.X, self.y, self.weight = X, y, weight

    def sums(self, out: Any, y: Any, weight: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def record(self, sums: Any, total: float) -> dict[str, float]:  # pragma: no cover - overridden
        raise NotImplementedError

    def share(self, total: Callable[[Any], Any]) -> None:
        """The set is spread over processes: make its set-wide constants (R²'s total sum of squares) global.

        ``total`` sums a host vector over the processes. Nothing to do by default.
        """


def evaluate_sums(net: Sequential, loss_fn: Loss, val: Validation) -> Any:
    """[weighted loss sum, total weight, metric sums...] over a set, in chunks, as one 1-D device array.

    An empty set (a process holding no row of it) gives zeros.
    """
    xp = backend_of(val.X).xp
    n = val.X.shape[0]
    parts = None
    for start in range(0, max(n, 1), EVAL_CHUNK):
        stop = min(start + EVAL_CHUNK, n)  # the standard leaves out-of-bounds slices unspecified
        xb, yb = val.X[start:stop, ...], val.y[start:stop, ...]
        wb = None if val.weight is None else val.weight[start:stop]
        out = net.forward(xb)
        weight = xp.asarray(float(stop - start), dtype=out.dtype, device=out.device) if wb is None else xp.sum(wb)
        loss_sum = loss_fn.forward(out, yb, wb) * weight if stop > start else xp.zeros_like(weight)
        part = xp.concat([xp.reshape(loss_sum, (1,)), xp.reshape(weight, (1,)), val.sums(out, yb, wb)])
        parts = part if parts is None else parts + part
    return parts
