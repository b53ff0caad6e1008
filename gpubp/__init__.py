"""gpubp: neural networks trained by hand-written backpropagation, on any Array-API backend.

The same layers, losses and backward pass run on NumPy (CPU), CuPy (NVIDIA GPU),
PyTorch and array-api-strict; :func:`gpubp.backend.resolve` picks the library
and device at the edge, and everything else follows the arrays.
"""

from __future__ import annotations

from .backend import Backend, resolve, to_backend, to_host
from .datasets import Dataset, load_dataset
from .errors import BackendUnavailableError, DeviceMismatchError, GpubpError, TrainingDiverged
from .gradcheck import GradcheckResult, gradcheck
from .init import INITIALIZERS
from .io import load_model_file, save_model_file
from .layers import ACTIVATIONS, Identity, Layer, LeakyReLU, Linear, Parameter, ReLU, Sigmoid, Tanh
from .losses import LOSSES, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss, log_softmax, softmax
from .network import Sequential, mlp
from .optim import OPTIMIZERS, SGD, Adam, Optimizer
from .train import History, Trainer, train_step

__version__ = "0.1.0"

from .model import Model, load  # noqa: E402  (model.py reads __version__)

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
    "Dataset",
    "History",
    "Identity",
    "Model",
    "Trainer",
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
    "load",
    "load_dataset",
    "load_model_file",
    "save_model_file",
    "train_step",
    "log_softmax",
    "mlp",
    "resolve",
    "softmax",
    "to_backend",
    "to_host",
]
