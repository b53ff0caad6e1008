"""gpubp: neural networks trained by hand-written backpropagation, on any Array-API backend.

The same layers, losses and backward pass run on NumPy (CPU), CuPy (NVIDIA GPU),
PyTorch and array-api-strict; :func:`gpubp.backend.resolve` picks the library
and device at the edge, and everything else follows the arrays.
"""

from __future__ import annotations

from .backend import Backend, resolve, to_backend, to_host
from .errors import BackendUnavailableError, DeviceMismatchError, GpubpError, TrainingDiverged
from .gradcheck import GradcheckResult, gradcheck
from .init import INITIALIZERS
from .layers import ACTIVATIONS, Identity, Layer, LeakyReLU, Linear, Parameter, ReLU, Sigmoid, Tanh
from .losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, log_softmax, softmax
from .network import Sequential, mlp
from .optim import OPTIMIZERS, SGD, Adam, Optimizer

__version__ = "0.1.0"

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
    "DeviceMismatchError",
    "GpubpError",
    "GradcheckResult",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Linear",
    "Loss",
    "MSELoss",
    "Optimizer",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TrainingDiverged",
    "gradcheck",
    "log_softmax",
    "mlp",
    "resolve",
    "softmax",
    "to_backend",
    "to_host",
]
