"""Serving a trained network: ONNX (graph with standardisation and head) and PyTorch (state dict, both ways).

Neither ``onnx`` nor ``torch`` is imported until an export that needs it runs.
"""

from __future__ import annotations

from .onnx import DEFAULT_OPSET, INPUT, LABEL, PROBABILITIES, VALUE, onnx_model, to_onnx
from .spec import HEADS
from .torch import from_torch, save_torch, to_torch, torch_source, torch_state_dict

__all__ = [
    "DEFAULT_OPSET",
    "HEADS",
    "INPUT",
    "LABEL",
    "PROBABILITIES",
    "VALUE",
    "from_torch",
    "onnx_model",
    "save_torch",
    "to_onnx",
    "to_torch",
    "torch_source",
    "torch_state_dict",
]
