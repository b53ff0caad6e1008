"""The edge of gpubp: a backend flag becomes an array namespace ``xp`` and a device.

This is the only module in gpubp that names an array library. Everything else
takes ``xp`` from its input arrays (:func:`namespace`) and places new arrays with
``device=``; the host side (data files, random numbers) uses :data:`host`.

Every copy between host and device goes through :func:`to_host` and
:meth:`Backend.asarray`, which count them (:func:`transfer_counts`), so a
training step can be held to a budget of zero syncs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import array_api_compat
import numpy

from .errors import BackendUnavailableError, DeviceMismatchError, GpubpError, ParameterError, one_line

#: The host array library: data files, splits and random numbers live here.
host: ModuleType = numpy

#: Names the backend flag accepts.
BACKENDS: tuple[str, ...] = ("auto", "numpy", "cupy", "torch", "array_api_strict")

#: What "cupy unavailable" says when the import fails for want of the package (the install
#: command is :func:`install_hint`'s, said by ``gpubp info`` and by an explicit ``backend='cupy'``).
CUPY_MISSING = "cupy is not installed"

_TRANSFERS = {"to_host": 0, "to_device": 0}


def host_rng(seed: Any) -> numpy.random.Generator:
    """A host random generator: the only source of randomness in gpubp.

    ``seed`` is an int, None (fresh entropy), a ``Generator`` (returned as is)
    or a legacy ``RandomState`` (scikit-learn's ``random_state``), which seeds a
    new generator from one draw of its own.
    """
    if isinstance(seed, numpy.random.Generator):
        return seed
    if isinstance(seed, numpy.random.RandomState):
        return numpy.random.default_rng(seed.randint(numpy.iinfo(numpy.int32).max))
    return numpy.random.default_rng(seed)


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


def _float_dtypes(backend: Backend) -> tuple[str, ...]:
    info = getattr(backend.xp, "__array_namespace_info__", None)
    if info is None:
        return ("float32", "float64")
    try:
        return tuple(info().dtypes(device=backend.device, kind="real floating"))
    except Exception:  # a library whose info does not know this device
        return ("float32", "float64")


# ---------------------------------------------------------------------------
# Resolving the flag


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


def _import(module: str, hint: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BackendUnavailableError("backend", f"{module} is not installed ({hint})", module) from None


#: Each optional extra of gpubp and the packages it stands for.
EXTRAS: dict[str, str] = {
    "cuda12": "cupy-cuda12x",
    "cuda13": "cupy-cuda13x",
    "torch": "torch",
    "plot": "matplotlib",
    "onnx": "onnx",
    "mpi": "mpi4py",
}


def installed_from() -> tuple[str, str | None]:
    """How the gpubp being run was installed: ``(kind, where)``.

    ``kind`` is ``editable`` (``pip install -e``; ``where`` is the checkout),
    ``folder`` (``pip install .``), ``archive`` (a wheel or sdist file or URL),
    ``index`` (no record: an index, or a tool that writes none), or ``source`` when this gpubp is not the
    installed one (run from a checkout on ``PYTHONPATH``; ``where`` is its folder).
    Read from the distribution's ``direct_url.json`` (PEP 610).
    """
    import json
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding this gpubp package
    try:
        dist = metadata.distribution("gpubp")
    except metadata.PackageNotFoundError:
        return "source", here
    text = dist.read_text("direct_url.json")
    if text is None:
        return "index", None
    try:
        info = json.loads(text)
        url = str(info.get("url", ""))
    except (ValueError, AttributeError):
        return "index", None
    path = unquote(urlparse(url).path) if url.startswith("file://") else None
    if "dir_info" in info:
        if path is not None and os.path.realpath(path) != os.path.realpath(here):
            return "source", here  # another checkout is installed; this one runs from PYTHONPATH
        return ("editable" if info["dir_info"].get("editable") else "folder"), path
    return "archive", url


def install_hint(extra: str) -> str:
    """The command that adds gpubp's optional ``extra`` (a key of :data:`EXTRAS`) here.

    gpubp is not on a package index, so ``pip install 'gpubp[cuda12]'`` finds
    nothing; an editable checkout can name its own folder with the extra, and
    every other install takes the package itself (``cupy-cuda12x``).
    """
    package = EXTRAS[extra]
    kind, where = installed_from()
    if kind == "editable" and where:
        return f"pip install -e '{where}[{extra}]' or pip install {package}"
    return f"pip install {package}"


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


# ---------------------------------------------------------------------------
# Arrays: namespace, device checks, counted transfers


_NAMESPACES: dict[type, Any] = {}


def namespace(*arrays: Any) -> Any:
    """The Array-API namespace of ``arrays``; they must share one library.

    Cached per array type, so calling it on every forward costs a dict look-up.

    Raises
    ------
    DeviceMismatchError
        The arrays come from different array libraries; the message names both.
    """
    first = type(arrays[0])
    for other in arrays[1:]:
        if type(other) is not first:
            raise DeviceMismatchError(f"arrays from different libraries: {_library(arrays[0])} and {_library(other)}")
    xp = _NAMESPACES.get(first)
    if xp is None:
        try:
            xp = array_api_compat.array_namespace(arrays[0])
        except TypeError:
            raise GpubpError(f"not an Array-API array: {first.__module__}.{first.__name__}") from None
        _NAMESPACES[first] = xp
    return xp


def _library(x: Any) -> str:
    return f"{type(x).__module__.split('.')[0]} ({type(x).__name__})"


def device_of(x: Any) -> Any:
    """The device an array lives on."""
    return array_api_compat.device(x)


def check_same_device(a: Any, b: Any, what_a: str = "input", what_b: str = "parameters") -> None:
    """Fail loudly if ``a`` and ``b`` are from different libraries or devices.

    Raises
    ------
    DeviceMismatchError
        Naming both libraries or both devices, e.g. ``input is on cpu but
        parameters are on device1``.
    """
    if type(a) is not type(b):
        raise DeviceMismatchError(
            f"{what_a} is a {_library(a)} array but {what_b} are {_library(b)} arrays; "
            "move one with gpubp.to_backend or Sequential.to"
        )
    da, db = array_api_compat.device(a), array_api_compat.device(b)
    if da != db:
        raise DeviceMismatchError(
            f"{what_a} is on {device_name(da)} but {what_b} are on {device_name(db)}; "
            "move one with gpubp.to_backend or Sequential.to"
        )


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


def to_host(x: Any, copy: bool = False) -> numpy.ndarray:
    """Copy a device array to a host NumPy array (counted; the one way back).

    Parameters
    ----------
    x : array
        Any Array-API array, on any device.
    copy : bool
        Return a copy even where the host array would share memory with ``x``
        (a NumPy array, a CPU torch tensor, an array-api-strict array).
    """
    _TRANSFERS["to_host"] += 1
    if isinstance(x, numpy.ndarray):
        return x.copy() if copy else x
    if isinstance(x, numpy.generic):  # NumPy reductions return scalars
        return numpy.asarray(x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        out = x.detach().cpu().numpy()  # shares memory with a CPU tensor
    elif array_api_compat.is_array_api_strict_namespace(namespace(x)):
        xp = namespace(x)
        x = x.to_device(xp.__array_namespace_info__().default_device())
        out = numpy.asarray(x)  # shares memory with the array-api-strict array
    else:
        out = numpy.from_dlpack(x)
    return out.copy() if copy else out


def to_backend(x: Any, backend: Backend | str, dtype: Any = None) -> Any:
    """Move an array (host or device) onto ``backend``'s device, via the host."""
    backend = resolve(backend)
    if not isinstance(x, numpy.ndarray):
        x = to_host(x)
    if isinstance(dtype, str):
        dtype = backend.dtype(dtype)
    return backend.asarray(x, dtype=dtype)


def transfer_counts() -> dict[str, int]:
    """How many host<->device copies gpubp has made so far (a copy of the counters)."""
    return dict(_TRANSFERS)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device allocation failure (CuPy's or PyTorch's OutOfMemoryError)."""
    return type(exc).__name__ == "OutOfMemoryError" or isinstance(exc, MemoryError)


def synchronize(backend: Backend) -> None:
    """Wait for queued device work (for timing); a no-op on the CPU."""
    if backend.name == "cupy":
        importlib.import_module("cupy").cuda.Device(backend.device.id).synchronize()
    elif backend.name == "torch" and str(backend.device).startswith("cuda"):
        importlib.import_module("torch").cuda.synchronize(backend.device)


def cpu_threads(backend: Backend) -> int | None:
    """Threads a CPU backend's matrix products use (BLAS for NumPy, intra-op for torch); None on a GPU."""
    if device_name(backend.device).startswith("cuda"):
        return None
    if backend.name == "torch":
        return int(importlib.import_module("torch").get_num_threads())
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    numpy_blas = [
        lib for lib in blas if f"numpy{os.sep}" in lib.get("filepath", "") or "numpy.libs" in lib.get("filepath", "")
    ]
    chosen = numpy_blas or blas  # SciPy may load its own OpenBLAS beside NumPy's
    return int(chosen[0]["num_threads"]) if chosen else None


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


# ---------------------------------------------------------------------------
# Thread pools: how many CPU threads the matrix products may use

#: The most threads ``threads='auto'`` picks: past this, an MLP's matrix products gain little and a
#: shared machine loses much.
AUTO_THREADS_CAP = 8

#: Environment variables a user sets to limit threads; ``'auto'`` never exceeds the smallest one given.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (``taskset``, a cpuset), and a CPU quota (cgroup v2)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(n, quota)) if quota is not None else n


def _cgroup_cpu_quota(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """A container's CPU quota (``docker --cpus 2``), rounded up to whole CPUs; None without one."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None


def _env_thread_limit() -> int | None:
    """The smallest positive thread count set in :data:`THREAD_ENV`, or None."""
    limits = []
    for name in THREAD_ENV:
        text = os.environ.get(name, "").strip()
        if text.isdigit() and int(text) > 0:
            limits.append(int(text))
    return min(limits) if limits else None


def auto_threads() -> int:
    """What ``threads='auto'`` stands for here: one fewer than the usable CPUs, in [1, 8], within OMP_NUM_THREADS.

    One CPU is left to everything else: when every CPU runs one of our threads,
    one other busy process makes each matrix product wait for a descheduled
    thread, and training slows down 3-20 times on a small machine
    (benchmarks/README.md, "threads.py and the threads setting").
    """
    n = min(usable_cpus() - 1, AUTO_THREADS_CAP)
    env = _env_thread_limit()
    return max(1, min(n, env) if env is not None else n)


def threads_for(threads: int | str | None) -> int | None:
    """The thread count a ``threads`` setting stands for.

    ``'auto'`` is one fewer than the CPUs this process may run on
    (:func:`usable_cpus`), at least 1 and at most :data:`AUTO_THREADS_CAP`,
    and never more than an ``OMP_NUM_THREADS`` (``OPENBLAS_NUM_THREADS``,
    ``MKL_NUM_THREADS``) the user set; an integer is itself; None leaves the
    thread pools as they are (returns None).
    """
    if threads is None:
        return None
    if threads == "auto":
        return auto_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError("threads", "must be 'auto', an integer >= 1 or None", threads)
    return int(threads)


_CONTROLLER: dict[str, Any] = {"key": None, "controller": None}


def _thread_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries, rebuilt when new modules were imported."""
    from threadpoolctl import ThreadpoolController

    key = len(sys.modules)  # a new shared library arrives with a new import
    if _CONTROLLER["key"] != key:
        _CONTROLLER["controller"], _CONTROLLER["key"] = ThreadpoolController(), key
    return _CONTROLLER["controller"]


@contextmanager
def limit_threads(threads: int | str | None, backend: str | None = None) -> Iterator[int | None]:
    """Run the block with every CPU thread pool at ``threads`` threads, and restore them afterwards.

    The pools are the BLAS and OpenMP libraries loaded in this process
    (through threadpoolctl: NumPy's OpenBLAS, torch's OpenMP) and, when torch
    is imported, torch's intra-op pool (``torch.set_num_threads``). torch's
    inter-op pool is left alone: eager operations do not use it, and torch
    lets it be set only once per process, so it could not be restored.
    The settings are process-wide: fits running at the same time in
    several Python threads share them.

    Parameters
    ----------
    threads : 'auto', int or None
        See :func:`threads_for`; None changes nothing.
    backend : str, optional
        The backend the block will use ('auto' reads ``GPUBP_BACKEND``): torch is
        imported first, so a pool it loads is limited too.

    Yields
    ------
    int or None
        The thread count in force inside the block (None: unchanged).
    """
    n = threads_for(threads)
    if n is None:
        yield None
        return
    if (default_backend_name("auto") if backend == "auto" else backend) == "torch":
        try:
            importlib.import_module("torch")
        except ImportError:  # resolving the backend says so, with the install hint
            pass
    controller = _thread_controller()
    torch = sys.modules.get("torch")
    before = int(torch.get_num_threads()) if torch is not None else None
    with controller.limit(limits=n):
        if before is not None and before != n:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            if before is not None and before != n:
                torch.set_num_threads(before)


def thread_report(threads: int | str | None = "auto") -> dict[str, Any]:
    """What ``threads`` chooses here and the thread pools as they stand (for ``gpubp info``).

    Returns ``{'setting', 'chosen', 'usable_cpus', 'env', 'pools'}``; ``pools``
    lists each loaded BLAS / OpenMP library (``library``, ``api``,
    ``threads`` now) and, with torch imported, its intra- and inter-op pools.
    """
    env = {name: os.environ[name] for name in THREAD_ENV if name in os.environ}
    pools = [
        {"library": lib.get("prefix") or os.path.basename(lib.get("filepath", "")), "api": lib.get("user_api"),
         "threads": lib.get("num_threads")}
        for lib in _thread_controller().info()
    ]  # fmt: skip
    torch = sys.modules.get("torch")
    if torch is not None:
        pools.append({"library": "torch", "api": "intra-op", "threads": int(torch.get_num_threads())})
        pools.append({"library": "torch", "api": "inter-op", "threads": int(torch.get_num_interop_threads())})
    return {"setting": threads, "chosen": threads_for(threads), "usable_cpus": usable_cpus(), "env": env,
            "pools": pools}  # fmt: skip
