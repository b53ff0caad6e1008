"""The devices here: their names, how many GPUs there are, each process's GPU, and whether CuPy can run.

Also the two things that only a device does: fail to allocate (:func:`is_out_of_memory`)
and queue work to wait for (:func:`synchronize`).
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailableError, GpubpError, ParameterError, one_line

if TYPE_CHECKING:
    from .resolving import Backend

#: What "cupy unavailable" says when the import fails for want of the package (the install
#: command is :func:`install_hint`'s, said by ``gpubp info`` and by an explicit ``backend='cupy'``).
CUPY_MISSING = "cupy is not installed"


def device_name(device: Any) -> str:
    """A short, stable text for a device: ``cpu``, ``cuda:0``, ``device1``."""
    if device is None:
        return "cpu"
    text = str(device)
    if text.startswith("array_api_strict.Device("):
        return text[len("array_api_strict.Device('") : -2]
    if text.startswith("<CUDA Device "):  # cupy.cuda.Device
        return f"cuda:{device.id}"
    return text


def rank_device(name: str, device: Any, local_rank: int) -> Any:
    """The device of the process with node-local rank ``local_rank`` (data parallel): one GPU per process.

    ``device`` given (an index, ``cuda:N``, ``cpu``) wins, except a bare
    ``cuda``, which means "this process's GPU". Otherwise ``cupy`` and ``auto``
    take GPU ``local_rank`` modulo the GPUs here, ``torch`` stays on its
    default (the CPU), and ``array_api_strict`` takes its emulated device of
    that number (of those with every dtype), so the device logic of several
    GPUs can be tested without any.
    """
    if name == "torch" and str(device) == "cuda":
        count = _torch_gpu_count()
        return f"cuda:{local_rank % count}" if count else device
    if device is not None:
        return device
    if name in ("cupy", "auto"):
        count = _cupy_gpu_count()
        return str(local_rank % count) if count else None
    if name == "array_api_strict":
        info = _import("array_api_strict", "pip install array-api-strict").__array_namespace_info__()
        full = [d for d in info.devices() if {"float64", "int64"} <= set(info.dtypes(device=d))]  # not no_x64
        return full[local_rank % len(full)]
    return None


def _cupy_gpu_count() -> int:
    ok, _ = cupy_status()
    return int(importlib.import_module("cupy").cuda.runtime.getDeviceCount()) if ok else 0


def _torch_gpu_count() -> int:
    try:
        torch = importlib.import_module("torch")
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # not installed, or a CUDA build without a driver
        return 0


def _gpu_index(device: Any) -> int:
    if device is None:
        return 0
    text = str(device).strip().lower()
    if text.startswith("cuda:"):
        text = text[5:]
    if not text.isdigit():
        raise ParameterError("device", "a GPU is named by its index, N or cuda:N", device)
    return int(text)


@cache
def _cupy_status(index: int) -> tuple[bool, str]:
    try:
        cupy = importlib.import_module("cupy")
    except ModuleNotFoundError as exc:
        if exc.name == "cupy":
            return False, CUPY_MISSING
        return False, f"cupy failed to import: {one_line(exc)}"
    except Exception as exc:  # a broken install raises anything at import
        return False, f"cupy failed to import: {one_line(exc)}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError carries the CUDA text
        return False, one_line(exc)
    if count == 0:
        return False, "no CUDA device found"
    if index >= count:
        return False, f"GPU index {index} is out of range ({count} device{'s' if count > 1 else ''} found)"
    try:
        with cupy.cuda.Device(index):
            probe = cupy.arange(8, dtype=cupy.float32) * 2  # a tiny allocation and a kernel
            probe.sum()
            cupy.cuda.runtime.deviceSynchronize()
    except Exception as exc:
        return False, one_line(exc)
    return True, ""


def cupy_status(device: Any = None) -> tuple[bool, str]:
    """Whether CuPy can run on GPU ``device`` here, and if not, why (cached)."""
    try:
        index = _gpu_index(device)
    except GpubpError:
        return False, f"{device!r} is not a GPU index"
    return _cupy_status(index)


def _import(module: str, hint: str) -> ModuleType:
    """A backend's library, imported; if it is not installed, an error that says so and how (``hint``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendUnavailableError("backend", f"{module} is not installed ({hint})", module) from None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device allocation failure (CuPy's or PyTorch's OutOfMemoryError)."""
    return type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError)


def synchronize(backend: Backend) -> None:
    """Wait for queued device work (for timing); a no-op on the CPU."""
    if backend.name == "cupy":
        importlib.import_module("cupy").cuda.Device(backend.device.id).synchronize()
    elif backend.name == "torch" and str(backend.device).startswith("cuda"):
        importlib.import_module("torch").cuda.synchronize(backend.device)
