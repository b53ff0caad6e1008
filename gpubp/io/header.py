"""A model file's header, judged before anything else is read: the format's constants and limits, opening the
file, and every check of the length-prefixed JSON header (its size, each tensor's entry and byte range, the
gpubp metadata), each refusal one line that says what the file is instead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, NoReturn

from ..errors import GpubpError, one_line

FORMAT = "gpubp-model"
FORMAT_VERSION = 1

#: safetensors dtype code -> NumPy dtype name: the dtypes a model file may hold.
DTYPES: dict[str, str] = {
    "F64": "float64", "F32": "float32", "F16": "float16", "C64": "complex64",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}  # fmt: skip

#: safetensors dtype code -> bits per element, for every dtype the format defines (gpubp loads those in DTYPES).
_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}  # fmt: skip

#: The most dimensions a tensor may have: NumPy's limit is 64 (32 before NumPy 2); gpubp's tensors have one or two.
MAX_DIMS = 32

#: The most bytes a tensor's shape may span, counting its zero-length dimensions as one: beyond this no array
#: can be allocated (NumPy refuses ``(0, 2**62)`` as surely as ``(2**62,)``), whatever the data offsets say.
MAX_SHAPE_BYTES = 1 << 62

#: The largest JSON header read: gpubp's is a few kilobytes (the settings, the history); safetensors allows 100 MB.
MAX_HEADER_BYTES = 64 << 20

#: The default cap on a model file's tensor data (see :func:`default_max_bytes`): 4 GiB holds a billion
#: float32 parameters, or a 250-million-parameter float32 network with its Adam state, far beyond what
#: gpubp's MLPs reach, and still less than a small machine's memory.
MAX_MODEL_BYTES = 4 << 30

#: Leading bytes of files often mistaken for model files, to explain a refusal (never to decide one:
#: a valid header length can start with 0x80).
_LOOKALIKES = (
    (b"\x80", "it looks like a Python pickle, which gpubp never loads"),
    (b"PK\x03\x04", "it looks like a zip archive (torch.save or .npz), which gpubp never loads"),
    (b"\x93NUMPY", "it looks like a NumPy .npy file, which gpubp never loads"),
    (b"\x89PNG", "it is a PNG image"),
)


def available_memory() -> int:
    """Bytes of memory this process could still allocate, as the system reports it (8 GiB where it cannot tell)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def physical_memory() -> int | None:
    """Bytes of memory this machine has (None where the system cannot tell)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_max_bytes() -> int:
    """The default ``max_bytes``: :data:`MAX_MODEL_BYTES`, or half the available memory if that is less."""
    return min(MAX_MODEL_BYTES, available_memory() // 2)


@dataclass(frozen=True)
class _Tensor:
    code: str  # the safetensors dtype code
    shape: tuple[int, ...]
    begin: int  # offsets into the data section
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class _Header:
    tensors: dict[str, _Tensor]  # in the order of their bytes
    metadata: dict[str, Any]
    start: int  # where the data section begins in the file


@contextlib.contextmanager
def _open(path: str) -> Iterator[tuple[BinaryIO, int]]:
    """The model file opened for reading, and its size; a one-line error for anything that is not a regular file."""
    try:  # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever (it has no effect on a file)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise GpubpError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise GpubpError(f"{path}: is a folder, not a model file") from None
    except OSError as e:
        raise GpubpError(f"{path}: cannot read model file: {_reason(e)}") from None
    except ValueError:  # a NUL character in the path
        raise GpubpError(f"{path!r}: not a file name (it holds a NUL character)") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device could be read forever
        os.close(fd)
        what = "is a folder," if stat.S_ISDIR(info.st_mode) else "not a regular file, so"
        raise GpubpError(f"{path}: {what} not a model file")
    with open(fd, "rb") as f:
        if info.st_size == 0:
            raise GpubpError(f"{path}: empty file, not a model file")
        try:
            yield f, info.st_size
        except OSError as e:
            raise GpubpError(f"{path}: cannot read model file: {_reason(e)}") from None


def _header(path: str, f: BinaryIO, size: int, max_bytes: int | None) -> _Header:
    """Read and check the header: length, JSON, each tensor's entry, the byte ranges, the size cap, the metadata."""
    head = f.read(64)
    if size < 8:
        _not_safetensors(path, head, f"truncated: {size} bytes, too short to hold a header", truncated=True)
    length = int.from_bytes(head[:8], "little")
    if length > MAX_HEADER_BYTES:
        _not_safetensors(path, head, f"a header of {length} bytes; a model file's is at most {MAX_HEADER_BYTES}")
    if 8 + length > size:
        _not_safetensors(path, head, f"truncated: {size} bytes, the header promises {8 + length}", truncated=True)
    f.seek(8)
    try:
        header = json.loads(f.read(length).decode("utf-8"), object_pairs_hook=_unique)
    except _Duplicate as e:
        _not_safetensors(path, head, f"the name {e.args[0]!r} appears twice in the header, which the format forbids")
    except (ValueError, RecursionError, MemoryError) as e:  # bad UTF-8 or JSON, nested too deep, too large
        _not_safetensors(
            path, head, f"corrupted header: {one_line(e) if not isinstance(e, MemoryError) else 'too large'}"
        )
    if not isinstance(header, dict):
        _not_safetensors(path, head, f"the header is a JSON {type(header).__name__}, not an object")
    tensors = {}
    for name, entry in header.items():
        if name != "__metadata__":
            problem, tensor = _tensor(entry)
            if problem:
                _not_safetensors(path, head, f"tensor {name!r}: {problem}")
            tensors[name] = tensor
    tensors = dict(sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)))
    data = 0
    for name, t in tensors.items():
        if t.begin != data:
            what = "overlaps the tensor before it" if t.begin < data else f"leaves a gap before byte {t.begin}"
            _not_safetensors(path, head, f"tensor {name!r} {what}")
        data = t.end
    if 8 + length + data > size:
        _not_safetensors(
            path, head, f"truncated: {size} bytes, the header promises {8 + length + data}", truncated=True
        )
    if 8 + length + data < size:
        _not_safetensors(path, head, f"{size - 8 - length - data} bytes after the last tensor")
    cap = default_max_bytes() if max_bytes is None else max_bytes
    if data > cap:
        raise GpubpError(
            f"{path}: holds {data / 2**30:.2f} GiB of tensors, more than the {cap / 2**30:.2f} GiB "
            "a model file may take here (max_bytes)"
        )
    metadata = _gpubp_metadata(path, header.get("__metadata__"))
    for name, t in tensors.items():
        if t.code not in DTYPES:
            raise GpubpError(f"{path}: tensor {name!r} has dtype {t.code}, which gpubp does not load")
    return _Header(tensors, metadata, 8 + length)


