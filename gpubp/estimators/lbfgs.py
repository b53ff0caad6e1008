"""``solver='lbfgs'``: the whole training set's loss and gradient, handed to SciPy's L-BFGS-B.

As in scikit-learn, the parameters travel as one flat float64 vector: SciPy's
optimiser runs on the host, so each evaluation copies the vector to the device
once and the gradient back once (the forward and backward passes stay on the
device). That is two transfers per evaluation, the price of a host optimiser;
the stochastic solvers make none per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat
import scipy.optimize

from ..backend import backend_of, host, to_host
from ..losses import Loss
from ..network import Sequential
from ..step import add_l2_gradient, squared_norm


@dataclass
class LbfgsResult:
    """How L-BFGS-B ended: iterations, the final loss and its status."""

    n_iter: int
    loss: float
    stopped: str
    status: int
    message: str


def fit_lbfgs(
    net: Sequential,
    loss_fn: Loss,
    X: Any,
    y: Any,
    weight: Any,
    *,
    alpha: float,
    max_iter: int,
    max_fun: int,
    tol: float,
    verbose: bool = False,
) -> LbfgsResult:
    """Minimise the data loss plus (alpha / 2) ||W||^2 / (total weight) over all of ``X``; updates ``net`` in place."""
    params = net.parameters()
    backend = backend_of(params[0].data)
    xp = backend.xp
    shapes = [p.shape for p in params]
    sizes = [int(host.prod(s)) for s in shapes]
    dtype = params[0].data.dtype
    total = X.shape[0] if weight is None else float(to_host(xp.sum(weight)))

    def unpack(theta: Any) -> None:
        flat = backend.asarray(theta, dtype=dtype)  # one copy to the device per evaluation
        start = 0
        for p, shape, size in zip(params, shapes, sizes, strict=True):
            p.data = xp.reshape(flat[start : start + size], shape)
            p._inplace = False  # a view of the flat vector: never written in place
            start += size

    def loss_and_grad(theta: Any) -> tuple[float, Any]:
        unpack(theta)
        for p in params:
            p.grad = None
        loss = loss_fn.forward(net.forward(X), y, weight)
        net.backward(loss_fn.backward())
        if alpha:
            add_l2_gradient(params, alpha / total)
            loss = loss + 0.5 * alpha * squared_norm(params) / total
        grads = xp.concat([xp.reshape(p.grad, (-1,)) for p in params] + [xp.reshape(loss, (1,))])
        both = to_host(grads).astype(host.float64)  # one copy back per evaluation
        return float(both[-1]), both[:-1]

    theta0 = host.concatenate([to_host(p.data).astype(host.float64).reshape(-1) for p in params])
    result = scipy.optimize.minimize(
        loss_and_grad,
        theta0,
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    if verbose:
        print(f"L-BFGS-B: {result.nit} iterations, loss = {result.fun:.8f} ({result.message})")
    unpack(result.x)
    for p in params:  # own, writeable arrays again
        p.data = xp.asarray(p.data, copy=True)
        p._inplace = array_api_compat.is_writeable_array(p.data)
        p.grad = None
    stopped = "converged" if result.status == 0 else "max_epochs"
    return LbfgsResult(int(result.nit), float(result.fun), stopped, int(result.status), str(result.message))
