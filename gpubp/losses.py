"""Losses: ``forward(pred, target)`` returns a scalar array, ``backward()`` returns dL/dpred.

The loss is where the backward pass starts: ``backward`` gives the first factor
of the chain rule, dL/dy_hat, which ``Sequential.backward`` carries back to the
input. Values stay on the device as 0-d arrays; nothing here syncs with the host.
"""

from __future__ import annotations

from typing import Any

from .backend import check_same_device, namespace
from .errors import GpubpError
from .layers import sigmoid


class Loss:
    """Base class: ``forward(pred, target)`` beside ``backward()``."""

    def forward(self, pred: Any, target: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def backward(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, pred: Any, target: Any) -> Any:
        return self.forward(pred, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_pair(pred: Any, target: Any) -> None:
    if type(pred) is not type(target) or pred.device != target.device:
        check_same_device(target, pred, "target", "predictions")


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

    def forward(self, pred: Any, target: Any) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        self._y, self._y_hat = _float_target(pred, target), pred
        self._diff = self._y - pred  # y - y_hat, shape of pred: kept for backward
        return xp.sum(self._diff * self._diff) / _size(self._diff)  # the mean (NumPy's mean call costs 2x sum's)

    def backward(self) -> Any:
        return self._diff * (-2 / _size(self._diff))  # dL/dy_hat = -2 (y - y_hat) / n, shape of pred


def _size(x: Any) -> int:
    n = 1
    for s in x.shape:
        n *= s
    return n


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

    def forward(self, pred: Any, target: Any) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        self._p, self._y = pred, _float_target(pred, target)
        log_p, log_1mp = _clamped_log(pred), _clamped_log(1 - pred)
        return -xp.mean(self._y * log_p + (1 - self._y) * log_1mp)

    def backward(self) -> Any:
        xp = namespace(self._p)
        p, y = self._p, self._y
        return (p - y) / (xp.maximum(p * (1 - p), 1e-12) * _size(p))


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy fused, on logits z.

    L = (1/n) sum [max(z, 0) - z y + log(1 + exp(-|z|))] (stable for any z);
    dL/dz = (sigmoid(z) - y) / n -- the simple output error of the fused pair.
    """

    def forward(self, pred: Any, target: Any) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        self._z, self._y = pred, _float_target(pred, target)
        z = pred
        return xp.mean(xp.maximum(z, 0) - z * self._y + xp.log1p(xp.exp(-xp.abs(z))))

    def backward(self) -> Any:
        return (sigmoid(self._z) - self._y) / _size(self._z)


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
    with log-sum-exp; dL/dz = (softmax(z) - y) / n.
    """

    def forward(self, pred: Any, target: Any) -> Any:
        _check_pair(pred, target)
        xp = namespace(pred)
        if pred.ndim != 2:
            raise GpubpError(f"CrossEntropyLoss: logits must be (n, classes), got shape {tuple(pred.shape)}")
        if target.ndim == 1:
            if xp.isdtype(target.dtype, "real floating"):
                target = xp.astype(target, xp.int64)
            target = one_hot(target, pred.shape[1], pred.dtype)  # (n, C)
        else:
            target = _float_target(pred, target)
        self._z, self._y = pred, target
        self._log_p = log_softmax(pred)  # (n, C)
        return -xp.sum(target * self._log_p) / pred.shape[0]

    def backward(self) -> Any:
        xp = namespace(self._z)
        return (xp.exp(self._log_p) - self._y) / self._z.shape[0]  # (n, C)


#: Loss name -> class (the names the command line accepts).
LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "bce": BCEWithLogitsLoss,
    "bce_probs": BCELoss,
    "ce": CrossEntropyLoss,
}


def get_loss(name: str) -> Loss:
    """A new loss by name; a clear error for an unknown one."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise GpubpError(f"--loss: unknown loss {name!r} (choose from {', '.join(LOSSES)})") from None