def _tensor(entry: Any) -> tuple[str | None, Any]:
    """(None, the tensor) for a well-formed header entry, else (what is wrong, None)."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return "an entry needs exactly dtype, shape and data_offsets", None
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _BITS:
        return f"unknown dtype {code!r}", None
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        return f"shape {shape!r} is not a list of sizes", None
    if len(shape) > MAX_DIMS:
        return f"shape has {len(shape)} dimensions; a model file's tensors have at most {MAX_DIMS}", None
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)):
        return f"data_offsets {offsets!r} is not a pair of byte offsets", None
    begin, end = offsets
    if not 0 <= begin <= end:
        return f"data_offsets {offsets!r} is not a byte range", None
    need = -(-math.prod(shape) * _BITS[code] // 8)
    if need != end - begin:
        return f"shape {shape} of {code} needs {need} bytes, its data_offsets span {end - begin}", None
    if math.prod(max(n, 1) for n in shape) * _BITS[code] // 8 > MAX_SHAPE_BYTES:
        return f"shape {shape} is larger than any array can be", None
    return None, _Tensor(code, tuple(shape), begin, end)


class _Duplicate(ValueError):
    """A JSON object names one key twice."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object_pairs_hook: a dict, refusing a key that appears twice."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _gpubp_metadata(path: str, info: Any) -> dict[str, Any]:
    """The gpubp metadata dict from the header's ``__metadata__`` map."""
    info = info or {}
    if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
        raise GpubpError(f"{path}: not a safetensors file (its __metadata__ is not a map of strings)")
    if info.get("format") != FORMAT:
        found = f"format {info['format']!r}" if "format" in info else "no 'format' in its metadata"
        raise GpubpError(f"{path}: a safetensors file, but not a gpubp model ({found})")
    version = info.get("format_version")
    if version != str(FORMAT_VERSION):
        shown = version if isinstance(version, str) and version.isdecimal() else repr(version)
        raise GpubpError(f"{path}: model file format version {shown}, this gpubp reads version {FORMAT_VERSION}")
    if "gpubp" not in info:
        raise GpubpError(f"{path}: gpubp model file without its 'gpubp' metadata")
    try:
        metadata = json.loads(info["gpubp"], parse_constant=_refuse_constant, object_pairs_hook=_unique)
    except _Duplicate as e:
        raise GpubpError(f"{path}: model metadata names {e.args[0]!r} twice") from None
    except (ValueError, RecursionError, MemoryError) as e:
        why = "too large" if isinstance(e, MemoryError) else one_line(e)
        raise GpubpError(f"{path}: model metadata is not valid JSON ({why})") from None
    if not isinstance(metadata, dict):
        raise GpubpError(f"{path}: model metadata is a JSON {type(metadata).__name__}, not an object")
    return metadata


def _not_safetensors(path: str, head: bytes, reason: str, *, truncated: bool = False) -> NoReturn:
    """Refuse a file that is not safetensors, saying what it looks like when that explains more than ``reason``."""
    what = next((what for magic, what in _LOOKALIKES if head.startswith(magic)), None)
    if what is None and not truncated:
        text = head.decode("utf-8", errors="replace").rstrip("\ufffd")  # a character cut at byte 64 is fine
        if text and "\ufffd" not in text and all(c.isprintable() or c in "\r\n\t" for c in text):
            first = text.splitlines()[0][:40] if text.strip() else text
            what = f"it is text, starting {first!r}; a model file starts with a binary header length"
    raise GpubpError(f"{path}: not a safetensors file ({what or reason})")


def _refuse_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON, and gpubp never writes them."""
    raise ValueError(f"{name} is not valid JSON")


def _reason(e: OSError) -> str:
    """An OSError's reason without the temporary file's name."""
    return (e.strerror or str(e)).rstrip(".")
