"""``MLPRegressor``: scikit-learn's MLP regressor, trained by gpubp on any backend.

The network's outputs are the predictions (``loss='squared_error'``) or their
logarithm (``loss='poisson'``: predictions are exp of the output, targets must
be >= 0). Targets are not rescaled, as in scikit-learn.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import RegressorMixin
from sklearn.utils.metaestimators import available_if

from ..backend import backend_of, host, namespace, to_host
from ..errors import GpubpError
from ..losses import HalfMSELoss, Loss, PoissonLoss
from ..step import Validation
from . import inputs
from .base import BaseMLP


class _R2(Validation):
    """The validation score of a regressor: R^2, averaged over the outputs (scikit-learn's r2_score)."""

    def __init__(self, X: Any, y: Any, weight: Any, exp_output: bool) -> None:
        super().__init__(X, y, weight)
        self.exp_output = exp_output
        xp = namespace(y)
        Y = _columns(y)  # (n, t)
        w = None if weight is None else xp.reshape(weight, (-1, 1))
        if Y.shape[0] == 0:  # a process holding none of the set (data parallel): share() sets it
            self.total_sq = host.zeros(Y.shape[1])
            return
        mean = xp.mean(Y, axis=0) if w is None else xp.sum(w * Y, axis=0) / xp.sum(w)
        dev = (Y - mean) ** 2
        self.total_sq = to_host(xp.sum(dev if w is None else w * dev, axis=0))  # (t,): read once, at the start

    def share(self, total: Any) -> None:
        """The set is spread over processes: the total sum of squares around the whole set's mean."""
        xp = namespace(self.y)
        Y = _columns(xp.astype(self.y, self.X.dtype))  # (n, t)
        w = xp.ones((Y.shape[0], 1), dtype=Y.dtype, device=Y.device) if self.weight is None else self.weight
        w = xp.reshape(xp.astype(w, Y.dtype), (-1, 1))
        sums = total(to_host(xp.concat([xp.sum(w, axis=0), xp.sum(w * Y, axis=0)])))  # [weight, (t,) sums]
        mean = backend_of(Y).asarray(sums[1:] / sums[0], dtype=Y.dtype)
        self.total_sq = total(to_host(xp.sum(w * (Y - mean) ** 2, axis=0)))

    def sums(self, out: Any, y: Any, weight: Any) -> Any:
        xp = namespace(out)
        pred = xp.exp(out) if self.exp_output else out
        Y = xp.reshape(xp.astype(y, out.dtype), pred.shape)
        sq = (Y - pred) ** 2
        return xp.sum(sq if weight is None else sq * xp.reshape(weight, (-1, 1)), axis=0)  # (t,)

    def record(self, sums: Any, total: float) -> dict[str, float]:
        scores = []
        for sse, sst in zip(sums.tolist(), self.total_sq.tolist(), strict=True):
            scores.append(1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else 0.0))
        r2 = sum(scores) / len(scores)
        return {"val_mse": float(host.sum(sums)) / (total * len(scores)), "val_r2": r2, "val_score": r2}


def _columns(y: Any) -> Any:
    """Targets as (n, t): one column for 1-D targets. Not ``reshape(y, (n, -1))``: with no rows (a process
    holding none of a set) -1 is ambiguous and NumPy refuses it."""
    return y if y.ndim == 2 else namespace(y).reshape(y, (y.shape[0], 1))


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on NumPy, CuPy, PyTorch, any Array API.

    The same parameters, defaults, fitted attributes and methods as
    ``sklearn.neural_network.MLPRegressor`` -- change the import, keep the
    script -- plus ``backend``, ``device``, ``dtype`` and ``standardize``.

    {parameters}

    Attributes
    ----------
    coefs_, intercepts_ : list of arrays
        Weights (fan_in, fan_out) and biases (fan_out,) per layer, on the training device.
    loss_, loss_curve_, best_loss_ : float, list of float, float or None
        The training loss (with the L2 penalty) after the last epoch, per epoch, and its best.
    validation_scores_, best_validation_score_ : list of float or None, float or None
        With ``early_stopping``: validation R^2 per epoch and its best.
    n_iter_, t_ : int
        Epochs run by the last call; training samples seen in all.
    n_features_in_, feature_names_in_ : int, ndarray of str
    n_layers_, n_outputs_, out_activation_ : int, int, str
        ``out_activation_`` is ``'identity'``, or ``'exp'`` for the Poisson loss.
    history_ : gpubp.History
        One record per epoch (training and validation loss, validation R^2 and MSE, learning rate, seconds).
    feature_mean_, feature_scale_ : ndarray or None
        The input standardisation (``standardize=True``).
    """

    _kind = "regressor"

    def _encode(self, y: Any, weight: Any, *, fresh: bool, classes: Any = None) -> Any:
        n_outputs = 1 if y.ndim == 1 else int(y.shape[1])
        if fresh:
            self.n_outputs_ = n_outputs
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif n_outputs != self.n_outputs_:
            raise GpubpError(f"y has {n_outputs} target columns, the model was fitted with {self.n_outputs_}")
        if self.loss == "poisson":
            xp = namespace(y)
            if not inputs.holds(xp.all(y >= 0)):
                raise GpubpError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return y

    def _loss(self) -> Loss:
        return PoissonLoss() if self.out_activation_ == "exp" else HalfMSELoss()

    def _validation(self, X: Any, y: Any, weight: Any) -> Any:
        return _R2(X, y, weight, self.out_activation_ == "exp")

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``X, y``."""
        return self._fit(X, y, sample_weight, incremental=True, hooks=None)

    def _values(self, out: Any) -> Any:
        xp = namespace(out)
        values = xp.exp(out) if self.out_activation_ == "exp" else out
        return values[:, 0] if values.shape[1] == 1 else values

    def predict(self, X: Any) -> Any:
        """Predicted values, (n,) or (n, n_outputs), in the library of ``X``."""
        out, X = self._outputs(X)
        return inputs.like(self._values(out), X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 (averaged over outputs, weighted by ``sample_weight``); on the device for device arrays."""
        if not inputs.is_device_array(X):
            return super().score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        xp = namespace(pred)
        place = backend_of(pred)
        Y = xp.reshape(inputs.to_device(y, place, pred.dtype), (pred.shape[0], -1))
        P = xp.reshape(pred, Y.shape)
        w = None if sample_weight is None else xp.reshape(inputs.to_device(sample_weight, place, pred.dtype), (-1, 1))
        mean = xp.mean(Y, axis=0) if w is None else xp.sum(w * Y, axis=0) / xp.sum(w)
        sse = xp.sum((Y - P) ** 2 if w is None else w * (Y - P) ** 2, axis=0)
        sst = xp.sum((Y - mean) ** 2 if w is None else w * (Y - mean) ** 2, axis=0)
        sums = to_host(xp.stack([sse, sst]))
        scores = [1.0 - a / b if b > 0 else (1.0 if a == 0 else 0.0) for a, b in zip(sums[0], sums[1], strict=True)]
        return float(sum(scores) / len(scores))
