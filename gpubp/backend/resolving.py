"""A backend, resolved: the flag (or an existing array) becomes a :class:`Backend`, a name, namespace and device.

Arrays are created on a backend with :meth:`Backend.asarray` and moved to one
with :func:`to_backend`; everything downstream follows the data.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy

from ..errors import BackendUnavailableError, ParameterError, one_line
from .arrays import _TRANSFERS, namespace, to_host
from .devices import CUPY_MISSING, _gpu_index, _import, cupy_status, device_name
from .install import install_hint

#: Names the backend flag accepts.
BACKENDS: tuple[str, ...] = ("auto", "numpy", "cupy", "torch", "array_api_strict")


@dataclass(frozen=True)
class Backend:
    """A resolved backend: its name, array namespace and device.

    Parameters
    ----------
    name : str
        One of ``numpy``, ``cupy``, ``torch``, ``array_api_strict``.
    xp : module
        The Array-API namespace (from ``array_api_compat``).
    device : object
        The device new arrays are placed on.
    reason : str or None
        For ``auto``: why a GPU backend was not chosen, else None.
    """

    name: str
    xp: Any = field(repr=False)
    device: Any
    reason: str | None = None

    def dtype(self, name: str) -> Any:
        """The namespace's floating dtype ``name``; an error if the device lacks it."""
        if name not in ("float32", "float64"):
            raise ParameterError("dtype", "must be float32 or float64", name)
        available = _float_dtypes(self)
        if name not in available:
            raise ParameterError("dtype", f"{self.describe()} has no {name} (it supports {', '.join(available)})", name)
        return getattr(self.xp, name)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Copy a host array (or nested list) onto this backend's device (counted)."""
        _TRANSFERS["to_device"] += 1
        return self.xp.asarray(a, dtype=dtype, device=self.device, copy=True)

    def describe(self) -> str:
        """``'<name> on <device>'`` as the command prints it."""
        return f"{self.name} on {device_name(self.device)}"

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        """A ``with`` block in which this backend's GPU is the current one (CuPy, CUDA torch); else nothing.

        CuPy allocates and launches kernels on the *current* device, and
        array-api-compat's CuPy creation functions (``zeros``, ``arange``, ...)
        ignore ``device=``: without this, biases, permutations and one-hot
        targets of a model on GPU 1 would land on GPU 0. The estimators enter
        it in ``fit``, ``predict`` and ``evaluate``; ``parity`` and ``bench``
        around each backend's work. Entering it again inside is harmless.
        """
        if self.name == "cupy":
            return self.device  # a cupy.cuda.Device is itself the context manager
        if self.name == "torch" and getattr(self.device, "type", "") == "cuda":
            return importlib.import_module("torch").cuda.device(self.device)
        return contextlib.nullcontext()


def _float_dtypes(backend: Backend) -> tuple[str, ...]:
    info = getattr(backend.xp, "__array_namespace_info__", None)
    if info is None:
        return ("float32", "float64")
    try:
        return tuple(info().dtypes(device=backend.device, kind="real floating"))
    except Exception:  # a library whose info does not know this device
        return ("float32", "float64")


def default_backend_name(fallback: str = "numpy") -> str:
    """The backend named by ``GPUBP_BACKEND``, else ``fallback``."""
    return os.environ.get("GPUBP_BACKEND", "").strip() or fallback


def resolve(backend: str | Backend | None = None, device: Any = None) -> Backend:
    """Turn a backend flag and an optional device into a :class:`Backend`.

    Parameters
    ----------
    backend : {'auto', 'numpy', 'cupy', 'torch', 'array_api_strict'}, Backend or None
        None reads ``GPUBP_BACKEND`` and falls back to ``numpy``.
    device : str, int or None
        ``cpu``; a GPU index ``N`` or ``cuda:N``; an array-api-strict device
        name such as ``device1``. None picks the backend's default.

    Raises
    ------
    GpubpError
        Unknown backend or device.
    BackendUnavailableError
        The backend is not installed or cannot run here; the message says why.
    """
    if isinstance(backend, Backend):
        if device is None:
            return backend
        backend = backend.name
    if backend is not None and not isinstance(backend, str):
        raise ParameterError("backend", f"must be a name ({', '.join(BACKENDS)}) or a Backend", backend)
    said = "backend" if backend else "GPUBP_BACKEND"  # where the name came from, for the message
    name = (backend or default_backend_name()).strip().lower()
    if name not in BACKENDS:
        raise ParameterError(said, f"must be one of {', '.join(BACKENDS)}", backend or default_backend_name())
    if name == "auto":
        return _resolve_auto(device)
    return _RESOLVERS[name](device)


