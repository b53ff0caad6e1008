"""Losses: ``forward(pred, target, weight=None)`` returns a scalar array, ``backward()`` returns dL/dpred.

The loss is where the backward pass starts: ``backward`` gives the first factor
of the chain rule, dL/dy_hat, which ``Sequential.backward`` carries back to the
input. Values stay on the device as 0-d arrays; nothing here syncs with the host.

Every loss is a weighted mean over the samples: with per-sample weights w (n,)
the loss is sum_i w_i l_i / sum_i w_i (w = 1 when none is given), where l_i is
sample i's loss. Over a sample's outputs, l_i is the mean (PyTorch's and the
notes' convention) or, where ``sum_outputs`` is set, the sum (scikit-learn's for
its log-loss and Poisson losses).
"""

from __future__ import annotations

from typing import Any

from .backend import check_same_device, namespace
from .errors import GpubpError, ParameterError
from .layers import sigmoid


class Loss:
    """Base class: ``forward(pred, target, weight)`` beside ``backward()``.

    Parameters
    ----------
    sum_outputs : bool
        A sample's loss is the sum over its outputs rather than their mean.
    """

    #: Multiplies the loss and its gradient (1/2 for scikit-learn's squared error).
    factor = 1.0

    def __init__(self, *, sum_outputs: bool = False) -> None:
        self.sum_outputs = bool(sum_outputs)

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def backward(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, pred: Any, target: Any, weight: Any = None) -> Any:
        return self.forward(pred, target, weight)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _reduce(self, elements: Any, pred: Any, weight: Any, outputs: int | None = None) -> Any:
        """The weighted mean over samples of ``elements`` (n, k); keeps what ``_scale`` needs for backward."""
        xp = namespace(pred)
        per_sample = 1 if self.sum_outputs else (_width(pred) if outputs is None else outputs)
        if weight is None:
            self._w, self._denom = None, pred.shape[0] * per_sample / self.factor  # a host number: no sync
            return xp.sum(elements) / self._denom
        _check_pair(pred, weight, "sample weights")
        w = xp.reshape(weight if weight.dtype == pred.dtype else xp.astype(weight, pred.dtype), (-1, 1))  # (n, 1)
        if w.shape[0] != pred.shape[0]:
            raise GpubpError(f"sample weights have {w.shape[0]} rows, predictions {pred.shape[0]}")
        self._w, self._denom = w, xp.sum(w) * (per_sample / self.factor)
        return xp.sum(w * elements) / self._denom

    def _scale(self, dpred: Any, coef: float = 1.0) -> Any:
        """dL/dpred from ``coef`` times the per-element derivative: weighted, divided as the forward divided."""
        if self._w is None:
            return dpred * (coef / self._denom)  # one pass over (n, k)
        return dpred * (self._w * (coef / self._denom))  # (n, 1) weights broadcast over the outputs


def _width(x: Any) -> int:
    return 1 if x.ndim == 1 else int(x.shape[1])


def _is_float(xp: Any, dtype: Any) -> bool:
    """A real floating dtype (cheaper than ``isdtype``, which NumPy spends microseconds on)."""
    return dtype == xp.float32 or dtype == xp.float64


def _check_pair(pred: Any, other: Any, what: str = "target") -> None:
    if type(pred) is not type(other) or pred.device != other.device:
        check_same_device(other, pred, what, "predictions")


def _float_target(pred: Any, target: Any) -> Any:
    """The target in the prediction's float dtype, with the same shape (``(n,)`` -> ``(n, 1)``)."""
    xp = namespace(pred)
    if target.ndim == 1 and pred.ndim == 2 and pred.shape[1] == 1:
        target = xp.reshape(target, (-1, 1))
    if target.shape != pred.shape:
        raise GpubpError(f"target shape {tuple(target.shape)} does not match predictions {tuple(pred.shape)}")
    return target if target.dtype == pred.dtype else xp.astype(target, pred.dtype)


class MSELoss(Loss):
    """Mean squared error, exactly the notes' formula.

    L = (1/n) sum_i (y_i - y_hat_i)^2 over all n elements of the batch, and its
    exact derivative dL/dy_hat = -2 (y - y_hat) / n. (The notes print
    -2 (y - y_hat) without the 1/n; that is the derivative of the *sum*, not of
    the mean they define, so we keep the 1/n: it also makes the learning rate
    independent of the batch size.)
    """

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:
        _check_pair(pred, target)
        self._diff = _float_target(pred, target) - pred  # y - y_hat, shape of pred: kept for backward
        return self._reduce(self._diff * self._diff, pred, weight)

    def backward(self) -> Any:
        return self._scale(self._diff, -2.0)  # dL/dy_hat = -2 (y - y_hat) / n, shape of pred


class HalfMSELoss(MSELoss):
    """Half the mean squared error, scikit-learn's ``squared_error``: dL/dy_hat = (y_hat - y) / n."""

    factor = 0.5


def _clamped_log(p: Any) -> Any:
    """max(log p, -100), with log 0 = -100 taken without a divide-by-zero warning."""
    xp = namespace(p)
    positive = p > 0
    return xp.where(positive, xp.maximum(xp.log(xp.where(positive, p, 1.0)), -100.0), -100.0)


