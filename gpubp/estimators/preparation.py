"""From data on the device to a network ready to train: where, the validation rows, the scaling, the network.

A mixin of :class:`~gpubp.estimators.base.BaseMLP`: the steps ``fit`` takes
between validating its inputs and training, each a method, so ``base.py``
reads as the fit's outline. Data parallel (:mod:`gpubp.distributed`), each
step agrees across processes what must be the same on all of them.
"""

from __future__ import annotations

from typing import Any

from .. import distributed
from ..backend import Backend, backend_of, default_backend_name, host, namespace, resolve
from ..data.split import split_indices
from ..errors import GpubpError, ParameterError
from ..io import physical_memory
from ..network import mlp
from ..step import Validation
from . import inputs


class Preparation:
    """Where to train, which rows validate, how features are scaled, and the network (mixin of BaseMLP)."""

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


def _check_size(sizes: list[int], p: dict[str, Any]) -> None:
    """Refuse a network whose weights alone would not fit in this machine's memory, before allocating."""
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    need = count * (4 if p["dtype"] == "float32" else 8) * 2  # the weights and their gradients, at least
    have = physical_memory()
    if have is not None and need > have:  # the system cannot tell: let the allocation decide
        raise ParameterError(
            "hidden_layer_sizes",
            f"not enough memory: {count:,} weights and their gradients need {need / 2**30:.1f} GiB, more than this "
            f"machine's {have / 2**30:.1f} GiB",
            p["hidden_layer_sizes"],
        )
