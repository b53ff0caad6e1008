"""The sweep: every (point, target) and each device's matmul peak, timed in interleaved rounds.

Every measurement is set up first (warm-up, then calibration of its block
length). Then each round times one block of every measurement -- every sweep
point on every target, and the peak matmul of every target -- in an order drawn
afresh each round, so the repeats are spread across the whole run and a busy
phase of a shared machine hits every measurement alike. A measurement's samples
give its median and spread; a device's peak is its fastest matmul block, by any
library on it, once per run.

A ``quick`` sweep has a time budget: once two rounds are done, no round is
begun that would end past it, so a busy machine gets fewer rounds, not a longer
wait (the JSON says how many rounds ran).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..backend import device_name, host_rng
from ..errors import ParameterError, one_line
from .targets import Target
from .timing import Clock, Spread, Timed, calibrate, rounds
from .workload import PEAK_N, Steps, matmul, matmul_flops, point_sizes, step_flops

#: The sweep of ``--quick`` and of a full run (read by the command for its defaults).
QUICK = {
    "batches": (16, 64, 256, 1024),
    "widths": (128, 512, 2048),
    "depths": (2,),
    "repeats": 7,
    "warmup": 1,
    "budget_s": 20.0,
}
FULL = {"batches": (16, 64, 256, 1024, 4096), "widths": (128, 512, 2048), "depths": (2, 4), "repeats": 10, "warmup": 3}

#: Shortest timed block: short steps are repeated until one block lasts this long.
MIN_BLOCK_S = {"quick": 0.005, "full": 0.02}

#: Shortest timed block of the peak matmul.
PEAK_MIN_BLOCK_S = 0.05

#: Fewest rounds a time budget may leave: enough for a spread (with two, the quartiles lie at a quarter
#: and three quarters of the way from one to the other).
MIN_ROUNDS = 2


@dataclass
class Sweep:
    """What to measure: the grid, the dtype and loss, and how often.

    ``budget_s`` bounds the seconds from the start of the run to the end of the
    last round (setup included, at least :data:`MIN_ROUNDS` rounds); None means
    ``QUICK["budget_s"]`` for a quick sweep and no bound otherwise (``math.inf``
    lifts it from a quick one too).
    """

    batches: tuple[int, ...]
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    repeats: int
    warmup: int
    dtype: str = "float32"
    loss: str = "mse"
    quick: bool = False
    peak_n: int | None = None
    seed: int = 0
    budget_s: float | None = None
    points: list[tuple[int, int, int]] = field(init=False)

    def __post_init__(self) -> None:
        for name, values in (("batches", self.batches), ("widths", self.widths), ("depths", self.depths)):
            if not values or any(not isinstance(v, int) or v <= 0 for v in values):
                raise ParameterError(name, "must be positive integers", values)
        if self.repeats < 1:
            raise ParameterError("repeats", "must be at least 1", self.repeats)
        if self.warmup < 1:
            raise ParameterError("warmup", "must be at least 1 (it covers kernel compilation)", self.warmup)
        if self.loss not in ("mse", "ce"):
            raise ParameterError("loss", "must be 'mse' or 'ce'", self.loss)
        if self.dtype not in ("float32", "float64"):
            raise ParameterError("dtype", "must be 'float32' or 'float64'", self.dtype)
        if self.peak_n is not None and self.peak_n <= 0:
            raise ParameterError("peak_n", "must be a positive integer", self.peak_n)
        if self.budget_s is None and self.quick:
            self.budget_s = float(QUICK["budget_s"])  # type: ignore[arg-type]
        if self.budget_s is not None and not self.budget_s > 0:
            raise ParameterError("budget_s", "must be positive seconds", self.budget_s)
        self.points = [(d, w, b) for d in self.depths for w in self.widths for b in self.batches]


@dataclass
class Measurement:
    """What a sweep measured: rows per (point, target), one peak per device, what failed, rounds run."""

    rows: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    rounds: int


def run_sweep(
    targets: list[Target],
    sweep: Sweep,
    log: Callable[[str], None] = lambda _: None,
    *,
    started: float | None = None,
    clock: Clock = time.perf_counter,
) -> Measurement:
    """Time every point of ``sweep`` on every target and each target's peak matmul, in interleaved rounds.

    A measurement that fails (out of memory, a device error) is dropped with
    its reason in ``skipped``; the others go on.

    Parameters
    ----------
    targets : list of Target
        Their ``peak_gflops`` and ``peak_n`` are set to their device's peak.
    sweep : Sweep
    log : callable
        Progress lines.
    started : float or None
        When the run began on ``clock`` (the budget counts from there); default now.
    clock : callable
        Seconds, as :func:`time.perf_counter`.
    """
    started = clock() if started is None else started
    setup_start = clock()
    min_block = MIN_BLOCK_S["quick" if sweep.quick else "full"]
    methods: dict[str, Timed] = {}
    what: dict[str, tuple[Target, tuple[int, int, int] | None]] = {}
    failed: dict[str, str] = {}

    def add(key: str, target: Target, point: tuple[int, int, int] | None, make: Callable[[], Timed]) -> None:
        try:
            timed = make()
            warmup, block = (1, PEAK_MIN_BLOCK_S) if point is None else (sweep.warmup, min_block)
            calibrate(timed, warmup=warmup, min_block_s=block, clock=clock)
        except Exception as exc:  # a device that cannot hold or run it: dropped, with why
            failed[key] = one_line(exc)
        else:
            methods[key] = timed
        what[key] = (target, point)

    peak_n = {t.label: sweep.peak_n or PEAK_N["gpu" if t.gpu else "cpu"] for t in targets}
    for t in targets:
        add(f"peak {t.label}", t, None, lambda t=t: matmul(t.backend, sweep.dtype, peak_n[t.label], seed=sweep.seed))
    steps = {t.label: Steps(t.backend, dtype=sweep.dtype, loss=sweep.loss, seed=sweep.seed) for t in targets}
    for depth, width, batch in sweep.points:
        for t in targets:
            key = f"{t.label} depth {depth} width {width} batch {batch}"
            add(key, t, (depth, width, batch), lambda t=t, p=(depth, width, batch): steps[t.label].step(*p))
    log(
        f"  set up {len(methods)} measurements in {clock() - setup_start:.1f} s "
        f"(the run began {setup_start - started:.1f} s before); timing up to {sweep.repeats} rounds"
    )
    samples = rounds(
        methods,
        repeats=sweep.repeats,
        shuffle=host_rng(sweep.seed),
        deadline=None if sweep.budget_s is None else started + sweep.budget_s,
        min_repeats=MIN_ROUNDS,
        failures=failed,
        on_round=lambda r, seconds: log(f"  round {r}/{sweep.repeats}: {seconds:.1f} s"),
        clock=clock,
    )
    devices = _peaks(targets, peak_n, samples)
    rows = [
        _row(t, p, samples[k]) | {"steps_per_block": methods[k].inner}
        for k, (t, p) in what.items()
        if p is not None and k in samples
    ]
    done = max((len(s) for s in samples.values()), default=0)
    return Measurement(rows, devices, _skipped(targets, what, failed), done)


def _peaks(targets: list[Target], peak_n: dict[str, int], samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    """One matmul peak per device: its fastest block by any library on it; set on the device's targets."""
    devices: dict[str, dict[str, Any]] = {}
    for t in targets:
        entry = devices.setdefault(t.device, {"device": t.device, "peak_gflops": None, "peak_n": None})
        key = f"peak {t.label}"
        if key not in samples:
            continue
        n = peak_n[t.label]
        gflops = sorted(matmul_flops(n) / s / 1e9 for s in samples[key])
        if entry["peak_gflops"] is None or gflops[-1] > entry["peak_gflops"]:
            spread = Spread.of(gflops)
            slowdown = Spread.of(samples[key]).slowdown
            entry.update(
                peak_gflops=spread.max,
                peak_n=n,
                peak_backend=t.backend.name,
                peak_spread_gflops={
                    "min": spread.min,
                    "q1": spread.q1,
                    "median": spread.median,
                    "q3": spread.q3,
                    "max": spread.max,
                },
                peak_iqr=_finite(spread.iqr),
                peak_slowdown=_finite(slowdown),
            )
    for t in targets:
        t.peak_gflops, t.peak_n = devices[t.device]["peak_gflops"], devices[t.device]["peak_n"]
    return list(devices.values())


