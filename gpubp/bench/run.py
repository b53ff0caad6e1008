"""``run_bench``: resolve the targets, run the sweep, print the table, write the JSON and the PNG."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..backend import device_name, library_version
from .environment import CpuSnapshot, cpu_snapshot, environment, load_average, others_share
from .report import NO_GPU, busy_verdict, crossover, table, write_json
from .sweep import Measurement, Sweep, run_sweep
from .targets import Target, resolve_targets
from .timing import Clock
from .workload import LEARNING_RATE


def run_bench(
    *,
    backends: str | None,
    sweep: Sweep,
    json_path: str | None,
    plot_path: str | None,
    report: TextIO | None = None,
    log: TextIO | None = None,
    clock: Clock = time.perf_counter,
    cpu_meter: Callable[[], CpuSnapshot | None] = cpu_snapshot,
) -> dict[str, Any]:
    """Measure; print the table and the paths written on ``report``, progress on ``log``.

    Parameters
    ----------
    backends : str or None
        ``NAME[:DEVICE]`` list, e.g. ``numpy,cupy:1``; None: one device per
        library (:func:`gpubp.bench.targets.default_specs`).
    sweep : Sweep
    json_path, plot_path : str or None
        Where to write the JSON document and the PNG; None writes nothing.
    report, log : text streams or None
        Default: ``sys.stdout`` and ``sys.stderr`` as they are at the call.
    clock : callable
        Seconds, as :func:`time.perf_counter` (tests pass a fake one).
    cpu_meter : callable
        :func:`gpubp.bench.environment.cpu_snapshot`, read before and after
        measuring to tell how much of the CPUs other work took.

    Returns
    -------
    dict
        The JSON document: ``environment``, ``sweep`` (with ``rounds`` run),
        ``targets``, ``devices`` (one matmul peak each), ``skipped`` (with
        reasons), ``gpu``, ``results`` (one row per point and target, with the
        spread), ``crossover``, ``busy`` and ``busy_reason``, ``seconds``.
    """
    t0 = clock()
    load, cpu_start = load_average(), cpu_meter()
    report = sys.stdout if report is None else report
    log = sys.stderr if log is None else log
    targets, skipped = resolve_targets(backends)

    def say(message: str) -> None:
        print(message, file=log, flush=True)

    gpu = any(t.gpu for t in targets)
    reasons = "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped)
    say(f"bench: {', '.join(t.label for t in targets)}; {sweep.dtype}, {sweep.loss}, {len(sweep.points)} points")
    for s in skipped:
        say(f"  skipped {s['backend']}: {s['reason']}")
    if not gpu:
        say(NO_GPU)
    measured = run_sweep(targets, sweep, say, started=t0, clock=clock)
    slowdowns = {
        f"{r['target']} depth {r['depth']} width {r['width']} batch {r['batch']}": r["slowdown"] for r in measured.rows
    }
    slowdowns |= {f"{d['device']} matmul": d["peak_slowdown"] for d in measured.devices if d["peak_gflops"]}
    others = others_share(cpu_start, cpu_meter())
    busy = busy_verdict({k: v for k, v in slowdowns.items() if v is not None}, others)
    doc = {
        "gpubp": library_version("gpubp"),
        "environment": environment(targets, load) | {"others_cpu_share": others},
        "sweep": _sweep_doc(sweep, measured),
        "targets": [_target_doc(t) for t in targets],
        "devices": measured.devices,
        "skipped": skipped + measured.skipped,
        "gpu": gpu,
        "no_gpu_reason": None if gpu else (reasons or "no GPU backend in backends"),
        "results": measured.rows,
        "crossover": crossover(measured.rows) if gpu else None,
        "busy": busy is not None,
        "busy_reason": busy,
    }
    doc["seconds"] = round(clock() - t0, 2)
    print(table(doc), file=report, flush=True)
    for s in measured.skipped:
        print(f"skipped: {s['backend']}{' ' + s['point'] if 'point' in s else ''}: {s['reason']}", file=report)
    if busy:
        print(f"warning: the machine was busy, timings unreliable: {busy}; measure again when it is quiet", file=report)
    print(_summary(doc, sweep), file=report, flush=True)
    if json_path is not None:
        write_json(json_path, doc)
        print(f"json: {json_path}", file=report, flush=True)
    if plot_path is not None:
        from ..backend import install_hint
        from .plot import plot_bench

        if plot_bench(doc, plot_path):
            print(f"plot: {plot_path}", file=report, flush=True)
        else:
            say(f"no plot: matplotlib is not installed ({install_hint('plot')})")
    return doc


def _sweep_doc(sweep: Sweep, measured: Measurement) -> dict[str, Any]:
    """The sweep as run: grid, repeats asked and rounds run, budget, what a step is."""
    return {
        "batches": list(sweep.batches),
        "widths": list(sweep.widths),
        "depths": list(sweep.depths),
        "repeats": sweep.repeats,
        "rounds": measured.rounds,
        "budget_s": sweep.budget_s,
        "warmup": sweep.warmup,
        "quick": sweep.quick,
        "dtype": sweep.dtype,
        "loss": sweep.loss,
        "optimizer": f"SGD(lr={LEARNING_RATE}, momentum=0)",
        "network": "depth Linear(width, width) layers, ReLU between, linear output",
        "flops": "6*batch*sum(fan_in*fan_out) minus the first layer's dX (not computed in training)",
        "timing": "interleaved rounds: one block of every (point, target) and peak matmul per round, the "
        "libraries taking turns to lead, each one's blocks in a fresh random order; median, quartiles and "
        "extremes over the rounds",
    }


def _target_doc(t: Target) -> dict[str, Any]:
    """A target in the JSON; ``peak_gflops`` is its device's one peak."""
    return {
        "target": t.label,
        "backend": t.backend.name,
        "device": device_name(t.backend.device),
        "peak_device": t.device,
        "gpu": t.gpu,
        "threads": t.threads,
        "peak_gflops": t.peak_gflops,
        "peak_n": t.peak_n,
    }


def _summary(doc: dict[str, Any], sweep: Sweep) -> str:
    """The last line: how much was measured, in how many rounds and seconds."""
    rounds = doc["sweep"]["rounds"]
    text = f"{len(doc['results'])} measurements, {rounds} of {sweep.repeats} rounds, in {doc['seconds']:.1f} s"
    if rounds < sweep.repeats and sweep.budget_s is not None:
        text += f" (the {sweep.budget_s:g} s budget allowed no more)"
    return text
