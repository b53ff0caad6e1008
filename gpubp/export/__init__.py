"""Serving a trained network: ONNX (graph with standardisation and head).

``onnx`` is not imported until an export runs.
"""

from __future__ import annotations

from .onnx import DEFAULT_OPSET, INPUT, LABEL, PROBABILITIES, VALUE, onnx_model, to_onnx
from .spec import HEADS

__all__ = [
    "DEFAULT_OPSET",
    "HEADS",
    "INPUT",
    "LABEL",
    "PROBABILITIES",
    "VALUE",
    "onnx_model",
    "to_onnx",
]
