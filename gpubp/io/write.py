"""Writing files atomically (:func:`write_atomic`: a temporary file beside the target, flushed, renamed over it),
and a model file's bytes (:func:`save_model_file`: tensors and metadata checked before anything is written)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from typing import Any

import safetensors.numpy

from ..backend import host
from ..errors import GpubpError, one_line
from .header import DTYPES, FORMAT, FORMAT_VERSION, _reason


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
    if not path:
        raise GpubpError(f"cannot write {what}: the path is empty (give a file name, e.g. {example})")
    if (b"\0" if isinstance(path, bytes) else "\0") in path:  # os.path.isdir says False, mkstemp a ValueError
        raise GpubpError(f"cannot write {what} {path!r}: not a file name (it holds a NUL character)")
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
