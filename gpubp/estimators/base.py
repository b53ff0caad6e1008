"""``BaseMLP``: the fit loop shared by :class:`MLPClassifier` and :class:`MLPRegressor`.

It follows scikit-learn's ``BaseMultilayerPerceptron``: every constructor
argument is stored unchanged (the signature is derived from
:data:`gpubp.settings.SETTINGS`) and checked in ``fit``; the network is built
from the data's shape; the subclasses differ only in how targets are encoded,
the output activation and loss, how predictions are decoded, and ``score``.

Where gpubp differs: the arithmetic runs on the backend chosen by ``backend``
(or on the library and device of an ``X`` that is already a device array),
data moves to the device once, and the network is gpubp's hand-written
:class:`~gpubp.network.Sequential`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.exceptions import NotFittedError as _SklearnNotFitted

from .. import distributed, settings
from ..backend import Backend, backend_of, default_backend_name, host, host_rng, limit_threads, namespace, resolve
from ..data.split import split_indices
from ..errors import GpubpError, ParameterError, TrainingDiverged
from ..losses import Loss
from ..network import Sequential, mlp
from ..optim import SGD, Adam, Optimizer
from ..train import EVAL_CHUNK, Callback, History, Trainer, Validation, evaluate_sums
from . import inputs
from .lbfgs import fit_lbfgs
from .state import check_resumable, export_state, import_state


class NotFittedError(GpubpError, _SklearnNotFitted):
    """A method that needs a fitted model was called before ``fit`` (scikit-learn's NotFittedError too)."""


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
    on_epoch_end: Callable[[BaseMLP], None] | None = None
    resume: bool = False


def _make_init(kind: str) -> Callable[..., None]:
    """An ``__init__`` with the signature :func:`gpubp.settings.signature` gives, storing every argument as is."""
    sig = settings.signature(kind)

    def __init__(self: BaseMLP, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = sig  # type: ignore[attr-defined]  # what get_params, clone and help() read
    return __init__


class BaseMLP(BaseEstimator):
    """Base class of the estimators; use :class:`MLPClassifier` or :class:`MLPRegressor`."""

    #: ``classifier`` or ``regressor``: which settings the subclass takes.
    _kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_kind"):
            cls.__init__ = _make_init(cls._kind)  # type: ignore[method-assign]
            if cls.__doc__:
                cls.__doc__ = cls.__doc__.replace("{parameters}", settings.parameters_doc(cls._kind))

    # -- what the subclasses define ---------------------------------------------

    def _encode(self, y: Any, weight: Any, *, fresh: bool, classes: Any = None) -> Any:  # pragma: no cover
        """Host or device targets -> what the loss takes; on a fresh fit also sets n_outputs_ and out_activation_."""
        raise NotImplementedError

    def _loss(self) -> Loss:  # pragma: no cover
        raise NotImplementedError

    def _validation(self, X: Any, y: Any, weight: Any) -> Validation:  # pragma: no cover
        raise NotImplementedError

    def _numeric_targets(self) -> bool:
        return self._kind == "regressor"

    def _float_targets(self, targets: Any) -> bool:
        """Targets the loss reads as numbers (regression values, 0/1 indicators): cast to the model dtype once."""
        if self._kind == "regressor":
            return True
        if inputs.is_device_array(targets):
            return bool(namespace(targets).isdtype(targets.dtype, "real floating"))
        return targets.dtype.kind == "f"

    def _check_solver(self) -> bool:
        """partial_fit exists for the stochastic solvers only (as in scikit-learn)."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    def __sklearn_is_fitted__(self) -> bool:
        return "_net" in self.__dict__

    # -- fitting -------------------------------------------------------------

    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, hooks: FitHooks | None = None) -> BaseMLP:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, pandas or lists (moved to the backend's device once), or a
            torch tensor / CuPy array / array-API array (trained on where it is).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or values (regressor).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights: every loss is a weighted mean.
        hooks : FitHooks, optional
            gpubp's own: callbacks, an interrupt flag, checkpoints, resuming.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False, hooks=hooks)

    def _fit(
        self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, hooks: FitHooks | None, classes: Any = None
    ) -> BaseMLP:
        with limit_threads(self._threads(), self.backend):  # the caller's thread settings come back afterwards
            return self._fit_in_pools(X, y, sample_weight, incremental=incremental, hooks=hooks, classes=classes)

    def _threads(self) -> Any:
        """The checked ``threads`` setting (a model pickled before it existed has 'auto')."""
        return settings.check("threads", self.__dict__.get("threads", "auto"))

    def _fit_in_pools(
        self, X: Any, y: Any, sample_weight: Any, *, incremental: bool, hooks: FitHooks | None, classes: Any = None
    ) -> BaseMLP:
        group = distributed.current()  # data parallel: this process's X, y are its part of the data set
        with distributed.agreed(group):  # bad input on any process fails fit on every one, with its message
            p = settings.validate(self.get_params())
            if incremental and p["early_stopping"]:
                raise ParameterError("early_stopping", "partial_fit does not support early_stopping=True", True)
            if group is not None and p["solver"] == "lbfgs":
                raise ParameterError("solver", "lbfgs is not data parallel yet; use sgd or adam", "lbfgs")
            hooks = hooks or FitHooks()
            if hooks.resume and "_trainer" not in self.__dict__:
                raise GpubpError("nothing to resume: this estimator holds no training state (load a checkpoint first)")
            fresh = not (hooks.resume or ((p["warm_start"] or incremental) and "_net" in self.__dict__))
            backend = self._place(X, p, group) if fresh else self._backend
            X, y = inputs.check_fit_data(self, X, y, reset=fresh, numeric=self._numeric_targets())
            weight = inputs.check_sample_weight(sample_weight, X)
            dtype = backend.dtype(p["dtype"])
        if hooks.resume:  # the checkpoint's split and part-done epoch fit these rows (data parallel: all of them)
            with distributed.alike(group):
                check_resumable(self, int(X.shape[0]) if group is None else group.rows(X.shape[0])[1])
        if group is not None and fresh and classes is None and not self._numeric_targets() and y.ndim == 1:
            classes = group.union(inputs.to_host(y) if inputs.is_device_array(y) else y)  # every process's labels
        with backend.activate(), distributed.agreed(group):
            # data parallel, one process's rows may hold one weighted class: that check needs them all, skipped
            targets = self._encode(y, weight if group is None else None, fresh=fresh, classes=classes)
            X_dev = inputs.to_device(X, backend, dtype)
            y_dev = inputs.to_device(targets, backend, dtype if self._float_targets(targets) else targets.dtype)
            w_dev = None if weight is None else inputs.to_device(weight, backend, dtype)
        with backend.activate():
            return self._fit_on_device(p, hooks, backend, X_dev, y_dev, w_dev, fresh=fresh, incremental=incremental)

    def _fit_on_device(
        self, p: dict[str, Any], hooks: FitHooks, backend: Backend, X_dev: Any, y_dev: Any, w_dev: Any, *,
        fresh: bool, incremental: bool,
    ) -> BaseMLP:  # fmt: skip
        """The data on the device: split, build, train. Data parallel: every process runs this together."""
        group = distributed.current()
        with distributed.alike(group):  # decided from what every process shares: an error is raised on all
            trainer, val, X_dev = self._prepare(p, hooks, backend, X_dev, y_dev, w_dev, fresh, incremental, group)
        if trainer is None:
            return self
        before = len(trainer.history.epochs)
        epochs = 1 if incremental else (None if hooks.resume or fresh else p["max_iter"])  # warm_start: max_iter more
        rows, offset = self._train_rows, None
        if group is not None:
            offset = self._shard[0]
            rows = host.arange(self._n_rows, dtype=host.int64) if rows is None else rows
        try:
            trainer.fit(X_dev, y_dev, w_dev, val=val, rows=rows, epochs=epochs, offset=offset)
        except TrainingDiverged as exc:  # decided from the statistics every process shares: raised on all
            if group is not None:
                distributed.mark_agreed(exc)
            raise
        self._record(trainer, before, p)
        if trainer.history.stopped == "max_epochs" and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=5,
            )
        return self

    def _prepare(
        self, p: dict[str, Any], hooks: FitHooks, backend: Backend, X_dev: Any, y_dev: Any, w_dev: Any, fresh: bool,
        incremental: bool, group: distributed.MPIGroup | None,
    ) -> tuple[Trainer | None, Validation | None, Any]:  # fmt: skip
        """The split, the network and the trainer (None after L-BFGS, which trains here); the standardised X."""
        self._shard, self._n_rows = None, int(X_dev.shape[0])
        if group is not None:  # the data set is every process's rows in rank order
            offset, self._n_rows = group.rows(X_dev.shape[0])
            self._shard = (offset, int(X_dev.shape[0]))  # (its first row, rows held here)
        rng = None if hooks.resume else host_rng(p["random_state"])
        if group is not None and rng is not None:
            rng = group.same_rng(rng)  # rank 0's generator: the same split, weights and permutations everywhere
        if not hooks.resume:
            self._split_rows(p, y_dev, rng, group)
        if fresh:
            self._build(p, backend, X_dev, rng, group)
            if group is not None:
                group.broadcast_parameters(self._net.parameters())  # rank 0's initial weights
        X_dev = self._standardize(X_dev)
        if p["solver"] == "lbfgs":
            self._fit_with_lbfgs(p, X_dev, y_dev, w_dev)
            return None, None, X_dev
        trainer = self._trainer_for(p, rng, hooks, keep=incremental or hooks.resume, group=group)
        val = self._validation_set(X_dev, y_dev, w_dev)
        if val is not None and group is not None:
            val.share(group.sum)  # e.g. R²'s total sum of squares over the whole validation set
        return trainer, val, X_dev

    def _place(self, X: Any, p: dict[str, Any], group: distributed.MPIGroup | None = None) -> Backend:
        """Where to train: the library and device of a device-array X (unless asked otherwise), else ``backend``;
        data parallel, each process's own GPU unless ``device`` says otherwise."""
        if inputs.is_device_array(X) and p["backend"] == "auto" and p["device"] is None:
            return backend_of(X)
        name = p["backend"]
        if name == "auto":
            name = default_backend_name("auto")
        return resolve(name, p["device"] if group is None else group.device_for(name, p["device"]))

    def _split_rows(self, p: dict[str, Any], y_dev: Any, rng: Any, group: distributed.MPIGroup | None = None) -> None:
        """Early stopping's validation rows (host indices), drawn from ``rng``; None and None without it.

        Data parallel: rows of the whole data set (every process's rows in rank order), the same on all.
        """
        self._train_rows = self._val_rows = None
        if not p["early_stopping"] or p["solver"] == "lbfgs":
            return
        labels = self._stratify_labels(y_dev)
        if group is not None and labels is not None:
            labels = group.concat(labels)
        split = split_indices(self._n_rows, validation_fraction=p["validation_fraction"], seed=rng, y=labels)
        if len(split.val) < 2:
            raise GpubpError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        self._train_rows, self._val_rows = split.train, split.val

    def _build(
        self, p: dict[str, Any], backend: Backend, X_dev: Any, rng: Any, group: distributed.MPIGroup | None = None
    ) -> None:
        """A fresh fit: the standardisation and the network, drawn from ``rng``; stale fitted state goes."""
        for stale in ("_trainer", "loss_curve_", "validation_scores_", "best_loss_", "best_validation_score_"):
            self.__dict__.pop(stale, None)
        self._backend, self._dtype_name = backend, p["dtype"]
        self._fit_standardizer(X_dev, p["standardize"], group)
        sizes = [int(X_dev.shape[1]), *p["hidden_layer_sizes"], self.n_outputs_]
        _check_size(sizes, p)
        logistic = p["activation"] in ("logistic", "sigmoid")  # scikit-learn's Glorot bounds, biases drawn too
        init = "xavier_uniform_logistic" if logistic else "xavier_uniform"
        self._net = mlp(
            sizes, activation_name=p["activation"], init=init, bias_init="same", rng=rng, backend=backend,
            dtype=p["dtype"],
        )  # fmt: skip
        self._net.layers[0].needs_input_grad = False  # nothing upstream of the first layer learns
        self.n_layers_ = len(sizes)
        self.t_ = 0

    def _stratify_labels(self, y_dev: Any) -> Any:
        """Labels to stratify the validation split by (classifier, one output), as host values; else None."""
        return None

    def _fit_standardizer(self, X_dev: Any, on: bool, group: distributed.MPIGroup | None = None) -> None:
        """Learn each feature's mean and scale on the training rows (a constant feature keeps scale 1).

        Data parallel: from sums over every process's training rows (two passes, as one process does).
        """
        self.feature_mean_ = self.feature_scale_ = None
        self._std = None
        if not on:
            return
        xp = namespace(X_dev)
        held = self._held(self._train_rows)
        rows = X_dev if held is None else xp.take(X_dev, self._backend.asarray(held), axis=0)
        if group is None:
            mean = xp.mean(rows, axis=0)  # (n_features,)
            std = xp.std(rows, axis=0)
        else:
            n = self._n_rows if self._train_rows is None else len(self._train_rows)
            dtype = X_dev.dtype
            mean = self._backend.asarray(group.sum(inputs.to_host(xp.sum(rows, axis=0))) / n, dtype=dtype)
            squares = group.sum(inputs.to_host(xp.sum((rows - mean) ** 2, axis=0)))
            std = self._backend.asarray(host.sqrt(squares / n), dtype=dtype)
        scale = xp.where(std > 0, std, xp.ones_like(std))
        self._std = (mean, scale)
        self.feature_mean_ = inputs.to_host(mean).astype(host.float64)
        self.feature_scale_ = inputs.to_host(scale).astype(host.float64)

    def _standardize(self, X_dev: Any) -> Any:
        if self._std is None:
            return X_dev
        mean, scale = self._std
        return (X_dev - mean) / scale

    def _validation_set(self, X_dev: Any, y_dev: Any, w_dev: Any) -> Validation | None:
        """The early-stopping rows on the device (one copy of that part), or None."""
        if self._val_rows is None:
            return None
        xp = namespace(X_dev)
        idx = self._backend.asarray(self._held(self._val_rows))
        w_val = None if w_dev is None else xp.take(w_dev, idx, axis=0)
        return self._validation(xp.take(X_dev, idx, axis=0), xp.take(y_dev, idx, axis=0), w_val)

    def _held(self, rows: Any) -> Any:
        """Rows of the whole data set that this process holds, as indices into its own X (data parallel)."""
        shard = self.__dict__.get("_shard")
        if rows is None or shard is None:
            return rows
        offset, held = shard
        return rows[(rows >= offset) & (rows < offset + held)] - offset

    def _optimizer(self, p: dict[str, Any]) -> Optimizer:
        params = self._net.parameters()
        if p["solver"] == "adam":
            return Adam(params, p["learning_rate_init"], betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"])
        nesterov = p["nesterovs_momentum"] and p["momentum"] > 0
        return SGD(params, p["learning_rate_init"], momentum=p["momentum"], nesterov=nesterov)

    def _trainer_for(
        self, p: dict[str, Any], rng: Any, hooks: FitHooks, *, keep: bool, group: distributed.MPIGroup | None = None
    ) -> Trainer:
        """The trainer: kept for partial_fit and resuming, else new (warm_start keeps only the counters)."""
        old = self.__dict__.get("_trainer")
        n = self._rows_seen_by_epoch()
        batch = min(200, n) if p["batch_size"] == "auto" else min(p["batch_size"], n)
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

    # -- using a fitted model ------------------------------------------------

    def _outputs(self, X: Any) -> tuple[Any, Any]:
        """(network outputs on the model's device, the validated X) for a new ``X``."""
        self._require_fitted()
        X = inputs.check_X(self, X, reset=False)
        with self._backend.activate():
            X_dev = self._standardize(inputs.to_device(X, self._backend, self._backend.dtype(self._dtype_name)))
            xp = self._backend.xp
            n = X_dev.shape[0]
            with limit_threads(self._threads()):
                parts = [self._net.forward(X_dev[i : min(i + EVAL_CHUNK, n), ...]) for i in range(0, n, EVAL_CHUNK)]
            return (parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)), X

    def _require_fitted(self) -> None:
        if "_net" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments "
                "before using this estimator."
            )

    def evaluate(self, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
        """gpubp's own: the loss and the score on a labelled set, in one pass on the device and one read.

        Returns ``{'accuracy', 'loss'}`` for a classifier and ``{'mse', 'r2', 'loss'}`` for a
        regressor; ``loss`` is the training loss's definition (log-loss, half the squared
        error, half the Poisson deviance) without the L2 penalty. Data parallel
        (:mod:`gpubp.distributed`): the metrics of every process's rows together.
        """
        self._require_fitted()
        group = distributed.current()
        with distributed.agreed(group):
            if group is not None and len(X) == 0:  # this process holds none of the set: it adds zeros
                X = host.empty((0, self.n_features_in_))
            else:
                X = inputs.check_X(self, X, reset=False)
            if y is None or len(y) != X.shape[0]:
                raise GpubpError(f"X has {X.shape[0]} rows but y has {None if y is None else len(y)}")
            dtype = self._backend.dtype(self._dtype_name)
            targets = self._encode(y if inputs.is_device_array(y) else host.asarray(y), None, fresh=False)
            weight = inputs.check_sample_weight(sample_weight, X)
        with self._backend.activate():
            X_dev = self._standardize(inputs.to_device(X, self._backend, dtype))
            y_dev = inputs.to_device(targets, self._backend, dtype if self._float_targets(targets) else targets.dtype)
            w_dev = None if weight is None else inputs.to_device(weight, self._backend, dtype)
            val = self._validation(X_dev, y_dev, w_dev)
            with limit_threads(self._threads()):
                sums = inputs.to_host(evaluate_sums(self._net, self._loss(), val))
        if group is not None:  # the metrics of the whole set, every process's rows
            val.share(group.sum)
            sums = group.sum(sums)
        record = val.record(sums[2:], float(sums[1]))
        loss = float(sums[0]) / float(sums[1])
        if "val_accuracy" in record:
            return {"accuracy": record["val_accuracy"], "loss": loss}
        return {"mse": record["val_mse"], "r2": record["val_r2"], "loss": loss}

    @property
    def coefs_(self) -> list[Any]:
        """The weight matrices, (fan_in, fan_out) per layer, on the training device."""
        if "_net" not in self.__dict__:
            raise AttributeError("coefs_: the estimator is not fitted yet")
        return [layer.weight.data for layer in self._net.layers if hasattr(layer, "weight")]

    @property
    def intercepts_(self) -> list[Any]:
        """The bias vectors, (fan_out,) per layer, on the training device."""
        if "_net" not in self.__dict__:
            raise AttributeError("intercepts_: the estimator is not fitted yet")
        return [layer.bias.data for layer in self._net.layers if hasattr(layer, "bias")]

    @property
    def network_(self) -> Sequential:
        """The fitted gpubp network (without the input standardisation and the output activation)."""
        self._require_fitted()
        return self._net

    @property
    def backend_(self) -> str:
        """Where the model computes: ``'<library> on <device>'``."""
        self._require_fitted()
        return self._backend.describe()

    # -- serving: ONNX and PyTorch --------------------------------------------------

    def _export_args(self) -> dict[str, Any]:
        """What the exports need besides the network: the head, the classes and the standardisation."""
        self._require_fitted()
        multilabel = self.out_activation_ == "logistic" and self.n_outputs_ > 1
        classes = None if self._kind == "regressor" or multilabel else inputs.to_host(self.classes_).tolist()
        return {"head": self.out_activation_, "classes": classes, "mean": self.feature_mean_,
                "scale": self.feature_scale_, "dtype": self._dtype_name}  # fmt: skip

    def to_onnx(self, path: str | os.PathLike[str], *, opset: int | None = None) -> None:
        """gpubp's own: write the fitted model as a checked ONNX graph (needs ``pip install 'gpubp[onnx]'``).

        The graph takes raw features as input ``X`` (batch, n_features) -- the
        standardisation is part of it -- and gives ``label`` and
        ``probabilities`` (classifiers) or ``value`` (regressors), as
        ``predict`` / ``predict_proba`` do; the batch dimension is dynamic.
        """
        from ..export import DEFAULT_OPSET, to_onnx

        to_onnx(self._net, path, opset=DEFAULT_OPSET if opset is None else opset, **self._export_args())

    def to_torch(self) -> Any:
        """gpubp's own: the matching ``torch.nn.Sequential`` (logits / values; the standardisation folded in)."""
        from ..export import to_torch

        args = self._export_args()
        return to_torch(self._net, mean=args["mean"], scale=args["scale"], dtype=args["dtype"])

    def save_torch(self, path: str | os.PathLike[str]) -> str:
        """gpubp's own: a safetensors file in ``nn.Sequential``'s layout; returns the lines that load it."""
        from ..export import save_torch

        return save_torch(self._net, path, **self._export_args())

    # -- saving, pickling ------------------------------------------------------

    def save(
        self, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None, checkpoint: bool = False
    ) -> None:
        """Write the fitted model to one ``.safetensors`` file (weights + JSON metadata, no pickle).

        ``checkpoint`` adds the training state (optimizer, best weights,
        generator, a part-done epoch) so :func:`gpubp.load` and
        ``fit(..., hooks=FitHooks(resume=True))`` continue where it stopped.
        ``extra`` is stored as more metadata (the command records its data there).
        """
        from ..persist import save

        save(self, path, extra=extra, checkpoint=checkpoint)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in _DEVICE_STATE}
        if "_net" in self.__dict__:
            state["_gpubp_state"] = export_state(self, checkpoint="_trainer" in self.__dict__)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_gpubp_state", None)
        self.__dict__.update(state)
        if saved is not None:
            import_state(self, *saved)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # dense arrays only: sparse matrices are refused with a clear error
        return tags


#: What pickling rebuilds instead of copying: device arrays and the objects holding them.
_DEVICE_STATE = ("_net", "_trainer", "_backend", "_std", "_classes_dev")


class _Printer:
    """``verbose``: scikit-learn's per-epoch lines."""

    def __call__(self, record: dict[str, Any]) -> None:
        print(f"Iteration {record['epoch']}, loss = {record['train_loss']:.8f}")
        if "val_score" in record:
            print(f"Validation score: {record['val_score']:f}")


def _check_size(sizes: list[int], p: dict[str, Any]) -> None:
    """Refuse a network whose weights alone would not fit in this machine's memory, before allocating."""
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    need = count * (4 if p["dtype"] == "float32" else 8) * 2  # the weights and their gradients, at least
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf: let the allocation decide
        return
    if need > have:
        raise ParameterError(
            "hidden_layer_sizes",
            f"not enough memory: {count:,} weights and their gradients need {need / 2**30:.1f} GiB, more than this "
            f"machine's {have / 2**30:.1f} GiB",
            p["hidden_layer_sizes"],
        )
