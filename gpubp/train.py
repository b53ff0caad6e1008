"""The fit loop: epochs of shuffled mini-batches cut on the device, until a stopping rule fires.

One training step is the notes' recipe, kept visible in
:func:`gpubp.step.train_step` (imported here too): forward -> loss ->
backward -> (reduce across processes) -> update; this module runs epochs of it.

The stopping rules are scikit-learn's MLP rules: an epoch improves when the
training loss falls by more than ``tol`` (or, with early stopping, the
validation score rises by more than ``tol``); after more than
``n_iter_no_change`` epochs in a row without improvement training stops (or,
with the ``adaptive`` schedule, the learning rate is divided by 5).

Host traffic is budgeted: the data set is on the device before ``fit`` starts;
each epoch moves one permutation to the device and reads one small vector of
statistics back. Nothing inside a step converts a device array to a host value
(a reduction across processes may: that is its business, at the seam).

Data-parallel training (:mod:`gpubp.distributed`) plugs in at two places and
nowhere else: ``reduce_gradients`` in the step, and ``gather_stats`` for each
epoch's statistics, so every process decides stopping, divergence and the
learning-rate schedule from the same numbers. With ``fit(..., offset=)`` the
rows on this device are a slice of a data set spread over processes: every
process draws the same permutation of all the rows, and each step takes the
part of the global batch held here (possibly none).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .backend import Backend, backend_of, host, host_rng, is_out_of_memory, namespace, to_host, transfer_counts
from .checkpoint import check_trainer_state
from .errors import GpubpError, TrainingDiverged
from .losses import Loss
from .network import Sequential
from .optim import Optimizer
from .step import Reduce, Validation, evaluate_sums, squared_norm, train_step

#: A callback receives each epoch's record; returning True stops training.
Callback = Callable[[dict[str, Any]], Any]

#: ``gather_stats(values) -> (processes, k)``: a host vector from every process, stacked in rank order, on all.
Gather = Callable[[Any], Any]


@dataclass
class History:
    """What ``fit`` did: one record per epoch, and how it ended.

    Attributes
    ----------
    epochs : list of dict
        ``epoch``, ``train_loss`` (with the L2 penalty), ``learning_rate``, and
        with a validation set ``val_loss``, ``val_score`` and ``val_accuracy``
        or ``val_r2``/``val_mse``; ``seconds``, ``steps``, ``to_host`` and
        ``to_device`` (copies made during the epoch).
    best_epoch : int
        The epoch whose weights were best (1-based; 0 if none).
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
    """Runs epochs of :func:`train_step` and decides when to stop (scikit-learn's rules).

    Parameters
    ----------
    net, loss_fn, optimizer
        What to train and how.
    batch_size, max_iter
        Rows per step; the epoch at which to stop at the latest.
    tol, n_iter_no_change
        An epoch improves by more than ``tol``; after more than
        ``n_iter_no_change`` epochs without, training stops.
    early_stopping : bool
        Judge improvement by the validation score and keep the best weights
        (needs a :class:`Validation`); otherwise by the training loss.
    shuffle : bool
        Draw a new order of the rows every epoch.
    alpha : float
        L2 penalty on the regularised parameters.
    learning_rate, learning_rate_init, power_t
        The schedule: ``constant``, ``invscaling`` (init / (t + 1)**power_t,
        t the samples seen) or ``adaptive`` (divided by 5 when stuck).
    rng : numpy.random.Generator
        Draws each epoch's permutation (on the host).
    callbacks : iterable of callables
        Called with each epoch's record; returning True stops training.
    should_stop : callable, optional
        Polled after every step (a plain Python flag, e.g. set by a signal);
        when it turns true the epoch stops after that step and ``fit`` returns
        with ``history.stopped == 'interrupted'``, resumable from :meth:`state_dict`.
    on_epoch_end : callable, optional
        Called with the trainer after each epoch's bookkeeping (and once on
        interruption): the place to write a checkpoint.
    reduce_gradients : callable, optional
        The data-parallel seam (see :data:`Reduce`).
    gather_stats : callable, optional
        Data parallel: every process's epoch statistics (see :data:`Gather`),
        combined the same way on every process (sums; the first non-finite step).
    say : callable, optional
        ``verbose``: called with scikit-learn's line when the no-improvement rule
        fires (stopping, or the adaptive schedule's new learning rate).
    """

    net: Sequential
    loss_fn: Loss
    optimizer: Optimizer
    batch_size: int = 200
    max_iter: int = 200
    tol: float = 1e-4
    n_iter_no_change: float = 10
    early_stopping: bool = False
    shuffle: bool = True
    alpha: float = 0.0
    learning_rate: str = "constant"
    learning_rate_init: float = 1e-3
    power_t: float = 0.5
    rng: Any = None
    callbacks: Iterable[Callback] = ()
    should_stop: Callable[[], bool] | None = None
    on_epoch_end: Callable[[Trainer], None] | None = None
    reduce_gradients: Reduce | None = None
    gather_stats: Gather | None = None
    say: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        self.rng = host_rng(self.rng)
        self.best_loss = math.inf  # the training loss's best (or the best validation loss, for the history)
        self.best_score = -math.inf  # the validation score's best (early stopping)
        self.bad_epochs = 0
        self.samples_seen = 0  # scikit-learn's t_
        self.best_weights: list[Any] | None = None
        self.history = History()
        self.partial: dict[str, Any] | None = None  # an epoch stopped part-way by should_stop
        self._weight_total: float | None = None
        self.optimizer.lr = self.learning_rate_init

    def fit(
        self,
        X: Any,
        y: Any,
        weight: Any = None,
        *,
        val: Validation | None = None,
        epochs: int | None = None,
        rows: Any = None,
        offset: int | None = None,
        incremental: bool = False,
    ) -> History:
        """Train on device arrays ``X`` (n, features), targets ``y`` and optional weights until a rule fires.

        Without ``epochs`` training runs until the history holds ``max_iter``
        epochs (a resumed run finishes its budget); ``epochs`` runs at most
        that many more (``warm_start`` runs ``max_iter`` more, ``partial_fit`` one).
        ``rows`` (host int64 indices) limits training to those rows of ``X``
        (the rest being, say, the validation set): batches are cut from ``X``
        itself, so the training part is never copied.

        ``offset`` (data parallel): ``X`` holds the rows ``offset`` to
        ``offset + len(X)`` of a data set spread over processes, and ``rows``
        (required) are the training rows of that whole set. Batches are cut
        from the permutation of all of ``rows``; this process trains on the
        part of each batch it holds, and ``gather_stats`` makes the epoch's
        numbers those of the whole set.

        ``incremental`` (``partial_fit``): the epochs asked for are no limit
        reached, so the history does not end as ``max_epochs`` after them.

        Raises
        ------
        TrainingDiverged
            The training loss became NaN or infinite; the best weights so far
            are restored into the network before it is raised.
        GpubpError
            The device ran out of memory (the message suggests a smaller batch).
        """
        if self.early_stopping and val is None:
            raise GpubpError("early stopping needs a validation set")
        if offset is not None and rows is None:
            raise GpubpError("training on a part of the data (offset) needs the training rows of the whole set")
        backend = backend_of(X)
        self._weight_total = None  # the training rows' total weight: read once per fit call
        done = len(self.history.epochs)  # > 0 when resumed or continued
        if epochs is None and (
            self.history.stopped in ("converged", "callback", "max_epochs") or done >= self.max_iter
        ):
            self.history.stopped = self.history.stopped or "max_epochs"
            if self.early_stopping:  # a finished run resumed after its last epoch: nothing to run but the ending
                self.restore_best()
            return self.history
        last = self.max_iter if epochs is None else done + epochs
        if self.partial is not None:
            self._check_partial(X.shape[0], rows)
        self.history.stopped = ""
        for epoch in range(done + 1, last + 1):
            try:
                # Non-finite losses end in TrainingDiverged, so NumPy's overflow warnings are only noise.
                with host.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    record = self._epoch(backend, epoch, X, y, weight, val, rows, offset)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                raise GpubpError(
                    f"out of memory on {backend.describe()} with batch_size {self.batch_size}: try batch_size "
                    f"{max(self.batch_size // 2, 1)} or smaller hidden layers"
                ) from None
            if record is None:  # should_stop: the state to resume from is in self.partial
                self.history.stopped = "interrupted"
                if self.on_epoch_end is not None:
                    self.on_epoch_end(self)
                return self.history
            self.history.epochs.append(record)
            asked = [cb(record) is True for cb in self.callbacks]  # every callback sees every epoch
            if self._stuck(record):
                self.history.stopped = "converged"
            elif any(asked):
                self.history.stopped = "callback"
            elif epoch == last and not incremental:  # partial_fit's epoch is no limit reached
                self.history.stopped = "max_epochs"
            if self.on_epoch_end is not None:
                self.on_epoch_end(self)  # a checkpoint then knows whether training is over
            if self.history.stopped:
                break
        if self.early_stopping and self.history.stopped != "":
            self.restore_best()
        return self.history

    def _epoch(
        self,
        backend: Backend,
        epoch: int,
        X: Any,
        y: Any,
        weight: Any,
        val: Validation | None,
        rows: Any,
        offset: int | None = None,
    ) -> Any:
        """One epoch; None if ``should_stop`` cut it short (its state is then in ``self.partial``)."""
        xp = backend.xp
        n = X.shape[0] if rows is None else len(rows)
        counts, t0 = transfer_counts(), time.perf_counter()
        carried = None  # data parallel, resumed: the interrupted part's sums over all processes (host floats)
        if self.partial is None:
            order = self.rng.permutation(n) if self.shuffle else host.arange(n)  # drawn on the host
            if rows is not None:
                order = rows[order]
            steps = 0
            loss_sum = xp.zeros((), dtype=X.dtype, device=X.device)
            first_bad = xp.full((), -1.0, dtype=X.dtype, device=X.device)
        else:  # resuming an interrupted epoch where it stopped
            order, steps = self.partial["order"], self.partial["steps"]
            if offset is None:
                loss_sum = backend.asarray(self.partial["loss_sum"], dtype=X.dtype)
                first_bad = backend.asarray(self.partial["first_bad"], dtype=X.dtype)
            else:
                carried = (float(self.partial["loss_sum"]), float(self.partial["first_bad"]))
                loss_sum = xp.zeros((), dtype=X.dtype, device=X.device)
                first_bad = xp.full((), -1.0, dtype=X.dtype, device=X.device)
            self.partial = None
        local, bounds = _batches(order, self.batch_size, offset, X.shape[0])
        perm = backend.asarray(local)  # the one host->device copy per epoch
        start_steps, running = steps, []  # running: loss_sum after each step, searched for a bad step once
        for k in range(steps, len(bounds) - 1):
            idx = perm[bounds[k] : bounds[k + 1]]
            xb, yb = xp.take(X, idx, axis=0), xp.take(y, idx, axis=0)  # batches cut on the device
            wb = None if weight is None else xp.take(weight, idx, axis=0)
            loss = train_step(
                self.net, self.loss_fn, self.optimizer, xb, yb, self.reduce_gradients, weight=wb, alpha=self.alpha
            )
            part = loss * xb.shape[0] if wb is None else _weighted(loss, xp.sum(wb))
            loss_sum = loss_sum + part
            running.append(loss_sum)
            steps += 1
            if self.should_stop is not None and self.should_stop():
                first_bad = _first_bad(first_bad, running, start_steps)
                if self.gather_stats is not None:  # keep the sums of all processes: one file holds the state
                    sums = self._combine(to_host(xp.stack([loss_sum, first_bad])), False, carried)
                    loss_sum, first_bad = float(sums[0]), float(sums[1])
                self.partial = {"order": order, "steps": steps, "loss_sum": loss_sum, "first_bad": first_bad}
                return None
        first_bad = _first_bad(first_bad, running, start_steps)
        penalty = squared_norm(self.net.parameters()) if self.alpha else None
        stats = [xp.reshape(loss_sum, (1,)), xp.reshape(first_bad, (1,))]
        if penalty is not None:
            stats.append(xp.reshape(penalty, (1,)))
        if val is not None:
            stats.append(evaluate_sums(self.net, self.loss_fn, val))
        host_stats = to_host(xp.concat(stats))  # the one read per epoch
        if self.gather_stats is not None:
            host_stats = self._combine(host_stats, penalty is not None, carried)
        total = float(n if weight is None else self._total_weight(weight, rows, offset))
        batches = len(bounds) - 1
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(host_stats[0]) / max(total, 1e-300)}
        if penalty is not None:  # scikit-learn adds (alpha / 2) ||W||^2 / batch weight once per batch
            record["train_loss"] += 0.5 * self.alpha * float(host_stats[2]) * batches / max(total, 1e-300)
        if host_stats[1] >= 0 or not math.isfinite(record["train_loss"]):
            self.restore_best()
            self.history.stopped = "diverged"
            step = int(host_stats[1]) if host_stats[1] >= 0 else steps
            raise TrainingDiverged(
                f"training diverged: the loss became non-finite at epoch {epoch}, step {step}", epoch=epoch, step=step
            )
        if val is not None:
            rest = host_stats[3 if penalty is not None else 2 :]
            record["val_loss"] = float(rest[0]) / float(rest[1])
            record.update(val.record(rest[2:], float(rest[1])))
        self.samples_seen += n
        record["learning_rate"] = self.optimizer.lr
        after = transfer_counts()
        record["seconds"] = time.perf_counter() - t0
        record["to_host"] = after["to_host"] - counts["to_host"]
        record["to_device"] = after["to_device"] - counts["to_device"]
        record["steps"] = steps
        return record

    def _check_partial(self, n_rows: int, rows: Any) -> None:
        """A part-done epoch resumed on these rows: its order must be theirs, its steps within the epoch."""
        order, steps = self.partial["order"], self.partial["steps"]  # type: ignore[index]
        mine = host.arange(n_rows) if rows is None else host.sort(host.asarray(rows))
        if len(order) != len(mine) or not host.array_equal(host.sort(order), mine):
            raise GpubpError(
                f"the part-done epoch in this training state orders {len(order)} rows, not the {len(mine)} "
                "training rows given"
            )
        if steps > -(-len(mine) // self.batch_size):
            raise GpubpError(f"the part-done epoch in this training state is past its end (step {steps})")

    def _combine(self, stats: Any, penalty: bool, carried: tuple[float, float] | None) -> Any:
        """Every process's statistics as one vector, the same on all: sums added in rank order, the first
        non-finite step the earliest, the penalty (the same weights everywhere) taken once."""
        table = self.gather_stats(host.asarray(stats, dtype=host.float64))  # (processes, k)
        out = _sum_rows(table)
        bad = table[:, 1][table[:, 1] >= 0]
        out[1] = bad.min() if len(bad) else -1.0
        if penalty:
            out[2] = table[0, 2]
        if carried is not None:
            out[0] += carried[0]
            if carried[1] >= 0:
                out[1] = carried[1]
        return out

    def _total_weight(self, weight: Any, rows: Any, offset: int | None = None) -> float:
        if self._weight_total is None:  # once per fit call, not per epoch
            xp = namespace(weight)
            if offset is not None:  # the training rows held here; the total over all processes below
                rows = rows[(rows >= offset) & (rows < offset + weight.shape[0])] - offset
            part = weight if rows is None else xp.take(weight, backend_of(weight).asarray(rows), axis=0)
            total = to_host(xp.reshape(xp.sum(part), (1,))).astype(host.float64)
            if self.gather_stats is not None and offset is not None:
                total = _sum_rows(self.gather_stats(total))
            self._weight_total = float(total[0])
        return self._weight_total

    def _stuck(self, record: dict[str, Any]) -> bool:
        """scikit-learn's no-improvement count and schedule; True when training should stop."""
        if self.early_stopping:
            score = record["val_score"]
            self.bad_epochs = self.bad_epochs + 1 if score < self.best_score + self.tol else 0
            if score > self.best_score:
                self.best_score = score
                self._keep_best(record)
        else:
            loss = record["train_loss"]
            self.bad_epochs = self.bad_epochs + 1 if loss > self.best_loss - self.tol else 0
            if loss < self.best_loss:
                self.best_loss = loss
                self._keep_best(record)
        if self.learning_rate == "invscaling":
            self.optimizer.lr = self.learning_rate_init / (self.samples_seen + 1) ** self.power_t
        if self.bad_epochs <= self.n_iter_no_change:
            return False
        what = "Validation score" if self.early_stopping else "Training loss"
        said = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        if self.learning_rate == "adaptive" and self.optimizer.lr > 1e-6:
            self.optimizer.lr /= 5.0
            self.bad_epochs = 0
            self._say(f"{said} Setting learning rate to {self.optimizer.lr:f}")
            return False
        self._say(said + (" Learning rate too small." if self.learning_rate == "adaptive" else "") + " Stopping.")
        return True

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)

    def _keep_best(self, record: dict[str, Any]) -> None:
        self.history.best_epoch = record["epoch"]
        self.best_weights = [_copy(p.data) for p in self.net.parameters()]  # stays on the device

    def restore_best(self) -> None:
        """Put the best weights seen so far back into the network (if any)."""
        if self.best_weights is None:
            return
        for p, best in zip(self.net.parameters(), self.best_weights, strict=True):
            p.data = _copy(best)

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
            tensors["partial.order"] = host.asarray(self.partial["order"], dtype=host.int64)
            sums = self.partial["loss_sum"], self.partial["first_bad"]
            if not isinstance(sums[0], float):  # one process: still on the device (data parallel: host sums)
                sums = to_host(backend_of(sums[0]).xp.stack(list(sums)))
            loss_sum = float(sums[0]) if math.isfinite(float(sums[0])) else None  # JSON has no NaN
            partial = {"steps": self.partial["steps"], "loss_sum": loss_sum, "first_bad": float(sums[1])}
        meta = {
            "history": self.history.epochs,
            "best_epoch": self.history.best_epoch,
            "best_loss": self.best_loss if math.isfinite(self.best_loss) else None,
            "best_score": self.best_score if math.isfinite(self.best_score) else None,
            "bad_epochs": self.bad_epochs,
            "samples_seen": self.samples_seen,
            "learning_rate": self.optimizer.lr,
            "has_best": self.best_weights is not None,
            "optimizer_steps": opt["steps"],
            "rng": self.rng.bit_generator.state,
            "partial": partial,
            "stopped": "" if self.history.stopped == "interrupted" else self.history.stopped,
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the network's weights are loaded separately).

        Everything is checked first (:func:`gpubp.checkpoint.check_trainer_state`): a damaged
        state raises GpubpError and leaves the trainer as it was.
        """
        check_trainer_state(self, tensors, meta)
        params = self.net.parameters()
        buffers = {name[len("optim.") :]: v for name, v in tensors.items() if name.startswith("optim.")}
        self.optimizer.load_state_dict({"steps": meta["optimizer_steps"], "buffers": buffers})
        if meta["has_best"]:
            self.best_weights = [
                backend_of(p.data).asarray(tensors[f"best.{i}"], dtype=p.data.dtype) for i, p in enumerate(params)
            ]
        self.history.epochs = list(meta["history"])
        self.history.best_epoch = int(meta["best_epoch"])
        self.best_loss = math.inf if meta["best_loss"] is None else float(meta["best_loss"])
        self.best_score = -math.inf if meta["best_score"] is None else float(meta["best_score"])
        self.bad_epochs = int(meta["bad_epochs"])
        self.samples_seen = int(meta["samples_seen"])
        self.optimizer.lr = float(meta["learning_rate"])
        self.history.stopped = str(meta.get("stopped", ""))
        self.rng.bit_generator.state = meta["rng"]
        partial = meta.get("partial")
        if partial is not None:
            self.partial = {
                "order": tensors["partial.order"],
                "steps": int(partial["steps"]),
                "loss_sum": math.nan if partial["loss_sum"] is None else partial["loss_sum"],
                "first_bad": partial["first_bad"],
            }


def _batches(order: Any, batch_size: int, offset: int | None, held: int) -> tuple[Any, list[int]]:
    """(the rows to train on here in epoch order, bounds): batch k is ``local[bounds[k]:bounds[k + 1]]``.

    In one process every row is held here and batch k is ``order[k * batch_size:][:batch_size]``. With
    ``offset`` this process holds the rows ``offset .. offset + held`` only: it keeps those of ``order``
    (as indices into its own ``X``) and the bounds of each global batch's part of them, possibly empty.
    """
    n = len(order)
    starts = host.arange(0, n + batch_size, batch_size)[: -(-n // batch_size) + 1]
    starts[-1] = n
    if offset is None:
        return order, starts.tolist()
    mine = (order >= offset) & (order < offset + held)
    position = host.flatnonzero(mine)  # where this process's rows fall in the epoch
    return order[mine] - offset, host.searchsorted(position, starts, side="left").tolist()


def _sum_rows(table: Any) -> Any:
    """The rows of a (processes, k) host table added in rank order: the same bits on every process."""
    out = table[0].copy()
    for row in table[1:]:
        out += row
    return out


def _weighted(loss: Any, weight: Any) -> Any:
    """loss times its rows' total weight; zero (not NaN) when that weight is zero, as a process's part may be."""
    xp = namespace(loss)
    return xp.where(weight > 0, loss * weight, xp.zeros_like(loss))


def _copy(x: Any) -> Any:
    return backend_of(x).xp.asarray(x, copy=True)


def _first_bad(first_bad: Any, running: list[Any], before: int) -> Any:
    """The first step (1-based) whose loss was not finite, as a 0-d device array; ``first_bad`` if it was set (>= 0)
    or no step was bad. A NaN or infinite loss leaves the running sum non-finite for good, so the first non-finite
    running sum marks it: one search per epoch instead of five small operations per step."""
    if not running:
        return first_bad
    xp = namespace(first_bad)
    bad = xp.astype(~xp.isfinite(xp.stack(running)), first_bad.dtype)  # (steps,) 1.0 where the sum is not finite
    step = xp.astype(xp.argmax(bad), first_bad.dtype) + float(before + 1)  # argmax: the first 1.0
    return xp.where((first_bad < 0) & (xp.max(bad) > 0), step, first_bad)
