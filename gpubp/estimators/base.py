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

This file holds the outline -- ``fit``'s steps in order, and using a fitted
model; the steps themselves live in three mixins: :mod:`.preparation` (where,
the validation rows, the scaling, the network), :mod:`.training` (the
optimizer, the trainer, the fitted attributes) and :mod:`.serving` (files,
pickles, ONNX, PyTorch).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.exceptions import NotFittedError as _SklearnNotFitted

from .. import distributed, settings
from ..backend import Backend, host, host_rng, limit_threads, namespace
from ..errors import GpubpError, ParameterError, TrainingDiverged
from ..losses import Loss
from ..network import Sequential
from ..step import EVAL_CHUNK, Validation, evaluate_sums
from ..train import Trainer
from . import inputs
from .parts import check_parts
from .preparation import Preparation
from .serving import Serving
from .state import check_resumable
from .training import FitHooks, Training


class NotFittedError(GpubpError, _SklearnNotFitted):
    """A method that needs a fitted model was called before ``fit`` (scikit-learn's NotFittedError too)."""


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


class BaseMLP(Preparation, Training, Serving, BaseEstimator):
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
            part = group is not None  # data parallel: a part may hold no row, or only rows of weight 0
            X, y = inputs.check_fit_data(self, X, y, reset=fresh, numeric=self._numeric_targets(), part=part)
            weight = inputs.check_sample_weight(sample_weight, X, part=part)
            dtype = backend.dtype(p["dtype"])
        if group is not None:
            check_parts(group, p, X, y, weight)
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
            trainer.fit(X_dev, y_dev, w_dev, val=val, rows=rows, epochs=epochs, offset=offset, incremental=incremental)
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
            out = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
            answer = self._answer_dtype(X)
            return (out if answer is None else xp.astype(out, answer)), X

    def _answer_dtype(self, X: Any) -> Any:
        """The dtype of the answers for a host ``X``: its own (scikit-learn's float64 for float64 input, float32
        for float32) where the model computes in the other; None for device arrays, which get the model's."""
        if inputs.is_device_array(X) or X.dtype.name == self._dtype_name or X.dtype.name not in ("float32", "float64"):
            return None
        try:
            return self._backend.dtype(X.dtype.name)  # the output layer's few numbers widened (or narrowed)
        except ParameterError:  # a device without float64: the model's own
            return None

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
            X = inputs.check_X(self, X, reset=False, part=group is not None)  # a process may hold none of the set
            if y is None or len(y) != X.shape[0]:
                raise GpubpError(f"X has {X.shape[0]} rows but y has {None if y is None else len(y)}")
            dtype = self._backend.dtype(self._dtype_name)
            targets = self._encode(y if inputs.is_device_array(y) else host.asarray(y), None, fresh=False)
            weight = inputs.check_sample_weight(sample_weight, X, part=group is not None)
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
        if not float(sums[1]) > 0:  # every process's weights were zero (each part alone may be)
            raise GpubpError("sample_weight: the weights of every process's rows are all zero; nothing to evaluate")
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

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # as scikit-learn's MLP: a SciPy sparse X is made dense once, on the host
        return tags
