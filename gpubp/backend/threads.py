"""Thread pools: how many CPU threads the matrix products may use, and a block that holds them to it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError
from .devices import device_name
from .resolving import default_backend_name

if TYPE_CHECKING:
    from .resolving import Backend

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
