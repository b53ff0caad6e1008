"""``Model``: an MLP estimator with ``fit``, ``predict``, ``evaluate``, ``save`` -- and ``load``.

It wraps the pieces (network, loss, optimizer, fit loop) the way scikit-learn's
``MLPClassifier``/``MLPRegressor`` do: hyperparameters in the constructor, the
network built from the data's shape at ``fit``. Inputs and outputs of the
public methods are host (NumPy) arrays; everything in between stays on the
backend's device.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import array_api_compat

from . import __version__
from .backend import (
    Backend,
    default_backend_name,
    device_name,
    host,
    library_version,
    resolve,
    to_host,
)
from .datasets import Standardizer, encode_labels, infer_task, split_indices
from .errors import GpubpError
from .io import load_model_file, save_model_file
from .losses import get_loss, softmax
from .metrics import predicted_classes, r2_score
from .network import Sequential, mlp
from .optim import OPTIMIZERS, Optimizer, get_optimizer
from .train import EVAL_CHUNK, Callback, History, Trainer, evaluate_sums

#: Learning rate used when none is given, per optimizer.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 2e-3}


def _positive_int(flag: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise GpubpError(f"--{flag}: must be a positive integer, got {value!r}")
    return int(value)  # a NumPy integer becomes a plain int (JSON-serialisable metadata)


def _fraction(flag: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise GpubpError(f"--{flag}: must be a number in [0, 1), got {value!r}") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise GpubpError(f"--{flag}: must be a number in [0, 1), got {value!r}")
    return value


class Model:
    """A multi-layer perceptron trained by hand-written backpropagation.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers, e.g. ``(128, 64)``.
    activation : {'relu', 'leaky_relu', 'sigmoid', 'tanh'}
    task : {'auto', 'classify', 'regress'}
        ``auto`` classifies integer or string targets with at most 50 values.
    loss : {'auto', 'ce', 'bce', 'mse'}
        ``auto``: softmax cross-entropy for classification, MSE for regression.
    optimizer : {'adam', 'sgd', 'momentum', 'nesterov'}
    lr : float or None
        Learning rate; None takes :data:`DEFAULT_LR` for the optimizer.
    weight_decay : float
        L2 penalty added to every gradient.
    batch_size, max_epochs : int
    tol, patience
        Stop when the validation loss has not improved by more than ``tol`` for
        ``patience`` epochs; the best weights are restored.
    val_fraction : float
        Share of the training data held out for validation when ``fit`` gets no
        ``X_val`` (0 monitors the training loss instead).
    seed : int
        Seeds the weights, the split and the shuffling.
    dtype : {'float32', 'float64'}
    backend, device
        Where to train (see :func:`gpubp.backend.resolve`); None reads
        ``GPUBP_BACKEND`` and defaults to ``auto``.
    """

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (128, 64),
        activation: str = "relu",
        task: str = "auto",
        loss: str = "auto",
        optimizer: str = "adam",
        lr: float | None = None,
        weight_decay: float = 0.0,
        batch_size: int = 32,
        max_epochs: int = 200,
        tol: float = 1e-4,
        patience: int = 10,
        val_fraction: float = 0.1,
        seed: int = 0,
        dtype: str = "float32",
        backend: Backend | str | None = None,
        device: Any = None,
    ) -> None:
        if isinstance(hidden, str):
            raise GpubpError(
                f"--hidden: hidden sizes must be a sequence of positive integers like (128, 64), got {hidden!r}"
            )
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else tuple(hidden)
        if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h <= 0 for h in hidden):
            raise GpubpError(f"--hidden: hidden sizes must be positive integers, got {list(hidden)}")
        hidden = tuple(int(h) for h in hidden)
        if task not in ("auto", "classify", "regress"):
            raise GpubpError(f"--task: unknown task {task!r} (choose from auto, classify, regress)")
        if loss not in ("auto", "ce", "bce", "mse"):
            raise GpubpError(f"--loss: unknown loss {loss!r} (choose from auto, ce, bce, mse)")
        if optimizer not in OPTIMIZERS:
            raise GpubpError(f"--optimizer: unknown optimizer {optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
        self.hidden, self.activation, self.task, self.loss = hidden, activation, task, loss
        self.optimizer = optimizer
        self.lr = DEFAULT_LR[optimizer] if lr is None else lr
        self.weight_decay = weight_decay
        self.batch_size = _positive_int("batch-size", batch_size)
        self.max_epochs = _positive_int("epochs", max_epochs)
        self.patience = _positive_int("patience", patience)
        try:
            self.tol = float(tol)
        except (TypeError, ValueError):
            raise GpubpError(f"--tol: must be a number >= 0, got {tol!r}") from None
        if not (math.isfinite(self.tol) and self.tol >= 0):
            raise GpubpError(f"--tol: must be a number >= 0, got {tol!r}")
        self.val_fraction = _fraction("val-fraction", val_fraction)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise GpubpError(f"--seed: must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        if backend is not None and not isinstance(backend, (str, Backend)):
            raise GpubpError(f"--backend: expected a backend name or a Backend, got {type(backend).__name__}")
        self.backend = resolve(backend if backend is not None else default_backend_name("auto"), device)
        self.dtype = dtype
        self._xp_dtype = self.backend.dtype(dtype)
        # Validate lr, weight decay and the activation now, not after loading data.
        probe = get_optimizer(optimizer, [_probe_parameter(self.backend, self._xp_dtype)], self.lr, weight_decay)
        self.lr, self.weight_decay = probe.lr, probe.weight_decay  # validated Python floats
        _build(lambda: mlp([1, *hidden, 1], activation_name=activation, backend=self.backend, dtype=dtype), hidden)
        self.net: Sequential | None = None
        self.classes: list[Any] = []
        self.standardizer: Standardizer | None = None
        self.history: History | None = None
        self.loss_name = ""
        self.n_features = 0
        self.n_outputs = 0
        self.optim: Optimizer | None = None
        self.task_ = ""
        self.metadata_: dict[str, Any] = {}

    # -- training ----------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_val: Any = None,
        y_val: Any = None,
        callbacks: Iterable[Callback] = (),
        progress: bool = False,
        should_stop: Callable[[], bool] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_extra: dict[str, Any] | None = None,
        resume_from: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> History:
        """Train on ``X`` (n, features) and targets ``y``; returns the :class:`History`.

        ``y`` holds class labels (any integers or strings) for classification
        and values for regression. Without ``X_val``, ``val_fraction`` of the
        data is held out (stratified, from the seed) to decide when to stop.

        Parameters
        ----------
        checkpoint : path, optional
            Rewritten atomically after every epoch (and on interruption) with
            everything needed to continue: weights, optimizer state, best
            weights, history and the shuffling generator's state.
        checkpoint_extra : dict, optional
            Extra JSON metadata stored in each checkpoint (e.g. the data source).
        resume_from : (tensors, metadata), optional
            A checkpoint as :func:`gpubp.load_model_file` returns it: training
            continues from it and, on the same data and backend, ends with the
            same weights as an uninterrupted run (bit for bit on NumPy).
        """
        X, y = _host_2d(X, "X"), _host_targets(y, "y")
        if y.shape[0] != X.shape[0]:
            raise GpubpError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        task = infer_task(y) if self.task == "auto" else self.task
        if task == "classify" and y.dtype.kind == "f":
            column = y.reshape(len(y), -1)[:, 0]  # labels are one column; wider y is refused by encode_labels
            fractional = column != host.floor(column)
            if fractional.any():
                i = int(host.argmax(fractional))
                raise GpubpError(
                    f"--task classify: y[{i}] = {column[i].item()!r} is not a whole number, so not a class label"
                )
        if X_val is None and self.val_fraction > 0:
            split = split_indices(
                X.shape[0],
                val_fraction=self.val_fraction,
                test_fraction=0.0,
                seed=self.seed,
                y=encode_labels(y, "y")[0] if task == "classify" else None,
            )
            X, y, X_val, y_val = X[split.train], y[split.train], X[split.val], y[split.val]
        elif X_val is not None:
            X_val, y_val = _host_2d(X_val, "X_val"), _host_targets(y_val, "y_val")
            if X_val.shape[1] != X.shape[1]:
                raise GpubpError(f"X_val has {X_val.shape[1]} features but X has {X.shape[1]}")
            if y_val.shape[0] != X_val.shape[0]:
                raise GpubpError(f"X_val has {X_val.shape[0]} rows but y_val has {y_val.shape[0]}")
        self._setup(X, y, task)
        assert self.net is not None and self.optim is not None
        X_dev, y_dev = self._to_device(X), self._targets_to_device(y)
        val_args: tuple[Any, Any, float] = (None, None, 0.0)
        if X_val is not None and X_val.shape[0] > 0:
            val_var = _target_variance(y_val) if task == "regress" else 0.0
            val_args = (self._to_device(X_val), self._targets_to_device(y_val, "y_val"), val_var)
        trainer = Trainer(
            self.net,
            get_loss(self.loss_name),
            self.optim,
            task,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            tol=self.tol,
            patience=self.patience,
            seed=self.seed,
            callbacks=callbacks,
            progress=progress,
            should_stop=should_stop,
        )
        if resume_from is not None:
            tensors, meta = resume_from
            self.net.load_state_dict(_network_tensors(tensors))
            trainer.load_state_dict(tensors, meta["checkpoint"])
        if checkpoint is not None:
            trainer.on_epoch_end = lambda t: self.save_checkpoint(checkpoint, t, checkpoint_extra)
        self.history = trainer.history
        trainer.fit(X_dev, y_dev, *val_args)
        return self.history

    def save_checkpoint(
        self, path: str | os.PathLike[str], trainer: Trainer, extra: dict[str, Any] | None = None
    ) -> None:
        """Write the current weights plus ``trainer``'s state to one ``.safetensors`` file, atomically."""
        assert self.net is not None
        tensors, state = trainer.state_dict()
        save_model_file(
            path, {**self.net.state_dict(), **tensors}, {**self.metadata(), **(extra or {}), "checkpoint": state}
        )

    def _setup(self, X: Any, y: Any, task: str) -> None:
        """Fix the task, classes, loss, standardisation and build the network and optimizer."""
        self.task_, self.n_features = task, X.shape[1]
        if task == "classify":
            _, self.classes = encode_labels(y, "y")
            if len(self.classes) < 2:
                raise GpubpError(f"classification needs at least 2 classes, the targets have {len(self.classes)}")
            loss = "ce" if self.loss == "auto" else self.loss
            if loss == "bce" and len(self.classes) != 2:
                raise GpubpError(f"--loss bce needs exactly 2 classes, the targets have {len(self.classes)}")
            self.n_outputs = 1 if loss == "bce" else len(self.classes)
        else:
            if self.loss not in ("auto", "mse"):
                raise GpubpError(f"--loss {self.loss} needs a classification task; regression uses mse")
            loss = "mse"
            self.classes = []
            self.n_outputs = 1 if y.ndim == 1 else y.shape[1]
        self.loss_name = loss
        self.standardizer = Standardizer().fit(X)
        self.net = _build(
            lambda: mlp(
                [self.n_features, *self.hidden, self.n_outputs],
                activation_name=self.activation,
                rng=self.seed,
                backend=self.backend,
                dtype=self.dtype,
            ),
            self.hidden,
        )
        first = self.net.layers[0]
        first.needs_input_grad = False  # nothing upstream of the first layer learns
        self.optim = get_optimizer(self.optimizer, self.net.parameters(), self.lr, self.weight_decay)

    def _to_device(self, X: Any) -> Any:
        assert self.standardizer is not None
        return self.backend.asarray(self.standardizer.transform(X), dtype=self._xp_dtype)

    def _targets_to_device(self, y: Any, name: str = "y") -> Any:
        if self.task_ == "regress":
            return self.backend.asarray(y, dtype=self._xp_dtype)
        labels, _ = encode_labels(y, name, classes=self.classes)
        if self.loss_name == "ce":
            return self.backend.asarray(labels, dtype=self.backend.xp.int64)
        if self.loss_name == "bce":
            return self.backend.asarray(labels, dtype=self._xp_dtype)
        return self.backend.asarray(host.eye(len(self.classes))[labels], dtype=self._xp_dtype)  # one-hot for mse

    # -- using a trained model -----------------------------------------------

    def _outputs(self, X: Any) -> Any:
        """Network outputs for host ``X``, on the device."""
        if self.net is None:
            raise GpubpError("the model is not trained yet: call fit first (or gpubp.load a saved one)")
        X = _host_2d(X, "X")
        if X.shape[1] != self.n_features:
            raise GpubpError(f"X has {X.shape[1]} features but the model was trained on {self.n_features}")
        X_dev = self._to_device(X)
        xp = self.backend.xp
        n = X.shape[0]
        parts = [self.net.forward(X_dev[i : min(i + EVAL_CHUNK, n), ...]) for i in range(0, max(n, 1), EVAL_CHUNK)]
        return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

    def predict(self, X: Any) -> Any:
        """Class labels (as in ``classes``) or predicted values, as a host array."""
        out = self._outputs(X)
        if self.task_ == "classify":
            idx = to_host(predicted_classes(out))
            return host.asarray(self.classes, dtype=object if _mixed(self.classes) else None)[idx]
        values = to_host(out)
        return values[:, 0] if values.shape[1] == 1 else values

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, (n, classes), as a host array (classification only)."""
        if self.task_ != "classify":
            raise GpubpError("predict_proba needs a classification model")
        out = self._outputs(X)
        xp = self.backend.xp
        if out.shape[1] == 1:
            from .layers import sigmoid

            p1 = sigmoid(out)
            out = xp.concat([1 - p1, p1], axis=1)
        else:
            out = softmax(out)
        return to_host(out)

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """Metrics on a labelled set: ``accuracy`` and ``loss``, or ``mse``, ``r2`` and ``loss``."""
        if self.net is None:
            raise GpubpError("the model is not trained yet: call fit first (or gpubp.load a saved one)")
        X, y = _host_2d(X, "X"), _host_targets(y, "y")
        if X.shape[1] != self.n_features:
            raise GpubpError(f"X has {X.shape[1]} features but the model was trained on {self.n_features}")
        if y.shape[0] != X.shape[0]:
            raise GpubpError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
        if X.shape[0] == 0:
            raise GpubpError("cannot evaluate on an empty set")
        loss_sum, metric_sum = evaluate_sums(
            self.net, get_loss(self.loss_name), self._to_device(X), self._targets_to_device(y), self.task_
        )
        xp = self.backend.xp
        loss_value, metric_value = (float(v) for v in to_host(xp.stack([loss_sum, metric_sum])))
        n = X.shape[0]
        if self.task_ == "classify":
            return {"accuracy": metric_value / n, "loss": loss_value / n}
        mse = metric_value / y.size
        return {"mse": mse, "r2": r2_score(mse, _target_variance(y)), "loss": loss_value / n}

    # -- saving and loading ----------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Everything but the weights that :func:`load` needs, plus provenance."""
        if self.net is None or self.standardizer is None:
            raise GpubpError("the model is not trained yet: nothing to save")
        lib = self.backend.name if self.backend.name != "numpy" else None
        return {
            "architecture": self.net.config(),
            "hyperparameters": {
                "hidden": list(self.hidden),
                "activation": self.activation,
                "task": self.task,
                "loss": self.loss,
                "optimizer": self.optimizer,
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "batch_size": self.batch_size,
                "max_epochs": self.max_epochs,
                "tol": self.tol,
                "patience": self.patience,
                "val_fraction": self.val_fraction,
                "seed": self.seed,
                "dtype": self.dtype,
            },
            "task": self.task_,
            "loss": self.loss_name,
            "activation": self.activation,
            "classes": self.classes,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "standardizer": self.standardizer.to_dict(),
            "dtype": self.dtype,
            "seed": self.seed,
            "trained_on": {
                "backend": self.backend.name,
                "device": device_name(self.backend.device),
                "fallback_reason": self.backend.reason,
            },
            "versions": {
                "gpubp": __version__,
                "numpy": library_version("numpy"),
                "array_api_compat": array_api_compat.__version__,
                **({lib: library_version(lib)} if lib else {}),
            },
            "history": {
                "epochs_run": len(self.history.epochs) if self.history else 0,
                "best_epoch": self.history.best_epoch if self.history else 0,
                "stopped": self.history.stopped if self.history else "",
            },
        }

    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> None:
        """Write one ``.safetensors`` file: weights plus JSON metadata (``extra`` merged in)."""
        if self.net is None:
            raise GpubpError("the model is not trained yet: nothing to save")
        save_model_file(path, self.net.state_dict(), {**self.metadata(), **(extra or {})})


