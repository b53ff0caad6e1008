"""gpubp: neural networks trained by hand-written backpropagation, on any Array-API backend.

The same layers, losses and backward pass run on NumPy (CPU), CuPy (NVIDIA GPU),
PyTorch and array-api-strict; :func:`gpubp.backend.resolve` picks the library
and device at the edge, and everything else follows the arrays.

:class:`MLPClassifier` and :class:`MLPRegressor` are scikit-learn's MLP
estimators, trained by gpubp: change the import, keep the script.
"""

from __future__ import annotations

__version__ = "0.2.0"

from .backend import Backend, resolve, to_backend, to_host
from .data import Dataset, load_dataset
from .errors import (
    BackendUnavailableError,
    DeviceMismatchError,
    GpubpError,
    ParameterError,
    TrainingDiverged,
)
from .gradcheck import GradcheckResult, gradcheck
from .init import INITIALIZERS
from .io import load_model_file, save_model_file
from .layers import ACTIVATIONS, Identity, Layer, LeakyReLU, Linear, Parameter, ReLU, Sigmoid, Tanh
from .losses import (
    LOSSES,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HalfMSELoss,
    Loss,
    MSELoss,
    PoissonLoss,
    log_softmax,
    softmax,
)
from .network import Sequential, mlp
from .optim import OPTIMIZERS, SGD, Adam, Optimizer
from .step import train_step
from .train import History, Trainer

#: Names imported on first use: they need scikit-learn, which the math core and the data readers do not.
_LAZY = {
    "MLPClassifier": "estimators",
    "MLPRegressor": "estimators",
    "FitHooks": "estimators",
    "NotFittedError": "estimators",
    "load": "persist",
    "from_torch": "export",
}


def __getattr__(name: str) -> object:
    """Import the estimators (and scikit-learn) only when one is asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gpubp' has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Backend",
    "BackendUnavailableError",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dataset",
    "DeviceMismatchError",
    "FitHooks",
    "GpubpError",
    "GradcheckResult",
    "HalfMSELoss",
    "History",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MLPClassifier",
    "MLPRegressor",
    "MSELoss",
    "NotFittedError",
    "Optimizer",
    "Parameter",
    "ParameterError",
    "PoissonLoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "Trainer",
    "TrainingDiverged",
    "from_torch",
    "gradcheck",
    "load",
    "load_dataset",
    "load_model_file",
    "log_softmax",
    "mlp",
    "resolve",
    "save_model_file",
    "softmax",
    "to_backend",
    "to_host",
    "train_step",
]
