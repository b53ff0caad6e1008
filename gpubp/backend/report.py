"""The backend report of ``gpubp info``: every backend, whether it can run here (and why not), its version
and devices, and how to install what is missing."""

from __future__ import annotations

import importlib
from typing import Any

from .devices import CUPY_MISSING, cupy_status, device_name
from .install import EXTRAS, install_hint
from .resolving import BACKENDS


def library_version(name: str) -> str | None:
    """The installed version of an array library, or None."""
    try:
        return str(importlib.import_module(name).__version__)  # plain str: torch's is a subclass of its own
    except Exception:
        return None


def backend_report() -> list[dict[str, Any]]:
    """Every backend: whether it can run here (and why not), its version and devices.

    For GPUs (CuPy, PyTorch CUDA) each device lists its name and memory; a
    library that is not installed has ``install``, the command that adds it here.
    """
    report = []
    for name in BACKENDS[1:]:
        entry: dict[str, Any] = {"name": name, "available": False, "version": None, "devices": [], "reason": None}
        module = {"array_api_strict": "array_api_strict"}.get(name, name)
        entry["version"] = library_version(module) if name != "cupy" else _cupy_version()
        if name == "cupy":
            ok, reason = cupy_status()
            entry["available"], entry["reason"] = ok, (reason or None)
            if ok:
                entry["devices"] = _cuda_devices_cupy()
            elif reason == CUPY_MISSING:
                entry["install"] = install_hint("cuda12")
        elif entry["version"] is None:
            entry["reason"] = f"{module} is not installed"
            if name in EXTRAS:
                entry["install"] = install_hint(name)
        else:
            entry["available"] = True
            if name == "numpy":
                entry["devices"] = [{"name": "cpu"}]
            elif name == "array_api_strict":
                xp = importlib.import_module("array_api_strict")
                entry["devices"] = [{"name": device_name(d)} for d in xp.__array_namespace_info__().devices()]
            else:
                entry["devices"] = _torch_devices()
        report.append(entry)
    return report


def _cupy_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    for dist in ("cupy-cuda12x", "cupy-cuda13x", "cupy"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _cuda_devices_cupy() -> list[dict[str, Any]]:
    cupy = importlib.import_module("cupy")
    devices = []
    for i in range(cupy.cuda.runtime.getDeviceCount()):
        props = cupy.cuda.runtime.getDeviceProperties(i)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        devices.append({"name": f"cuda:{i}", "gpu": name, "memory_gib": round(props["totalGlobalMem"] / 2**30, 1)})
    return devices


def _torch_devices() -> list[dict[str, Any]]:
    torch = importlib.import_module("torch")
    devices: list[dict[str, Any]] = [{"name": "cpu"}]
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a CUDA build without a driver
        count = 0
    for i in range(count):
        props = torch.cuda.get_device_properties(i)
        devices.append({"name": f"cuda:{i}", "gpu": props.name, "memory_gib": round(props.total_memory / 2**30, 1)})
    return devices
