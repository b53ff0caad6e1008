"""Model files as data, never code: one ``.safetensors`` file per model.

A model file holds named host arrays (the tensors) and one JSON document (the
metadata: configuration, training settings, history). Both are plain data:
loading parses a length-prefixed JSON header and copies raw little-endian
bytes, so nothing in a file is ever unpickled or executed. The header is
judged before anything else is read or allocated (:func:`read_header`).

The safetensors header metadata is a str -> str map; gpubp stores three keys:

    format          "gpubp-model"
    format_version  "1"
    gpubp           the metadata dict as JSON (no NaN or infinity)

Writes are atomic: the bytes go to a temporary file beside the target, are
flushed to disk, then renamed over it, so a crash at any moment leaves either
the old file or the new one, never a mix.

One idea per file:

    write    ``write_atomic`` (any file) and ``save_model_file`` (the model file's bytes)
    header   the format's constants and limits; opening a model file and judging its header
    read     ``read_header`` (the header alone) and ``load_model_file`` (the tensors too)

Every name is importable from here. A test that monkeypatches a helper must
patch it in the file that defines it (e.g. ``gpubp.io.read._read_tensor``).
"""

from __future__ import annotations

from .header import _BITS as _BITS
from .header import _LOOKALIKES as _LOOKALIKES
from .header import (
    DTYPES,
    FORMAT,
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    MAX_MODEL_BYTES,
    available_memory,
    default_max_bytes,
    physical_memory,
)
from .header import _Duplicate as _Duplicate
from .header import _gpubp_metadata as _gpubp_metadata
from .header import _Header as _Header
from .header import _header as _header
from .header import _not_safetensors as _not_safetensors
from .header import _open as _open
from .header import _reason as _reason
from .header import _refuse_constant as _refuse_constant
from .header import _Tensor as _Tensor
from .header import _tensor as _tensor
from .header import _unique as _unique
from .read import TensorInfo, load_model_file, read_header
from .read import _read_tensor as _read_tensor
from .write import _fsync_directory as _fsync_directory
from .write import _json_problem as _json_problem
from .write import _new_file_mode as _new_file_mode
from .write import _serialize as _serialize
from .write import _umask as _umask
from .write import save_model_file, write_atomic

__all__ = [
    "DTYPES",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_MODEL_BYTES",
    "TensorInfo",
    "available_memory",
    "physical_memory",
    "default_max_bytes",
    "load_model_file",
    "read_header",
    "save_model_file",
    "write_atomic",
]
