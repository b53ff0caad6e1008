"""``MLPClassifier``: scikit-learn's MLP classifier, trained by gpubp on any backend.

Labels are encoded once, in ``fit``: ``classes_`` keeps them (sorted, as
``numpy.unique`` sorts) and the network learns indices -- softmax over C
outputs for more than two classes, one logistic output for two, one logistic
output per label for a multilabel indicator matrix, as scikit-learn does.
Predictions decode the indices back into ``classes_``.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from ..backend import host, namespace
from ..errors import GpubpError
from ..layers import sigmoid
from ..losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss, softmax
from ..step import Validation
from . import inputs
from .base import BaseMLP


class _Accuracy(Validation):
    """The validation score of a classifier: the (weighted) share of rows classified right."""

    def __init__(self, X: Any, y: Any, weight: Any, softmax_output: bool) -> None:
        super().__init__(X, y, weight)
        self.softmax_output = softmax_output

    def sums(self, out: Any, y: Any, weight: Any) -> Any:
        xp = namespace(out)
        if self.softmax_output:
            right = xp.argmax(out, axis=1) == y  # (n,)
        else:
            right = xp.all((out > 0) == (y > 0.5), axis=1)  # every label right, as accuracy_score
        right = xp.astype(right, out.dtype)
        return xp.reshape(xp.sum(right if weight is None else right * weight), (1,))

    def record(self, sums: Any, total: float) -> dict[str, float]:
        accuracy = float(sums[0]) / total
        return {"val_accuracy": accuracy, "val_score": accuracy}


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on NumPy, CuPy, PyTorch, any Array API.

    The same parameters, defaults, fitted attributes and methods as
    ``sklearn.neural_network.MLPClassifier`` -- change the import, keep the
    script -- plus ``backend``, ``device``, ``dtype`` and ``standardize``.

    {parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted (``arange(n_labels)`` for a multilabel indicator matrix).
    coefs_, intercepts_ : list of arrays
        Weights (fan_in, fan_out) and biases (fan_out,) per layer, on the training device.
    loss_, loss_curve_, best_loss_ : float, list of float, float or None
        The training loss (with the L2 penalty) after the last epoch, per epoch, and its best.
    validation_scores_, best_validation_score_ : list of float or None, float or None
        With ``early_stopping``: validation accuracy per epoch and its best.
    n_iter_, t_ : int
        Epochs run by the last call; training samples seen in all.
    n_features_in_, feature_names_in_ : int, ndarray of str
    n_layers_, n_outputs_, out_activation_ : int, int, str
        ``out_activation_`` is ``'softmax'`` or ``'logistic'``.
    history_ : gpubp.History
        One record per epoch (training and validation loss, validation accuracy, learning rate, seconds).
    feature_mean_, feature_scale_ : ndarray or None
        The input standardisation (``standardize=True``).
    """

    _kind = "classifier"

    # -- labels in ---------------------------------------------------------------

    def _encode(self, y: Any, weight: Any, *, fresh: bool, classes: Any = None) -> Any:
        if inputs.is_device_array(y):
            return self._encode_device(y, weight, fresh=fresh, classes=classes)
        if fresh:
            self._learn_classes(y, classes)
        if self.out_activation_ == "logistic" and self.n_outputs_ > 1:  # a multilabel indicator matrix
            if y.ndim != 2 or y.shape[1] != self.n_outputs_:
                raise GpubpError(f"y must be an indicator matrix with {self.n_outputs_} columns, got shape {y.shape}")
            return y.astype(host.float64)
        index = self._index(y)
        self._check_weighted_classes(index, weight)
        if self.out_activation_ == "softmax":
            return index  # (n,) int64
        return (index == 1).astype(host.float64).reshape(-1, 1)  # (n, 1): the second class is the positive one

    def _learn_classes(self, y: Any, classes: Any) -> None:
        """classes_, n_outputs_ and out_activation_ from the labels (or partial_fit's ``classes``)."""
        if y.ndim == 2:
            if type_of_target(y) != "multilabel-indicator":
                raise GpubpError(f"y of shape {y.shape} is not a multilabel indicator matrix of 0 and 1")
            self.classes_ = host.arange(y.shape[1])
            self.n_outputs_, self.out_activation_ = int(y.shape[1]), "logistic"
            return
        if classes is None:
            check_classification_targets_gpubp(y)
        with inputs.gpubp_errors():  # scikit-learn's classes_: sorted, and text labels as a str array (not object)
            classes = unique_labels(host.asarray(y if classes is None else classes))
        if len(classes) < 2:
            raise GpubpError(
                f"y has only one class ({classes[0].item() if len(classes) else 'none'!r}); "
                "classification needs at least two classes"
            )
        self.classes_ = classes
        self.n_outputs_ = 1 if len(classes) == 2 else len(classes)
        self.out_activation_ = "logistic" if len(classes) == 2 else "softmax"

    def _index(self, y: Any) -> Any:
        """Host labels -> int64 positions in classes_; a label not among them is an error."""
        labels = host.asarray(y)
        try:
            index = host.clip(host.searchsorted(self.classes_, labels), 0, len(self.classes_) - 1)
            unknown = self.classes_[index] != labels
        except (TypeError, ValueError):
            unknown = host.ones(len(labels), dtype=bool)
        if unknown.any():
            i = int(host.argmax(unknown))
            raise GpubpError(
                f"y has classes not in classes_: row {i} has label {labels[i].item()!r}, the model knows "
                f"{', '.join(str(c) for c in self.classes_.tolist())}"
            )
        return index.astype(host.int64)

    def _check_weighted_classes(self, index: Any, weight: Any) -> None:
        if weight is None or inputs.is_device_array(weight):
            return
        present = host.unique(index[weight > 0])
        if len(present) < 2:
            raise GpubpError("only one class has positive sample weight; classification needs at least two classes")

    def _encode_device(self, y: Any, weight: Any, *, fresh: bool, classes: Any) -> Any:
        """Labels that are a device array: encoded where they are (numeric labels only)."""
        xp = namespace(y)
        if y.ndim == 2:
            if fresh:
                self.classes_ = xp.arange(y.shape[1], device=y.device)
                self.n_outputs_, self.out_activation_ = int(y.shape[1]), "logistic"
            return xp.astype(y, xp.float64 if y.dtype == xp.float64 else xp.float32)
        if xp.isdtype(y.dtype, "real floating") and not inputs.holds(xp.all(y == xp.floor(y))):
            raise GpubpError("Unknown label type: continuous. Maybe you are trying to fit a classifier, which "
                             "expects discrete classes on a regression target with continuous values.")  # fmt: skip
        if fresh:
            values = xp.unique_values(y) if classes is None else xp.unique_values(xp.asarray(classes, device=y.device))
            if values.shape[0] < 2:
                raise GpubpError("y has only one class; classification needs at least two classes")
            self.classes_ = values
            self.n_outputs_ = 1 if values.shape[0] == 2 else int(values.shape[0])
            self.out_activation_ = "logistic" if values.shape[0] == 2 else "softmax"
        known = self._classes_on(y)
        index = xp.searchsorted(known, y)
        index = xp.clip(index, 0, known.shape[0] - 1)
        if not inputs.holds(xp.all(xp.take(known, index) == y)):
            raise GpubpError("y has classes not in classes_")
        if self.out_activation_ == "softmax":
            return xp.astype(index, xp.int64)
        return xp.reshape(xp.astype(index == 1, xp.float32), (-1, 1))

    def _classes_on(self, like: Any) -> Any:
        """classes_ as an array of ``like``'s library and device (cached for the model's own device)."""
        xp = namespace(like)
        if namespace(self.classes_) is xp and self.classes_.device == like.device:
            return self.classes_
        return inputs.to_device(self.classes_, inputs.backend_of(like), self.classes_.dtype)

    def _stratify_labels(self, y_dev: Any) -> Any:
        if self.out_activation_ == "logistic" and self.n_outputs_ > 1:
            return None  # scikit-learn does not stratify multilabel targets either
        return inputs.to_host(y_dev).reshape(-1)

    def _loss(self) -> Loss:
        return CrossEntropyLoss() if self.out_activation_ == "softmax" else BCEWithLogitsLoss(sum_outputs=True)

    def _validation(self, X: Any, y: Any, weight: Any) -> Any:
        return _Accuracy(X, y, weight, self.out_activation_ == "softmax")

    # -- predictions out ---------------------------------------------------------------

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over ``X, y``; ``classes`` (every label there will be) is needed on the first call."""
        if "_net" not in self.__dict__ and classes is None and getattr(y, "ndim", 1) != 2:
            raise GpubpError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, hooks=None, classes=classes)

    def _probabilities(self, out: Any) -> Any:
        xp = namespace(out)
        if self.out_activation_ == "softmax":
            return softmax(out)  # (n, C)
        p = sigmoid(out)
        if self.n_outputs_ == 1:
            return xp.concat([1 - p, p], axis=1)  # (n, 2)
        return p  # (n, labels)

    def predict(self, X: Any) -> Any:
        """Class labels (from ``classes_``) for each row, in the library of ``X``."""
        out, X = self._outputs(X)
        xp = namespace(out)
        if self.out_activation_ == "logistic" and self.n_outputs_ > 1:
            return inputs.like(xp.astype(out > 0, xp.int64), X)
        index = xp.argmax(out, axis=1) if self.out_activation_ == "softmax" else xp.astype(out[:, 0] > 0, xp.int64)
        if isinstance(self.classes_, host.ndarray) and self.classes_.dtype.kind not in "biuf":
            return self.classes_[inputs.to_host(index)]  # text labels live on the host
        return inputs.like(xp.take(self._classes_on(out), index), X)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, (n, n_classes), ordered as ``classes_``, in the library of ``X``."""
        out, X = self._outputs(X)
        return inputs.like(self._probabilities(out), X)

    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        return namespace(proba).log(proba)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy (weighted by ``sample_weight``); on the device for device arrays."""
        if not inputs.is_device_array(X):
            return super().score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        xp = namespace(pred)
        y = inputs.to_device(y, inputs.backend_of(pred), pred.dtype)
        right = xp.astype(pred == y if pred.ndim == 1 else xp.all(pred == y, axis=1), xp.float64)
        if sample_weight is None:
            return float(xp.mean(right))
        w = inputs.to_device(sample_weight, inputs.backend_of(pred), xp.float64)
        return float(xp.sum(right * w) / xp.sum(w))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def check_classification_targets_gpubp(y: Any) -> None:
    """scikit-learn's check that ``y`` holds class labels, raised as a GpubpError."""
    with inputs.gpubp_errors():
        check_classification_targets(y)
