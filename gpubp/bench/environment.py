"""What the results depend on besides gpubp: versions, BLAS libraries and threads, the machine's load.

The load that matters is other work on the CPUs while the bench runs:
:func:`cpu_snapshot` before and after, and :func:`others_share` of the two,
say what share of the CPUs this process may use went to other processes (or
to other guests of a virtual machine's host).
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from dataclasses import dataclass
from typing import Any

from ..backend import library_version
from .targets import Target


def environment(targets: list[Target], load_at_start: list[float] | None = None) -> dict[str, Any]:
    """Versions, BLAS libraries and thread counts, and the machine's load before and after the run.

    Parameters
    ----------
    targets : list of Target
        Versions of torch and CuPy are recorded only where a target uses them.
    load_at_start : list of float or None
        :func:`load_average` when the run began.
    """
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_start": load_at_start,
        "load_average_end": load_average(),
        "numpy": library_version("numpy"),
        "torch": library_version("torch") if any(t.backend.name == "torch" for t in targets) else None,
        "cupy": library_version("cupy") if any(t.backend.name == "cupy" for t in targets) else None,
        "blas": blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on the machine), or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def blas_info() -> list[dict[str, Any]]:
    """BLAS and OpenMP libraries loaded in this process (threadpoolctl), or [] without it."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer", "architecture")
    return [
        {k: lib.get(k) for k in keys} | {"file": os.path.basename(lib.get("filepath", ""))} for lib in threadpool_info()
    ]


@dataclass(frozen=True)
class CpuSnapshot:
    """Seconds of CPU time at one moment: all processes on our CPUs (``busy_s``) and this process (``own_s``)."""

    wall_s: float
    busy_s: float
    own_s: float
    cpus: int


def cpu_snapshot() -> CpuSnapshot | None:
    """Busy seconds of the CPUs this process may run on, and its own; None without Linux's ``/proc/stat``.

    Busy is user, nice, system, irq, softirq and steal time (steal: the
    hypervisor ran another guest on our virtual CPU).
    """
    try:
        cpus = os.sched_getaffinity(0)
        with open("/proc/stat", encoding="ascii") as fh:
            lines = fh.read().splitlines()
        tick = os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError):
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus and len(fields) >= 8:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
            busy += user + nice + system + irq + softirq + steal
    own = os.times()
    return CpuSnapshot(time.monotonic(), busy / tick, own.user + own.system, len(cpus))


def others_share(start: CpuSnapshot | None, end: CpuSnapshot | None) -> float | None:
    """The share of our CPUs' capacity that other work used between two snapshots (0 idle, 1 all of it)."""
    if start is None or end is None or end.wall_s <= start.wall_s:
        return None
    others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return min(1.0, max(0.0, others / (start.cpus * (end.wall_s - start.wall_s))))