def load(path: str | os.PathLike[str], backend: Backend | str | None = None, device: Any = None) -> Model:
    """Load a model saved by :meth:`Model.save` onto any backend.

    Parameters
    ----------
    path : str or PathLike
        A ``.safetensors`` file written by gpubp.
    backend, device
        Where to put it; None reads ``GPUBP_BACKEND`` and defaults to ``auto``.
    """
    tensors, meta = load_model_file(path)
    where = os.fspath(path)
    if backend is not None and not isinstance(backend, (str, Backend)):
        raise GpubpError(f"--backend: expected a backend name or a Backend, got {type(backend).__name__}")
    place = resolve(backend if backend is not None else default_backend_name("auto"), device)  # a bad flag: its error
    try:
        hp = meta["hyperparameters"]
        model = Model(**{**hp, "hidden": tuple(hp["hidden"])}, backend=place)
        model.task_, model.loss_name, model.classes = meta["task"], meta["loss"], meta["classes"]
        model.n_features, model.n_outputs = int(meta["n_features"]), int(meta["n_outputs"])
        model.standardizer = Standardizer.from_dict(meta["standardizer"])
        _check_outputs(model)
        model.net = Sequential.from_config(meta["architecture"], backend=model.backend, dtype=model.dtype)
    except GpubpError as exc:  # e.g. "--hidden: ...": the file is at fault, not a flag
        raise GpubpError(f"{where}: model metadata is invalid ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GpubpError(f"{where}: model metadata is incomplete or invalid ({exc!r})") from None
    try:
        model.net.load_state_dict(_network_tensors(tensors))
    except GpubpError as exc:
        raise GpubpError(f"{where}: the weights do not fit the network its metadata describes ({exc})") from None
    weights = [p.shape for _, p in model.net.named_parameters() if len(p.shape) == 2]  # (in, out) per Linear
    if not weights or weights[0][0] != model.n_features or weights[-1][1] != model.n_outputs:
        raise GpubpError(
            f"{where}: model metadata is invalid (n_features {model.n_features} and n_outputs {model.n_outputs} "
            "do not fit the network's weights)"
        )
    for name, value in _network_tensors(tensors).items():
        if value.dtype.kind in "fc" and not host.all(host.isfinite(value)):
            raise GpubpError(f"{where}: tensor {name!r} holds NaN or infinite weights; the model is unusable")
    model.metadata_ = meta
    return model


def _check_outputs(model: Model) -> None:
    """The task, classes, loss and sizes a loaded model records must agree with one another."""
    if model.task_ not in ("classify", "regress"):
        raise GpubpError(f"task {model.task_!r} is neither 'classify' nor 'regress'")
    if not isinstance(model.classes, list):
        raise GpubpError(f"classes must be a list, got {type(model.classes).__name__}")
    assert model.standardizer is not None and model.standardizer.mean is not None
    if len(model.standardizer.mean) != model.n_features:
        raise GpubpError(
            f"the standardizer has {len(model.standardizer.mean)} features, n_features is {model.n_features}"
        )
    if model.task_ == "classify":
        expected = 1 if model.loss_name == "bce" else len(model.classes)
        if len(model.classes) < 2 or model.n_outputs != expected:
            raise GpubpError(
                f"{len(model.classes)} classes and loss {model.loss_name!r} do not fit n_outputs {model.n_outputs}"
            )


def _build(make: Callable[[], Sequential], hidden: tuple[int, ...]) -> Sequential:
    """``make()``, with running out of memory for the weights reported as a too-wide ``--hidden``."""
    try:
        return make()
    except MemoryError:
        sizes = ",".join(str(h) for h in hidden)
        raise GpubpError(f"--hidden {sizes}: not enough memory for the weights of layers this wide") from None


def _network_tensors(tensors: dict[str, Any]) -> dict[str, Any]:
    """The network's weights (``'<layer>.<name>'``) out of a model or checkpoint file's tensors."""
    return {name: value for name, value in tensors.items() if name.split(".", 1)[0].isdigit()}


def _probe_parameter(backend: Backend, dtype: Any) -> Any:
    from .layers import Parameter

    return Parameter(backend.xp.zeros(1, dtype=dtype, device=backend.device))


def _as_host(a: Any, name: str) -> Any:
    """``a`` as a host NumPy array; nested lists of unequal lengths are an error naming ``name``."""
    if isinstance(a, host.ndarray):
        return a
    if array_api_compat.is_array_api_obj(a):
        return to_host(a)
    try:
        return host.asarray(a)
    except ValueError:
        raise GpubpError(f"{name}: rows of different lengths, not a rectangular array") from None


def _host_2d(X: Any, name: str) -> Any:
    X = _as_host(X, name)
    if X.ndim != 2:
        raise GpubpError(f"{name} must be 2-D (samples, features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise GpubpError(f"{name} must be numeric, got dtype {X.dtype}")
    X = X.astype(host.float64)
    bad = ~host.isfinite(X)
    if bad.any():
        row, col = (int(i) for i in host.argwhere(bad)[0])
        raise GpubpError(f"{name} has a non-finite value ({X[row, col]}) at row {row}, column {col}")
    return X


def _host_targets(y: Any, name: str) -> Any:
    if y is None:
        raise GpubpError(f"{name} is missing")
    y = _as_host(y, name)
    if y.dtype.kind == "O":  # e.g. labels 1 and "a" together: read them all as text, as from a CSV file
        y = host.asarray(y.tolist())
        if y.dtype.kind not in "biufU":
            raise GpubpError(f"{name} holds Python objects (dtype {y.dtype}); give numbers or text labels")
    if y.ndim not in (1, 2):
        raise GpubpError(f"{name} must be 1-D (or 2-D for several regression targets), got shape {y.shape}")
    if host.issubdtype(y.dtype, host.floating):
        bad = ~host.isfinite(y)
        if bad.any():
            raise GpubpError(f"{name} has a non-finite value at row {int(host.argwhere(bad)[0][0])}")
    return y


def _target_variance(y: Any) -> float:
    """Mean of the per-column variances, so R^2 = 1 - SSE / SST over all targets (not one pooled variance)."""
    return float(host.mean(host.var(y, axis=0)))


def _mixed(classes: list[Any]) -> bool:
    return len({type(c) for c in classes}) > 1 or any(isinstance(c, str) for c in classes)
