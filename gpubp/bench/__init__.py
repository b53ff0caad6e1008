"""``gpubp bench``: how fast one training step runs on each backend and device.

For each point of a sweep (batch x width x depth; :mod:`.workload` says what a
step is and what it costs) and each target (a backend on a device;
:mod:`.targets`), the bench reports the median step time over interleaved
rounds with its spread, samples per second, achieved GFLOP/s and that as a
share of the device's matrix-multiply peak, measured once per run in the same
rounds (:mod:`.sweep`, :mod:`.timing`). It warns when the spread says the
machine was too busy to trust, and finds where a GPU starts to beat the CPU
(:mod:`.report`).

Timing is honest on GPUs: every timed block ends with
:func:`gpubp.backend.synchronize`, and the warm-up steps run every kernel once
(CuPy compiles its elementwise kernels on first use).

The scripts in ``benchmarks/`` share the helpers: :func:`.timing.interleaved`,
:class:`.timing.Timed`, :func:`.workload.step_flops`,
:func:`.environment.blas_info`, :func:`.report.write_json`.
"""

from __future__ import annotations

from .report import NO_GPU, busy_verdict, crossover
from .run import run_bench
from .sweep import FULL, QUICK, Sweep, run_sweep
from .targets import Target, resolve_targets
from .timing import Spread, Timed, interleaved
from .workload import step_flops, training_step

#: The ``--quick`` flag's help, from what was measured (benchmarks/README.md, "How long --quick takes").
QUICK_HELP = "a small sweep: under 20 s on two idle CPU cores, under a minute on busy ones"

__all__ = [
    "FULL",
    "NO_GPU",
    "QUICK",
    "QUICK_HELP",
    "Spread",
    "Sweep",
    "Target",
    "Timed",
    "busy_verdict",
    "crossover",
    "interleaved",
    "resolve_targets",
    "run_bench",
    "run_sweep",
    "step_flops",
    "training_step",
]
