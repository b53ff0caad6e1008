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
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple, NoReturn

import safetensors.numpy

from .backend import host
from .errors import GpubpError, one_line

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


def save_model_file(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Write tensors and metadata to one ``.safetensors`` file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist. An existing file is replaced
        only once the new one is complete on disk (its permissions are kept).
    tensors : dict of str -> numpy.ndarray
        Host arrays of any shape; dtypes float16/32/64, complex64, (u)int8-64
        or bool. Copy device arrays to the host first (``to_host``).
    metadata : dict
        Anything JSON can encode: str keys; dict, list, tuple (read back as
        list), str, int, finite float, bool, None.

    Raises
    ------
    GpubpError
        ``cannot write model file <path>: <reason>`` -- a tensor or metadata
        value cannot be stored, or the folder is missing or unwritable. The
        file previously at ``path`` is then untouched.
    """
    path = os.fspath(path)
    write_atomic(path, _serialize(path, tensors, metadata))


def write_atomic(
    path: str | os.PathLike, data: bytes, *, what: str = "model file", example: str = "model.safetensors"
) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed, renamed into place.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist. An existing file is replaced
        only once the new one is complete on disk (its permissions are kept).
    data : bytes
        The whole content.
    what, example : str
        How messages name the file (``model file``, ``ONNX file``) and an
        example file name for the hint when ``path`` is a folder.

    Raises
    ------
    GpubpError
        ``cannot write <what> <path>: <reason>`` -- the target is a folder or
        not a regular file, or the folder is missing or unwritable. The file
        previously at ``path`` is then untouched and no temporary file is left.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise GpubpError(f"cannot write {what} {path}: it is a folder (give a file name, e.g. {example})")
    if os.path.exists(path) and not os.path.isfile(path):  # the rename would replace a device or a pipe
        raise GpubpError(f"cannot write {what} {path}: not a regular file")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as e:
        reason = _reason(e) if os.path.isdir(directory) else f"folder {directory} does not exist"
        raise GpubpError(f"cannot write {what} {path}: {reason}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, _new_file_mode(path))  # mkstemp's 0600 would hide the file from the group
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # even on KeyboardInterrupt: leave no temporary file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise GpubpError(f"cannot write {what} {path}: {_reason(e)}") from None
        raise
    _fsync_directory(directory)


class TensorInfo(NamedTuple):
    """What a model file's header says of one tensor, before any of it is read."""

    dtype: str  # the NumPy dtype name, e.g. "float32"
    shape: tuple[int, ...]
    nbytes: int


def read_header(
    path: str | os.PathLike, *, max_bytes: int | None = None
) -> tuple[dict[str, TensorInfo], dict[str, Any]]:
    """Each tensor's dtype, shape and size, and the metadata, from a model file's header alone.

    Reads the 8-byte header length and the JSON header (at most
    :data:`MAX_HEADER_BYTES`), checks them as :func:`load_model_file` does, and
    reads no tensor: a caller can judge the shapes (against the network the
    metadata describes, against a size it will allocate) before loading.

    Returns
    -------
    tensors : dict of str -> TensorInfo
        In the order of their bytes in the file.
    metadata : dict
        The gpubp metadata dict.

    Raises
    ------
    GpubpError
        As :func:`load_model_file`.
    """
    path = os.fspath(path)
    with _open(path) as (f, size):
        header = _header(path, f, size, max_bytes)
    return {name: TensorInfo(DTYPES[t.code], t.shape, t.nbytes) for name, t in header.tensors.items()}, header.metadata


def load_model_file(
    path: str | os.PathLike, *, max_bytes: int | None = None, allowed_dtypes: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a model file written by :func:`save_model_file`, judging it from its header first.

    The header is read and checked before any tensor: its size, duplicate
    names (the format forbids them), each tensor's dtype, shape and byte range
    (contiguous, non-overlapping, inside the file, shape x itemsize = extent),
    the total size against ``max_bytes``, and the gpubp metadata. Only then is
    each tensor read, straight into its own array.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file with gpubp metadata.
    max_bytes : int or None
        The most tensor data to read. Default :func:`default_max_bytes`: 4 GiB,
        or half the memory available if that is less.
    allowed_dtypes : iterable of str or None
        NumPy dtype names a tensor may have (e.g. ``{"float32", "float64"}``);
        default: any in :data:`DTYPES`. A tensor of another dtype is refused, not cast.

    Returns
    -------
    tensors : dict of str -> numpy.ndarray
        Writeable host arrays owned by the caller, in their stored dtypes.
    metadata : dict
        The metadata dict, as saved (tuples come back as lists).

    Raises
    ------
    GpubpError
        One line, ``<path>: <what is wrong>``: missing or unreadable file, not a
        safetensors file (empty, truncated, corrupted, a pickle or zip), not a
        gpubp model, another format version, metadata that is not JSON, a
        tensor dtype that is not allowed, or more data than ``max_bytes``.
    """
    path = os.fspath(path)
    allowed = None if allowed_dtypes is None else set(allowed_dtypes)
    with _open(path) as (f, size):
        header = _header(path, f, size, max_bytes)
        if allowed is not None:
            for name, t in header.tensors.items():
                if DTYPES[t.code] not in allowed:
                    raise GpubpError(
                        f"{path}: tensor {name!r} has dtype {DTYPES[t.code]}; expected {', '.join(sorted(allowed))}"
                    )
        tensors = {name: _read_tensor(path, f, header.start + t.begin, t) for name, t in header.tensors.items()}
    return tensors, header.metadata


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


def default_max_bytes() -> int:
    """The default ``max_bytes``: :data:`MAX_MODEL_BYTES`, or half the available memory if that is less."""
    return min(MAX_MODEL_BYTES, available_memory() // 2)


# ----------------------------------------------------------------------------- writing


def _serialize(path: str, tensors: dict[str, Any], metadata: dict[str, Any]) -> bytes:
    """Check tensors and metadata, and return the whole file's bytes."""
    if not isinstance(tensors, dict):
        raise GpubpError(f"cannot write model file {path}: tensors must be a dict, not {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise GpubpError(f"cannot write model file {path}: {name!r} cannot name a tensor")
        if not isinstance(value, (host.ndarray, host.generic)):  # a NumPy scalar is stored as a 0-d array
            raise GpubpError(
                f"cannot write model file {path}: tensor {name!r} is a {type(value).__name__}, "
                "not a host NumPy array (copy it with to_host first)"
            )
        if value.dtype.name not in DTYPES.values():
            raise GpubpError(
                f"cannot write model file {path}: tensor {name!r} has dtype {value.dtype}, "
                f"which a model file cannot hold (use one of {', '.join(DTYPES.values())})"
            )
        arrays[name] = host.asarray(value, dtype=value.dtype.newbyteorder("<"), order="C")  # the bytes to store
    if not isinstance(metadata, dict):
        raise GpubpError(f"cannot write model file {path}: metadata must be a dict, not {type(metadata).__name__}")
    problem = _json_problem(metadata, "metadata", set())
    if problem:
        raise GpubpError(f"cannot write model file {path}: {problem}")
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "gpubp": json.dumps(metadata, allow_nan=False)}
    try:
        return safetensors.numpy.save(arrays, metadata=header)
    except Exception as e:  # defensive: the checks above should leave nothing to refuse
        raise GpubpError(f"cannot write model file {path}: {one_line(e)}") from None


def _json_problem(value: Any, where: str, open_containers: set[int]) -> str | None:
    """What keeps ``value`` from a faithful JSON round trip, naming where; None if nothing."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r}, which JSON cannot encode"
    if not isinstance(value, (dict, list, tuple)):
        return f"{where} is a {type(value).__name__}, which JSON cannot encode"
    if id(value) in open_containers:
        return f"{where} contains itself"
    open_containers.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r}; JSON keys must be strings"
            problem = _json_problem(item, f"{where}[{key!r}]", open_containers)
            if problem:
                return problem
    else:
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{i}]", open_containers)
            if problem:
                return problem
    open_containers.discard(id(value))
    return None


def _new_file_mode(path: str) -> int:
    """The permissions for the new file: the old file's, else what ``open`` would give."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- reading


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
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise GpubpError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise GpubpError(f"{path}: is a folder, not a model file") from None
    except OSError as e:
        raise GpubpError(f"{path}: cannot read model file: {_reason(e)}") from None
    with f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise GpubpError(f"{path}: is a folder, not a model file")
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device could be read forever
            raise GpubpError(f"{path}: not a regular file, so not a model file")
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
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)):
        return f"data_offsets {offsets!r} is not a pair of byte offsets", None
    begin, end = offsets
    if not 0 <= begin <= end:
        return f"data_offsets {offsets!r} is not a byte range", None
    need = -(-math.prod(shape) * _BITS[code] // 8)
    if need != end - begin:
        return f"shape {shape} of {code} needs {need} bytes, its data_offsets span {end - begin}", None
    return None, _Tensor(code, tuple(shape), begin, end)


def _read_tensor(path: str, f: BinaryIO, offset: int, t: _Tensor) -> Any:
    """One tensor read straight into a new native-order array the caller owns."""
    dtype = host.dtype(DTYPES[t.code])
    out = host.empty(t.shape, dtype=dtype.newbyteorder("<"))  # the stored layout
    f.seek(offset)
    if f.readinto(out.reshape(-1).view(host.uint8)) != t.nbytes:  # type: ignore[attr-defined]
        raise GpubpError(f"{path}: not a safetensors file (truncated while reading: the file changed?)")
    return out.astype(dtype, copy=False)  # native byte order: no copy on a little-endian machine


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


# ----------------------------------------------------------------------------- messages


def _reason(e: OSError) -> str:
    """An OSError's reason without the temporary file's name."""
    return (e.strerror or str(e)).rstrip(".")
