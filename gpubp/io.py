"""Model files as data, never code: one ``.safetensors`` file per model.

A model file holds named host arrays (the tensors) and one JSON document (the
metadata: configuration, training settings, history). Both are plain data:
loading parses a length-prefixed JSON header and copies raw little-endian
bytes, so nothing in a file is ever unpickled or executed.

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
from typing import Any

import safetensors
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


def load_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a model file written by :func:`save_model_file`.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file with gpubp metadata.

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
        gpubp model, another format version, or metadata that is not JSON.
    """
    path = os.fspath(path)
    data = _read(path)
    try:
        flat = safetensors.deserialize(data)
    except Exception as e:  # SafetensorError, or anything else the parser raises on bad bytes
        raise GpubpError(f"{path}: not a safetensors file ({_why_not_safetensors(data, e)})") from None
    metadata = _gpubp_metadata(path, data)
    tensors = {}
    for name, info in flat:
        if info["dtype"] not in DTYPES:
            raise GpubpError(f"{path}: tensor {name!r} has dtype {info['dtype']}, which gpubp does not load")
        dtype = host.dtype(DTYPES[info["dtype"]])
        stored = host.frombuffer(info["data"], dtype=dtype.newbyteorder("<")).reshape(info["shape"])
        tensors[name] = stored.astype(dtype, copy=True)  # native byte order, writeable, owned
    return tensors, metadata


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


def _read(path: str) -> bytes:
    """The file's bytes; a one-line error for anything that is not a plausible model file."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise GpubpError(f"{path}: is a folder, not a model file")
        if not stat.S_ISREG(mode):  # a pipe or a device could be read forever
            raise GpubpError(f"{path}: not a regular file, so not a model file")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise GpubpError(f"{path}: no such model file") from None
    except OSError as e:
        raise GpubpError(f"{path}: cannot read model file: {_reason(e)}") from None
    if not data:
        raise GpubpError(f"{path}: empty file, not a model file")
    return data


def _gpubp_metadata(path: str, data: bytes) -> dict[str, Any]:
    """The gpubp metadata dict from a header safetensors has already validated."""
    size = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError) as e:  # not expected once safetensors accepted the header
        raise GpubpError(f"{path}: corrupted safetensors header ({one_line(e)})") from None
    info = header.get("__metadata__") or {}
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
        metadata = json.loads(info["gpubp"], parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise GpubpError(f"{path}: model metadata is not valid JSON ({one_line(e)})") from None
    if not isinstance(metadata, dict):
        raise GpubpError(f"{path}: model metadata is a JSON {type(metadata).__name__}, not an object")
    return metadata


def _why_not_safetensors(data: bytes, error: Exception) -> str:
    """Explain why safetensors refused ``data``: a look-alike format, a cut-off file, or its own words."""
    what = next((what for magic, what in _LOOKALIKES if data.startswith(magic)), None)
    if what:
        return what
    if len(data) < 8:
        return f"truncated: {len(data)} bytes, too short to hold a header"
    size = int.from_bytes(data[:8], "little")
    needed = 8 + size
    with contextlib.suppress(Exception):  # best effort: the header may be garbage too
        entries = json.loads(data[8:needed]).items()
        needed += max((t["data_offsets"][1] for k, t in entries if k != "__metadata__"), default=0)
    if needed > len(data) and size < 2**27:  # a plausible header length: cut off, not garbage
        return f"truncated: {len(data)} bytes, the header promises {needed}"
    head = data[:64].decode("utf-8", errors="replace").rstrip("\ufffd")  # a character cut at byte 64 is fine
    if head and "\ufffd" not in head and all(c.isprintable() or c in "\r\n\t" for c in head):
        first = head.splitlines()[0][:40] if head.strip() else head
        return f"it is text, starting {first!r}; a model file starts with a binary header length"
    return one_line(error).removeprefix("Error while deserializing: ")


def _refuse_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON, and gpubp never writes them."""
    raise ValueError(f"{name} is not valid JSON")


# ----------------------------------------------------------------------------- messages


def _reason(e: OSError) -> str:
    """An OSError's reason without the temporary file's name."""
    return (e.strerror or str(e)).rstrip(".")
