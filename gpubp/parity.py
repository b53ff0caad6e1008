"""CPU/GPU parity: the same network, seed and batches trained on several backends, compared.

Every backend starts from the same host-drawn weights and sees the same
mini-batches (indices drawn once on the host), so any difference in the final
weights or the loss curve comes from the array library's arithmetic alone. The
report gives, per parameter, the largest absolute and relative difference from
the first backend, and fails when one exceeds the dtype's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .backend import host, host_rng, resolve, to_host
from .data import decide_task, load_dataset
from .errors import ParameterError
from .losses import CrossEntropyLoss, MSELoss
from .network import mlp
from .optim import get_optimizer
from .step import train_step

#: Largest relative difference allowed from the reference backend, per dtype.
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


@dataclass
class ParityReport:
    """Differences of each backend from the reference (the first one).

    Attributes
    ----------
    reference : str
        The backend everything is compared with.
    rows : list of dict
        One per (backend, array): ``backend``, ``array`` (a parameter name or
        ``loss curve``), ``max_abs`` and ``max_rel``.
    tol : float
        The dtype's tolerance on ``max_rel``.
    """

    reference: str
    dtype: str
    steps: int
    tol: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row["max_rel"] <= self.tol for row in self.rows)

    def table(self) -> str:
        """The report as aligned text, one row per backend and array."""
        w = max([len("backend"), *(len(row["backend"]) for row in self.rows)])
        lines = [
            f"parity: {self.steps} steps in {self.dtype}, reference {self.reference}, "
            f"tolerance {self.tol:g} (relative)",
            f"  {'backend':<{w}} {'array':<12} {'max abs diff':>13} {'max rel diff':>13}",
        ]
        for row in self.rows:
            flag = "" if row["max_rel"] <= self.tol else "  EXCEEDS"
            lines.append(
                f"  {row['backend']:<{w}} {row['array']:<12} {row['max_abs']:>13.3e} {row['max_rel']:>13.3e}{flag}"
            )
        lines.append("parity: ok" if self.ok else "parity: FAILED (a difference exceeds the tolerance)")
        return "\n".join(lines)


def _train_once(
    spec: tuple[str, Any], X: Any, y: Any, order: Any, args: dict[str, Any]
) -> tuple[str, dict[str, Any], Any]:
    """Train on one backend; returns (label, host weights, host loss curve)."""
    backend = resolve(*spec)
    with backend.activate():  # a GPU other than the first: everything made on it
        return _train_on(backend, X, y, order, args)


def _train_on(backend: Any, X: Any, y: Any, order: Any, args: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    dtype = backend.dtype(args["dtype"])
    task = args["task"]
    net = mlp(
        [X.shape[1], *args["hidden"], args["n_out"]],
        activation_name=args["activation"],
        rng=args["seed"],
        backend=backend,
        dtype=args["dtype"],
    )
    loss_fn = CrossEntropyLoss() if task == "classify" else MSELoss()
    opt = get_optimizer(args["optimizer"], net.parameters(), args["lr"])
    X_dev = backend.asarray(X, dtype=dtype)
    y_dev = backend.asarray(y, dtype=backend.xp.int64 if task == "classify" else dtype)
    order_dev = backend.asarray(order)  # (steps, batch) row indices, drawn once on the host
    xp = backend.xp
    losses = []
    for s in range(order.shape[0]):
        idx = order_dev[s, :]
        losses.append(train_step(net, loss_fn, opt, xp.take(X_dev, idx, axis=0), xp.take(y_dev, idx, axis=0)))
    curve = to_host(xp.stack(losses))
    return backend.describe(), net.state_dict(), curve


def _max_diffs(a: Any, b: Any) -> tuple[float, float]:
    a, b = host.asarray(a, dtype=host.float64), host.asarray(b, dtype=host.float64)
    diff = float(host.max(host.abs(a - b))) if a.size else 0.0
    scale = float(host.max(host.abs(a))) if a.size else 0.0
    return diff, diff / max(scale, 1e-30)


def run_parity(
    backends: list[tuple[str, Any]],
    *,
    steps: int = 50,
    dtype: str = "float32",
    data: str = "digits",
    hidden: tuple[int, ...] = (64,),
    activation: str = "relu",
    optimizer: str = "sgd",
    lr: float = 0.05,
    batch_size: int = 64,
    seed: int = 0,
) -> ParityReport:
    """Train the same network on each backend and compare with the first.

    Parameters
    ----------
    backends : list of (name, device)
        At least two, e.g. ``[("numpy", None), ("cupy", 0)]``.
    steps : int
        Training steps (mini-batches) per backend.
    dtype : {'float32', 'float64'}
    data, hidden, activation, optimizer, lr, batch_size, seed
        The run to reproduce on every backend.
    """
    if len(backends) < 2:
        raise ParameterError("backends", "name at least two backends to compare, e.g. numpy,torch", backends)
    if steps <= 0:
        raise ParameterError("steps", "must be a positive integer", steps)
    if dtype not in TOLERANCE:
        raise ParameterError("dtype", "must be float32 or float64", dtype)
    ds = load_dataset(data, seed=seed)
    task, y = decide_task(ds, "auto")
    if task == "classify":
        y = host.unique(y, return_inverse=True)[1].reshape(-1)  # class indices 0..k-1
    std = ds.X.std(axis=0)
    X = (ds.X - ds.X.mean(axis=0)) / host.where(std > 0, std, 1.0)
    rng = host_rng(seed)
    batch = min(batch_size, X.shape[0])
    order = host.stack([rng.choice(X.shape[0], size=batch, replace=False) for _ in range(steps)])
    args = {
        "dtype": dtype,
        "task": task,
        "hidden": hidden,
        "n_out": int(y.max()) + 1 if task == "classify" else 1,
        "activation": activation,
        "seed": seed,
        "optimizer": optimizer,
        "lr": lr,
    }
    runs = [_train_once(spec, X, y, order, args) for spec in backends]
    ref_label, ref_weights, ref_curve = runs[0]
    report = ParityReport(ref_label, dtype, steps, TOLERANCE[dtype])
    for label, weights, curve in runs[1:]:
        for name, value in ref_weights.items():
            max_abs, max_rel = _max_diffs(value, weights[name])
            report.rows.append({"backend": label, "array": name, "max_abs": max_abs, "max_rel": max_rel})
        max_abs, max_rel = _max_diffs(ref_curve, curve)
        report.rows.append({"backend": label, "array": "loss curve", "max_abs": max_abs, "max_rel": max_rel})
    return report