class BCELoss(Loss):
    """Binary cross-entropy on probabilities p in [0, 1].

    L = -(1/n) sum [y log p + (1 - y) log(1 - p)], with each log clamped at -100
    (as PyTorch does) so p = 0 or 1 gives a large, finite loss. dL/dp =
    (p - y) / (p (1 - p) n), with p (1 - p) floored at 1e-12. Prefer
    :class:`BCEWithLogitsLoss` after a linear output: it is exact and stable.
    """

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:
        _check_pair(pred, target)
        self._p, self._y = pred, _float_target(pred, target)
        elements = -(self._y * _clamped_log(pred) + (1 - self._y) * _clamped_log(1 - pred))
        return self._reduce(elements, pred, weight)

    def backward(self) -> Any:
        xp = namespace(self._p)
        p, y = self._p, self._y
        return self._scale((p - y) / xp.maximum(p * (1 - p), 1e-12))


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy fused, on logits z.

    L = (1/n) sum [max(z, 0) - z y + log(1 + exp(-|z|))] (stable for any z);
    dL/dz = (sigmoid(z) - y) / n -- the simple output error of the fused pair.
    """

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        self._z, self._y = pred, _float_target(pred, target)
        z = pred
        return self._reduce(xp.maximum(z, 0) - z * self._y + xp.log1p(xp.exp(-xp.abs(z))), pred, weight)

    def backward(self) -> Any:
        return self._scale(sigmoid(self._z) - self._y)


class PoissonLoss(Loss):
    """Half the Poisson deviance on the log of the mean, z = log(y_hat): scikit-learn's ``poisson``.

    Per output: exp(z) - y z + y log y - y (zero at exp(z) = y), summed over a
    sample's outputs; dL/dz = exp(z) - y. Targets must be >= 0.
    """

    def __init__(self, *, sum_outputs: bool = True) -> None:
        super().__init__(sum_outputs=sum_outputs)

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        y = _float_target(pred, target)
        self._mu, self._y = xp.exp(pred), y  # the predicted mean
        y_log_y = xp.where(y > 0, y * xp.log(xp.where(y > 0, y, 1.0)), 0.0)
        return self._reduce(self._mu - y * pred + y_log_y - y, pred, weight)

    def backward(self) -> Any:
        return self._scale(self._mu - self._y)


def log_softmax(z: Any, axis: int = -1) -> Any:
    """z - logsumexp(z): stable for logits of any size (the max is taken out first)."""
    xp = namespace(z)
    shifted = z - xp.max(z, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(z: Any, axis: int = -1) -> Any:
    """exp(z) / sum exp(z), computed from the shifted logits."""
    xp = namespace(z)
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def one_hot(labels: Any, num_classes: int, dtype: Any) -> Any:
    """(n,) integer labels -> (n, num_classes) rows of 0 and 1, on the labels' device."""
    xp = namespace(labels)
    classes = xp.arange(num_classes, device=labels.device)  # (C,)
    return xp.astype(labels[:, None] == classes, dtype)  # (n, C)


class CrossEntropyLoss(Loss):
    """Softmax + cross-entropy fused, on logits z of shape (n, C).

    Targets are class indices of shape (n,) or one-hot (or probability) rows
    of shape (n, C). L = -(1/n) sum_i sum_c y_ic log softmax(z_i)_c, computed
    with log-sum-exp; dL/dz = (softmax(z) - y) / n. A sample's loss is the sum
    over its classes, whatever ``sum_outputs`` says.
    """

    def forward(self, pred: Any, target: Any, weight: Any = None) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        if pred.ndim != 2:
            raise GpubpError(f"CrossEntropyLoss: logits must be (n, classes), got shape {tuple(pred.shape)}")
        shifted = pred - xp.max(pred, axis=1, keepdims=True)  # (n, C), at most 0: exp cannot overflow
        e = xp.exp(shifted)
        total = e @ self._ones(pred)  # (n, 1): each row's sum, as a product (faster than a sum along a short axis)
        log_p = shifted - xp.log(total)  # log softmax(z), (n, C)
        self._p = e / total  # softmax(z), for backward
        if target.ndim == 1:  # class indices
            labels = xp.astype(target, xp.int64) if _is_float(xp, target.dtype) else target
            self._y = one_hot(labels, pred.shape[1], pred.dtype)  # (n, C)
        else:
            self._y = _float_target(pred, target)  # one-hot or probability rows
        return self._reduce(-(self._y * log_p), pred, weight, outputs=1)

    def backward(self) -> Any:
        return self._scale(self._p - self._y)  # (n, C)

    def _ones(self, pred: Any) -> Any:
        """A (C, 1) column of ones for ``pred``'s library, device and dtype (kept between batches)."""
        ones = getattr(self, "_ones_cache", None)
        fits = ones is not None and type(ones) is type(pred) and ones.shape[0] == pred.shape[1]
        if not (fits and ones.dtype == pred.dtype and ones.device == pred.device):
            ones = self._ones_cache = namespace(pred).ones((pred.shape[1], 1), dtype=pred.dtype, device=pred.device)
        return ones


#: Loss name -> class (the names :func:`get_loss` accepts).
LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "bce": BCEWithLogitsLoss,
    "bce_probs": BCELoss,
    "ce": CrossEntropyLoss,
    "squared_error": HalfMSELoss,
    "poisson": PoissonLoss,
}


def get_loss(name: str) -> Loss:
    """A new loss by name; a clear error for an unknown one."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}", name) from None