def _row(t: Target, point: tuple[int, int, int], seconds: list[float]) -> dict[str, Any]:
    """The JSON row of one (point, target): median step time, its spread, throughput, share of the peak."""
    depth, width, batch = point
    sizes = point_sizes(width, depth)
    flops = step_flops(sizes, batch, input_grad=False)
    spread = Spread.of(seconds)
    gflops = flops / spread.median / 1e9
    return {
        "target": t.label,
        "backend": t.backend.name,
        "device": device_name(t.backend.device),
        "gpu": t.gpu,
        "depth": depth,
        "width": width,
        "batch": batch,
        "sizes": sizes,
        "flops_per_step": flops,
        "median_s": spread.median,
        "min_s": spread.min,
        "q1_s": spread.q1,
        "q3_s": spread.q3,
        "max_s": spread.max,
        "iqr": _finite(spread.iqr),
        "slowdown": _finite(spread.slowdown),
        "samples_s": seconds,
        "samples_per_s": batch / spread.median,
        "gflops": gflops,
        "peak_share": gflops / t.peak_gflops if t.peak_gflops else None,
    }


def _finite(x: float) -> float | None:
    """``x``, or None for infinity (JSON has no infinity; a zero time gives one)."""
    return x if math.isfinite(x) else None


def _skipped(targets: list[Target], what: dict, failed: dict[str, str]) -> list[dict[str, Any]]:
    """Failed measurements with their reasons: one entry for a target where everything failed."""
    out: list[dict[str, Any]] = []
    for t in targets:
        mine = [k for k, (owner, _) in what.items() if owner is t]
        bad = [k for k in mine if k in failed]
        if bad and len(bad) == len(mine):
            out.append({"backend": t.label, "reason": failed[bad[0]]})
            continue
        for k in bad:
            point = what[k][1]
            text = "matmul peak" if point is None else "depth {} width {} batch {}".format(*point)
            out.append({"backend": t.label, "point": text, "reason": failed[k]})
    return out
