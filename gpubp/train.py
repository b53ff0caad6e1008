"""The fit loop: epochs of shuffled mini-batches cut on the device, until convergence.

One training step is the notes' recipe, kept as four visible lines in
:func:`train_step`: forward -> loss -> backward -> update. A gradient reduction
across processes (data-parallel) slots in between backward and update.

Host traffic is budgeted: the data set is on the device before ``fit`` starts;
each epoch moves one permutation to the device and reads one small vector of
statistics back (train loss, first non-finite step, validation loss and metric).
Nothing inside a step converts a device array to a host value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backend import Backend, backend_of, host, host_rng, is_out_of_memory, to_host, transfer_counts
from .errors import GpubpError, TrainingDiverged
from .layers import Parameter
from .losses import Loss
from .metrics import correct_count, r2_score, squared_error_sum
from .network import Sequential
from .optim import Optimizer

#: A callback receives each epoch's record; returning True stops training.
Callback = Callable[[dict[str, Any]], Any]

#: Rows per chunk when evaluating (bounds device memory on large sets).
EVAL_CHUNK = 8192


def train_step(
    net: Sequential,
    loss_fn: Loss,
    optimizer: Optimizer,
    xb: Any,
    yb: Any,
    reduce_gradients: Callable[[Sequence[Parameter]], None] | None = None,
) -> Any:
    """One step of gradient descent on a batch; returns the loss as a 0-d device array."""
    optimizer.zero_grad()
    pred = net.forward(xb)  # forward: y_hat = f(X; W, b)
    loss = loss_fn.forward(pred, yb)  # loss: L(y, y_hat)
    net.backward(loss_fn.backward())  # backward: dL/dtheta by the chain rule
    if reduce_gradients is not None:
        reduce_gradients(optimizer.params)  # e.g. an all-reduce over processes
    optimizer.step()  # update: theta <- theta - alpha dL/dtheta
    return loss


def evaluate_sums(net: Sequential, loss_fn: Loss, X: Any, y: Any, task: str) -> tuple[Any, Any]:
    """Summed loss and summed metric (correct count, or squared error) over a set, on the device."""
    xp = backend_of(X).xp
    loss_sum = metric_sum = None
    n = X.shape[0]
    for start in range(0, n, EVAL_CHUNK):
        stop = min(start + EVAL_CHUNK, n)  # the standard leaves out-of-bounds slices unspecified
        xb, yb = X[start:stop, ...], y[start:stop, ...]
        out = net.forward(xb)
        part_loss = loss_fn.forward(out, yb) * xb.shape[0]
        part_metric = correct_count(out, yb) if task == "classify" else squared_error_sum(out, yb)
        loss_sum = part_loss if loss_sum is None else loss_sum + part_loss
        metric_sum = part_metric if metric_sum is None else metric_sum + part_metric
    if loss_sum is None:  # an empty set
        zero = xp.zeros((), dtype=X.dtype, device=X.device)
        return zero, zero
    return loss_sum, metric_sum


@dataclass
class History:
    """What ``fit`` did: one record per epoch, and how it ended.

    Attributes
    ----------
    epochs : list of dict
        ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy`` or ``val_mse``/``val_r2``,
        ``seconds``, ``to_host`` and ``to_device`` (copies made during the epoch).
    best_epoch : int
        The epoch whose weights were restored (1-based; 0 if none).
    stopped : str
        ``converged``, ``max_epochs``, ``callback``, ``interrupted`` or ``diverged``.
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = ""

    def column(self, key: str) -> list[Any]:
        """One value per epoch, e.g. ``history.column('val_loss')``."""
        return [record.get(key) for record in self.epochs]


