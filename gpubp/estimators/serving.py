"""A fitted estimator leaves the process: model files, pickles, ONNX graphs and PyTorch modules.

A mixin of :class:`~gpubp.estimators.base.BaseMLP`. Model files and pickles
share one plain-data form (:mod:`gpubp.estimators.state`): pickling never
copies device arrays, and unpickling resolves the backend again, so a model
pickled on a GPU machine unpickles on a CPU one. The exports hand
:mod:`gpubp.export` the network, its head, classes and standardisation.
"""

from __future__ import annotations

import os
from typing import Any

from . import inputs
from .state import export_state, import_state, write_model

#: What pickling rebuilds instead of copying: device arrays and the objects holding them.
_DEVICE_STATE = ("_net", "_trainer", "_backend", "_std", "_classes_dev")


class Serving:
    """save, pickling, to_onnx, to_torch and save_torch (mixin of BaseMLP)."""

    def _export_args(self) -> dict[str, Any]:
        """What the exports need besides the network: the head, the classes and the standardisation."""
        self._require_fitted()
        multilabel = self.out_activation_ == "logistic" and self.n_outputs_ > 1
        classes = None if self._kind == "regressor" or multilabel else inputs.to_host(self.classes_)  # keeps the dtype
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

    def save(
        self, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None, checkpoint: bool = False
    ) -> None:
        """Write the fitted model to one ``.safetensors`` file (weights + JSON metadata, no pickle).

        ``checkpoint`` adds the training state (optimizer, best weights,
        generator, a part-done epoch) so :func:`gpubp.load` and
        ``fit(..., hooks=FitHooks(resume=True))`` continue where it stopped.
        ``extra`` is stored as more metadata (the command records its data there).
        """
        self._require_fitted()
        write_model(self, path, extra=extra, checkpoint=checkpoint)

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
