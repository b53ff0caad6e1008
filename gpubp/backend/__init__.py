"""The edge of gpubp: a backend flag becomes an array namespace ``xp`` and a device.

This package is the only place in gpubp that names an array library. Everything
else takes ``xp`` from its input arrays (:func:`namespace`) and places new arrays
with ``device=``; the host side (data files, random numbers) uses :data:`host`.

Every copy between host and device goes through :func:`to_host` and
:meth:`Backend.asarray`, which count them (:func:`transfer_counts`), so a
training step can be held to a budget of zero syncs.

One idea per file:

    resolving   the flag (or an array) -> :class:`Backend`; ``to_backend``
    arrays      ``host``, ``host_rng``, ``namespace``, device checks, ``to_host``, the transfer counts
    devices     device names, GPU counts, each process's GPU, CuPy's status, ``synchronize``
    install     the command that installs an optional extra here
    report      ``backend_report`` and library versions (``gpubp info``)
    threads     the CPU thread pools: ``threads_for``, ``limit_threads``, ``thread_report``

Every name is importable from here. A test that monkeypatches a helper must
patch it in the file that defines it (e.g. ``gpubp.backend.threads.usable_cpus``):
the functions there look their helpers up in their own module.
"""

from __future__ import annotations

from .arrays import _NAMESPACES as _NAMESPACES
from .arrays import _TRANSFERS as _TRANSFERS
from .arrays import _library as _library
from .arrays import check_same_device, device_of, host, host_rng, namespace, to_host, transfer_counts
from .devices import CUPY_MISSING, cupy_status, device_name, is_out_of_memory, rank_device, synchronize
from .devices import _cupy_gpu_count as _cupy_gpu_count
from .devices import _cupy_status as _cupy_status
from .devices import _gpu_index as _gpu_index
from .devices import _import as _import
from .devices import _torch_gpu_count as _torch_gpu_count
from .install import EXTRAS, install_hint, installed_from
from .report import _cuda_devices_cupy as _cuda_devices_cupy
from .report import _cupy_version as _cupy_version
from .report import _torch_devices as _torch_devices
from .report import backend_report, library_version
from .resolving import _RESOLVERS as _RESOLVERS
from .resolving import BACKENDS, Backend, backend_of, default_backend_name, resolve, to_backend
from .resolving import _float_dtypes as _float_dtypes
from .resolving import _resolve_array_api_strict as _resolve_array_api_strict
from .resolving import _resolve_auto as _resolve_auto
from .resolving import _resolve_cupy as _resolve_cupy
from .resolving import _resolve_numpy as _resolve_numpy
from .resolving import _resolve_torch as _resolve_torch
from .threads import _CONTROLLER as _CONTROLLER
from .threads import (
    AUTO_THREADS_CAP,
    THREAD_ENV,
    auto_threads,
    cpu_threads,
    limit_threads,
    thread_report,
    threads_for,
    usable_cpus,
)
from .threads import _cgroup_cpu_quota as _cgroup_cpu_quota
from .threads import _env_thread_limit as _env_thread_limit
from .threads import _thread_controller as _thread_controller

__all__ = [
    "AUTO_THREADS_CAP",
    "BACKENDS",
    "CUPY_MISSING",
    "EXTRAS",
    "THREAD_ENV",
    "Backend",
    "auto_threads",
    "backend_of",
    "backend_report",
    "check_same_device",
    "cpu_threads",
    "cupy_status",
    "default_backend_name",
    "device_name",
    "device_of",
    "host",
    "host_rng",
    "install_hint",
    "installed_from",
    "is_out_of_memory",
    "library_version",
    "limit_threads",
    "namespace",
    "rank_device",
    "resolve",
    "synchronize",
    "thread_report",
    "threads_for",
    "to_backend",
    "to_host",
    "transfer_counts",
    "usable_cpus",
]