@dataclass
class Trainer:
    """Runs epochs of :func:`train_step` and decides when to stop.

    Parameters
    ----------
    net, loss_fn, optimizer
        What to train and how.
    task : {'classify', 'regress'}
        Chooses the validation metric (accuracy, or MSE and R^2).
    batch_size : int
    max_epochs : int
    tol, patience
        Stop when the monitored loss (validation, else training) has not
        improved by more than ``tol`` for ``patience`` epochs.
    seed : int
        Seeds the host generator that draws each epoch's permutation.
    callbacks : iterable of callables
        Called with each epoch's record; returning True stops training.
    progress : bool
        Show a tqdm bar (one tick per epoch with loss and metric).
    should_stop : callable, optional
        Polled after every step (a plain Python flag, e.g. set by SIGINT); when
        it turns true the epoch stops after that step and ``fit`` returns with
        ``history.stopped == 'interrupted'``, resumable from :meth:`state_dict`.
    on_epoch_end : callable, optional
        Called with the trainer after each epoch's bookkeeping (and once on
        interruption): the place to write a checkpoint.
    """

    net: Sequential
    loss_fn: Loss
    optimizer: Optimizer
    task: str
    batch_size: int = 64
    max_epochs: int = 200
    tol: float = 1e-4
    patience: int = 10
    seed: int = 0
    callbacks: Iterable[Callback] = ()
    progress: bool = False
    should_stop: Callable[[], bool] | None = None
    reduce_gradients: Callable[[Sequence[Parameter]], None] | None = None
    on_epoch_end: Callable[[Trainer], None] | None = None
    rng: Any = None

    def __post_init__(self) -> None:
        if self.rng is None:
            self.rng = host_rng(self.seed)
        self.best_loss = math.inf
        self.bad_epochs = 0
        self.best_weights: list[Any] | None = None
        self.history = History()
        self.partial: dict[str, Any] | None = None  # an epoch stopped part-way by should_stop

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, val_target_var: float = 0.0) -> History:
        """Train on device arrays ``X`` (n, features) and ``y`` until a stopping rule fires.

        Raises
        ------
        TrainingDiverged
            The training loss became NaN or infinite; the best weights so far
            are restored into the network before it is raised.
        """
        backend = backend_of(X)
        n = X.shape[0]
        has_val = X_val is not None and X_val.shape[0] > 0
        done = len(self.history.epochs)  # > 0 when resumed from a checkpoint
        if self.history.stopped in ("converged", "callback"):  # resumed after the last epoch: nothing to run
            done = self.max_epochs
        bar = _progress_bar(self.max_epochs, done, self.progress)
        try:
            for epoch in range(done + 1, self.max_epochs + 1):
                try:
                    # Non-finite losses end in TrainingDiverged, so NumPy's overflow warnings are only noise.
                    with host.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        record = self._epoch(backend, epoch, X, y, n, X_val if has_val else None, y_val, val_target_var)
                except Exception as exc:
                    if not is_out_of_memory(exc):
                        raise
                    raise GpubpError(
                        f"out of memory on {backend.describe()} with --batch-size {self.batch_size}: "
                        f"try --batch-size {max(self.batch_size // 2, 1)} or smaller --hidden layers"
                    ) from None
                if record is None:  # should_stop: the state to resume from is in self.partial
                    self.history.stopped = "interrupted"
                    if self.on_epoch_end is not None:
                        self.on_epoch_end(self)
                    break
                self.history.epochs.append(record)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in _SHOWN and v is not None})
                asked = [cb(record) is True for cb in self.callbacks]  # every callback sees every epoch
                if self._converged(record, has_val):
                    self.history.stopped = "converged"
                elif any(asked):
                    self.history.stopped = "callback"
                elif epoch == self.max_epochs:
                    self.history.stopped = "max_epochs"
                if self.on_epoch_end is not None:
                    self.on_epoch_end(self)  # a checkpoint then knows whether training is over
                if self.history.stopped:
                    break
            else:
                self.history.stopped = self.history.stopped or "max_epochs"
        finally:
            if bar is not None:
                bar.close()
        if self.history.stopped != "interrupted":
            self.restore_best()
        return self.history

    def _epoch(
        self, backend: Backend, epoch: int, X: Any, y: Any, n: int, X_val: Any, y_val: Any, val_target_var: float
    ) -> dict[str, Any] | None:
        """One epoch; None if ``should_stop`` cut it short (its state is then in ``self.partial``)."""
        xp = backend.xp
        counts, t0 = transfer_counts(), time.perf_counter()
        if self.partial is None:
            order = self.rng.permutation(n)  # drawn on the host
            steps = 0
            loss_sum = xp.zeros((), dtype=X.dtype, device=X.device)
            first_bad = xp.full((), -1.0, dtype=X.dtype, device=X.device)
        else:  # resuming an interrupted epoch where it stopped
            order, steps = self.partial["order"], self.partial["steps"]
            loss_sum = backend.asarray(self.partial["loss_sum"], dtype=X.dtype)
            first_bad = backend.asarray(self.partial["first_bad"], dtype=X.dtype)
            self.partial = None
        perm = backend.asarray(order)  # the one host->device copy per epoch
        for start in range(steps * self.batch_size, n, self.batch_size):
            idx = perm[start : min(start + self.batch_size, n)]
            xb, yb = xp.take(X, idx, axis=0), xp.take(y, idx, axis=0)  # batches cut on the device
            loss = train_step(self.net, self.loss_fn, self.optimizer, xb, yb, self.reduce_gradients)
            loss_sum = loss_sum + loss * xb.shape[0]
            first_bad = xp.where((first_bad < 0) & ~xp.isfinite(loss), float(steps + 1), first_bad)
            steps += 1
            if self.should_stop is not None and self.should_stop():
                self.partial = {"order": order, "steps": steps, "loss_sum": loss_sum, "first_bad": first_bad}
                return None
        if X_val is not None:
            val_loss, val_metric = evaluate_sums(self.net, self.loss_fn, X_val, y_val, self.task)
        else:
            val_loss = val_metric = xp.zeros((), dtype=X.dtype, device=X.device)
        stats = to_host(xp.stack([loss_sum, first_bad, val_loss, val_metric]))  # the one read per epoch
        seen = min(steps * self.batch_size, n)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(stats[0]) / max(seen, 1)}
        if stats[1] >= 0 or not math.isfinite(record["train_loss"]):
            self.restore_best()
            self.history.stopped = "diverged"
            step = int(stats[1]) if stats[1] >= 0 else steps
            raise TrainingDiverged(
                f"training diverged: the loss became non-finite at epoch {epoch}, step {step}",
                epoch=epoch,
                step=step,
            )
        if X_val is not None:
            n_val = X_val.shape[0]
            record["val_loss"] = float(stats[2]) / n_val
            if self.task == "classify":
                record["val_accuracy"] = float(stats[3]) / n_val
            else:
                mse = float(stats[3]) / (n_val * (y_val.shape[1] if y_val.ndim == 2 else 1))
                record["val_mse"] = mse
                record["val_r2"] = r2_score(mse, val_target_var)
        after = transfer_counts()
        record["seconds"] = time.perf_counter() - t0
        record["to_host"] = after["to_host"] - counts["to_host"]
        record["to_device"] = after["to_device"] - counts["to_device"]
        record["steps"] = steps
        return record

    def _converged(self, record: dict[str, Any], has_val: bool) -> bool:
        monitored = record["val_loss"] if has_val else record["train_loss"]
        if monitored < self.best_loss - self.tol:
            self.best_loss, self.bad_epochs = monitored, 0
            self.history.best_epoch = record["epoch"]
            self.best_weights = [_copy(p.data) for p in self.net.parameters()]  # stays on the device
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    # -- checkpoints: everything needed to continue bit for bit -----------------

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(host tensors, JSON metadata) of the trainer's state: optimizer, best weights,
        history, stopping counters, the shuffling generator and any part-done epoch."""
        opt = self.optimizer.state_dict()
        tensors = {f"optim.{name}": value for name, value in opt["buffers"].items()}
        for i, best in enumerate(self.best_weights or []):
            tensors[f"best.{i}"] = to_host(best, copy=True)
        partial = None
        if self.partial is not None:
            tensors["partial.order"] = self.partial["order"]
            sums = to_host(
                backend_of(self.partial["loss_sum"]).xp.stack([self.partial["loss_sum"], self.partial["first_bad"]])
            )
            partial = {"steps": self.partial["steps"], "loss_sum": float(sums[0]), "first_bad": float(sums[1])}
        meta = {
            "history": self.history.epochs,
            "best_epoch": self.history.best_epoch,
            "best_loss": self.best_loss if math.isfinite(self.best_loss) else None,
            "bad_epochs": self.bad_epochs,
            "has_best": self.best_weights is not None,
            "optimizer_steps": opt["steps"],
            "rng": self.rng.bit_generator.state,
            "partial": partial,
            "stopped": "" if self.history.stopped == "interrupted" else self.history.stopped,
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the network's weights are loaded separately)."""
        buffers = {name[len("optim.") :]: v for name, v in tensors.items() if name.startswith("optim.")}
        self.optimizer.load_state_dict({"steps": meta["optimizer_steps"], "buffers": buffers})
        params = self.net.parameters()
        if meta["has_best"]:
            self.best_weights = [
                backend_of(p.data).asarray(tensors[f"best.{i}"], dtype=p.data.dtype) for i, p in enumerate(params)
            ]
        self.history.epochs = list(meta["history"])
        self.history.best_epoch = int(meta["best_epoch"])
        self.best_loss = math.inf if meta["best_loss"] is None else float(meta["best_loss"])
        self.bad_epochs = int(meta["bad_epochs"])
        self.history.stopped = str(meta.get("stopped", ""))
        self.rng.bit_generator.state = meta["rng"]
        partial = meta.get("partial")
        if partial is not None:
            self.partial = {
                "order": tensors["partial.order"],
                "steps": int(partial["steps"]),
                "loss_sum": partial["loss_sum"],
                "first_bad": partial["first_bad"],
            }

    def restore_best(self) -> None:
        """Put the best weights seen so far back into the network (if any)."""
        if self.best_weights is None:
            return
        for p, best in zip(self.net.parameters(), self.best_weights, strict=True):
            p.data = _copy(best)


def _copy(x: Any) -> Any:
    return backend_of(x).xp.asarray(x, copy=True)


_SHOWN = ("train_loss", "val_loss", "val_accuracy", "val_r2")


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency, but a bare install still trains
        return None
    return tqdm(total=total, initial=initial, unit="epoch", leave=False, dynamic_ncols=True)