def _resolve_auto(device: Any) -> Backend:
    ok, reason = cupy_status(device)
    if ok:
        return _resolve_cupy(device)
    if device not in (None, "cpu"):
        raise BackendUnavailableError("device", f"no usable GPU ({reason})", device)
    return Backend(
        "numpy", array_api_compat.array_namespace(numpy.empty(0)), "cpu", reason=f"cupy unavailable: {reason}"
    )


def _resolve_numpy(device: Any) -> Backend:
    if device not in (None, "cpu"):
        raise ParameterError("device", "numpy runs on the cpu only", device)
    return Backend("numpy", array_api_compat.array_namespace(numpy.empty(0)), "cpu")


def _resolve_array_api_strict(device: Any) -> Backend:
    xp = _import("array_api_strict", "pip install array-api-strict")
    devices = {device_name(d): d for d in xp.__array_namespace_info__().devices()}
    if device in (None, "cpu"):
        return Backend("array_api_strict", xp, xp.__array_namespace_info__().default_device())
    if isinstance(device, xp.Device):
        return Backend("array_api_strict", xp, device)
    if str(device) not in devices:
        raise ParameterError(
            "device", f"array_api_strict has no such device (choose from {', '.join(devices)})", device
        )
    return Backend("array_api_strict", xp, devices[str(device)])


def _resolve_torch(device: Any) -> Backend:
    torch = _import("torch", install_hint("torch"))
    xp = array_api_compat.array_namespace(torch.empty(0))
    text = "cpu" if device is None else str(device)
    if text.isdigit():
        text = f"cuda:{text}"
    try:
        dev = torch.device(text)
        torch.empty(1, device=dev)  # proves the device can hold an array
    except Exception as exc:  # torch raises RuntimeError/AssertionError by build
        raise BackendUnavailableError("device", f"torch cannot use it ({one_line(exc)})", device) from None
    return Backend("torch", xp, dev)


def _resolve_cupy(device: Any) -> Backend:
    _gpu_index(device)  # a malformed device name is a usage error, whatever the GPU
    ok, reason = cupy_status(device)
    if not ok:
        hint = f" ({install_hint('cuda12')})" if reason == CUPY_MISSING else ""  # asked for by name: say how
        raise BackendUnavailableError("backend", f"cupy unavailable: {reason}{hint}", "cupy")
    cupy = importlib.import_module("cupy")
    xp = array_api_compat.array_namespace(cupy.empty(0))
    return Backend("cupy", xp, cupy.cuda.Device(_gpu_index(device)))


_RESOLVERS = {
    "numpy": _resolve_numpy,
    "cupy": _resolve_cupy,
    "torch": _resolve_torch,
    "array_api_strict": _resolve_array_api_strict,
}


def backend_of(x: Any) -> Backend:
    """The :class:`Backend` an existing array belongs to."""
    xp = namespace(x)
    if array_api_compat.is_numpy_array(x):
        name = "numpy"
    elif array_api_compat.is_cupy_array(x):
        name = "cupy"
    elif array_api_compat.is_torch_array(x):
        name = "torch"
    elif array_api_compat.is_array_api_strict_namespace(xp):
        name = "array_api_strict"
    else:
        name = type(x).__module__.split(".")[0]
    return Backend(name, xp, array_api_compat.device(x))


def to_backend(x: Any, backend: Backend | str, dtype: Any = None) -> Any:
    """Move an array (host or device) onto ``backend``'s device, via the host."""
    backend = resolve(backend)
    if not isinstance(x, numpy.ndarray):
        x = to_host(x)
    if isinstance(dtype, str):
        dtype = backend.dtype(dtype)
    return backend.asarray(x, dtype=dtype)
