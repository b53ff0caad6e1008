"""The trainer of a fit: the optimizer and the fit loop from the settings, and scikit-learn's attributes after.

A mixin of :class:`~gpubp.estimators.base.BaseMLP`. The fit loop itself is
:class:`gpubp.train.Trainer`; here it is built from the checked settings,
kept for ``partial_fit`` and resuming, wired to the command's hooks and to
the data-parallel seam, and its history turned into ``loss_curve_``,
``n_iter_`` and the rest. ``solver='lbfgs'`` trains through
:func:`gpubp.estimators.lbfgs.fit_lbfgs` instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.exceptions import ConvergenceWarning

from .. import distributed
from ..backend import host_rng
from ..optim import SGD, Adam, Optimizer
from ..train import Callback, History, Trainer
from .lbfgs import fit_lbfgs


@dataclass
class FitHooks:
    """What the command adds to ``fit``: per-epoch callbacks, an interrupt flag, checkpoints, resuming.

    Attributes
    ----------
    callbacks : sequence of callables
        Called with each epoch's record (a dict); returning True stops training.
    should_stop : callable, optional
        Polled after every step; when true the epoch ends after that step and
        ``history_.stopped`` is ``'interrupted'`` (the state is resumable).
    on_epoch_end : callable, optional
        Called with the estimator after every epoch (and on interruption):
        write a checkpoint there with :meth:`BaseMLP.save` (``checkpoint=True``).
    resume : bool
        Continue the training state this estimator holds (from a checkpoint
        loaded with :func:`gpubp.load`) instead of starting anew.
    """

    callbacks: Sequence[Callback] = ()
    should_stop: Callable[[], bool] | None = None
    on_epoch_end: Callable[[Any], None] | None = None  # called with the estimator
    resume: bool = False


class Training:
    """The optimizer, the trainer and the fitted attributes from its history (mixin of BaseMLP)."""

    def _optimizer(self, p: dict[str, Any]) -> Optimizer:
        params = self._net.parameters()
        if p["solver"] == "adam":
            return Adam(params, p["learning_rate_init"], betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"])
        nesterov = p["nesterovs_momentum"] and p["momentum"] > 0
        # scikit-learn's momentum: its velocity keeps the steps taken before invscaling/adaptive change the rate
        return SGD(params, p["learning_rate_init"], momentum=p["momentum"], nesterov=nesterov, lr_in_velocity=True)

    def _trainer_for(
        self, p: dict[str, Any], rng: Any, hooks: FitHooks, *, keep: bool, group: distributed.MPIGroup | None = None
    ) -> Trainer:
        """The trainer: kept for partial_fit and resuming, else new (warm_start keeps only the counters)."""
        old = self.__dict__.get("_trainer")
        n = self._rows_seen_by_epoch()
        batch = min(200, n) if p["batch_size"] == "auto" else min(p["batch_size"], n)
        if p["batch_size"] != "auto" and p["batch_size"] > n:
            warnings.warn(  # scikit-learn's words
                "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                UserWarning,
                stacklevel=7,  # _trainer_for, _prepare, _fit_on_device, _fit_in_pools, _fit, fit: the caller
            )
        if old is not None and keep:
            trainer = old
            trainer.batch_size = batch
        else:
            trainer = self._new_trainer(p, rng if rng is not None else host_rng(p["random_state"]), batch)
            if old is not None:  # warm_start: a new optimizer, the same counters (as scikit-learn)
                trainer.best_loss, trainer.best_score = old.best_loss, old.best_score
                trainer.bad_epochs, trainer.samples_seen = old.bad_epochs, old.samples_seen
                trainer.history.epochs = list(old.history.epochs)
        speaks = group is None or group.rank == 0
        trainer.callbacks = list(hooks.callbacks) + ([_Printer()] if p["verbose"] and speaks else [])
        trainer.say = print if p["verbose"] and speaks else None
        trainer.should_stop = hooks.should_stop if group is None else group.agreed_stop(hooks.should_stop)
        trainer.reduce_gradients = None if group is None else group.reduce_gradients  # the seam
        trainer.gather_stats = None if group is None else group.gather
        trainer.on_epoch_end = None if hooks.on_epoch_end is None else (lambda t: hooks.on_epoch_end(self))
        self._trainer = trainer
        return trainer

    def _new_trainer(self, p: dict[str, Any], rng: Any, batch_size: int) -> Trainer:
        """A trainer for this estimator's network with the validated settings ``p``."""
        return Trainer(
            self._net,
            self._loss(),
            self._optimizer(p),
            batch_size=batch_size,
            max_iter=p["max_iter"],
            tol=p["tol"],
            n_iter_no_change=p["n_iter_no_change"],
            early_stopping=p["early_stopping"],
            shuffle=p["shuffle"],
            alpha=p["alpha"],
            learning_rate=p["learning_rate"] if p["solver"] == "sgd" else "constant",
            learning_rate_init=p["learning_rate_init"],
            power_t=p["power_t"],
            rng=rng,
        )

    def _rows_seen_by_epoch(self) -> int:
        return int(len(self._train_rows)) if self._train_rows is not None else self._n_rows

    def _record(self, trainer: Trainer, before: int, p: dict[str, Any]) -> None:
        """scikit-learn's fitted attributes from the trainer's history."""
        history = trainer.history
        new = history.epochs[before:]
        self.history_ = history
        self.n_iter_ = len(new)
        self.t_ = trainer.samples_seen
        self.loss_curve_ = [r["train_loss"] for r in history.epochs]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        if p["early_stopping"]:
            self.validation_scores_ = [r["val_score"] for r in history.epochs]
            self.best_validation_score_ = trainer.best_score
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = trainer.best_loss

    def _fit_with_lbfgs(self, p: dict[str, Any], X_dev: Any, y_dev: Any, w_dev: Any) -> None:
        result = fit_lbfgs(
            self._net, self._loss(), X_dev, y_dev, w_dev, alpha=p["alpha"], max_iter=p["max_iter"],
            max_fun=p["max_fun"], tol=p["tol"], verbose=bool(p["verbose"]),
        )  # fmt: skip
        self.n_iter_, self.loss_ = result.n_iter, result.loss
        self.t_ = X_dev.shape[0] * result.n_iter
        self.history_ = History([{"epoch": result.n_iter, "train_loss": result.loss}], result.n_iter, result.stopped)
        if result.stopped == "max_epochs":
            warnings.warn(
                f"lbfgs failed to converge after {result.n_iter} iteration(s) (status={result.status}): "
                f"{result.message}",
                ConvergenceWarning,
                stacklevel=7,  # _fit_with_lbfgs, _prepare, _fit_on_device, _fit_in_pools, _fit, fit: the caller
            )


class _Printer:
    """``verbose``: scikit-learn's per-epoch lines."""

    def __call__(self, record: dict[str, Any]) -> None:
        print(f"Iteration {record['epoch']}, loss = {record['train_loss']:.8f}")
        if "val_score" in record:
            print(f"Validation score: {record['val_score']:f}")
