"""``gpubp bench``: how fast one training step runs on each backend and device.

A point of the sweep is an MLP of ``depth`` square Linear layers
(``width x width``, ReLU between, linear output) trained with MSE (or
softmax cross-entropy over ``width`` classes) and plain SGD on one
device-resident batch. One *step* is :func:`gpubp.train.train_step`: forward,
loss, backward, update. For each point we report the median step time after
warm-up, samples per second, achieved GFLOP/s and that as a share of the
device's matrix-multiply peak, measured in the same run.

Timing is honest on GPUs: every timed block of steps ends with
:func:`gpubp.backend.synchronize`, and the warm-up steps also run every kernel
once (CuPy compiles its elementwise kernels on first use). Backends are
interleaved point by point, so their ratios are measured side by side.

The FLOP count is the usual one: the three matrix products of each layer
(forward ``X W``, backward ``X^T dY`` and ``dY W^T``) cost
``2 * batch * fan_in * fan_out`` each, so a step costs
``6 * batch * sum(fan_in * fan_out)`` (:func:`step_flops`). Training does not
compute the first layer's ``dX`` (nothing upstream learns), so the measured
step does ``2 * batch * fan_in_0 * fan_out_0`` fewer; the reported GFLOP/s
count only the work done (``input_grad=False``).

The scripts in ``benchmarks/`` share the timing helpers here
(:func:`step_flops`, :func:`interleaved`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .backend import (
    Backend,
    backend_report,
    cpu_threads,
    device_name,
    host_rng,
    library_version,
    resolve,
    synchronize,
)
from .errors import GpubpError
from .losses import CrossEntropyLoss, MSELoss
from .network import mlp
from .optim import SGD
from .train import train_step

#: The sweep of ``--quick`` (< 60 s on two CPU cores) and of a full run.
QUICK = {"batches": (16, 64, 256, 1024), "widths": (128, 512, 2048), "depths": (2,), "repeats": 5, "warmup": 2}
FULL = {"batches": (16, 64, 256, 1024, 4096), "widths": (128, 512, 2048), "depths": (2, 4), "repeats": 10, "warmup": 3}

#: Size n of the square matmul that measures each device's peak (CPU, GPU).
PEAK_N = {"cpu": 2048, "gpu": 8192}

#: Shortest timed block: short steps are repeated until one block lasts this long.
MIN_BLOCK_S = {"quick": 0.005, "full": 0.02}

#: What ``--backends`` accepts: a name, optionally ``:DEVICE``.
BENCH_BACKENDS = ("numpy", "torch", "cupy", "array_api_strict")

NO_GPU = "no GPU: crossover not measured"

LEARNING_RATE = 1e-3


def step_flops(sizes: Sequence[int], batch: int, *, input_grad: bool = True) -> int:
    """Floating-point operations of one training step of an MLP with layer widths ``sizes``.

    ``6 * batch * sum(fan_in * fan_out)``: three matrix products per layer
    (``X W``, ``X^T dY``, ``dY W^T``) of ``2 * batch * fan_in * fan_out`` each.
    Elementwise work (bias, activation, loss, update) is left out.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 256, 256, 10)``.
    batch : int
    input_grad : bool
        False leaves out the first layer's ``dX = dY W^T``, which training skips.
    """
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    flops = 6 * batch * sum(n_in * n_out for n_in, n_out in layers)
    if not input_grad:
        flops -= 2 * batch * layers[0][0] * layers[0][1]
    return flops


# ---------------------------------------------------------------------------
# Timing: warm-up, calibrated blocks, interleaved repeats, medians


@dataclass
class Timed:
    """Something to time: ``step()`` queues one unit of work, ``sync()`` waits for it."""

    step: Callable[[], Any]
    sync: Callable[[], None] = lambda: None
    inner: int = 1  # steps per timed block, set by calibration
    on: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext  # its GPU made current


def _block(timed: Timed) -> float:
    """Seconds per step over one block of ``timed.inner`` steps, device work included.

    One untimed step first: the first step after another library ran pays for
    handing the cores from that library's thread pool to this one's (up to tens
    of milliseconds on a busy two-core machine), which is not this method's cost.
    """
    with timed.on():
        timed.step()
        timed.sync()
        t0 = time.perf_counter()
        for _ in range(timed.inner):
            timed.step()
        timed.sync()
    return (time.perf_counter() - t0) / timed.inner


def interleaved(
    methods: dict[str, Timed], *, repeats: int, warmup: int = 2, min_block_s: float = 0.005, max_inner: int = 1000
) -> dict[str, list[float]]:
    """Per-step seconds of each method, one sample per repeat, methods interleaved.

    Each method first runs ``warmup`` steps (compilation, caches, allocator),
    then is calibrated so one timed block lasts at least ``min_block_s``. Each
    repeat times one block of every method (after one untimed step of it), in
    an order rotated per repeat, so slow drifts of a shared machine hit every
    method alike.
    """
    names = list(methods)
    for name in names:
        timed = methods[name]
        with timed.on():
            for _ in range(warmup):
                timed.step()
            timed.sync()
        timed.inner = 1
        one = _block(timed)
        if one < min_block_s:  # cheap to look again: one step may have met a hiccup
            one = min(one, _block(timed), _block(timed))
        timed.inner = max(1, min(max_inner, math.ceil(min_block_s / max(one, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_block(methods[name]))
    return samples


# ---------------------------------------------------------------------------
# What to benchmark: targets (backend + device) and sweep points


@dataclass
class Target:
    """One backend on one device, with its measured matmul peak."""

    backend: Backend
    gpu: bool
    threads: int | None = None
    peak_gflops: float | None = None
    peak_n: int | None = None

    @property
    def label(self) -> str:
        return f"{self.backend.name} {device_name(self.backend.device)}"


def _parse_backends(text: str | None) -> list[tuple[str, str | None]] | None:
    """``numpy,torch:cuda:0`` -> [(name, device)]; None means every available one."""
    if text is None or text.strip() in ("", "all"):
        return None
    specs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, device = item.partition(":")
        name = name.strip().lower()
        if name not in BENCH_BACKENDS:
            raise GpubpError(f"--backends: unknown backend {name!r} (choose from {', '.join(BENCH_BACKENDS)})")
        specs.append((name, device or None))
    if not specs:
        raise GpubpError("--backends: name at least one backend, e.g. numpy,torch")
    return specs


def _default_specs() -> tuple[list[tuple[str, str | None]], list[dict[str, str]]]:
    """Every backend and device that can run here (and why the others cannot)."""
    specs: list[tuple[str, str | None]] = []
    skipped: list[dict[str, str]] = []
    for entry in backend_report():
        name = entry["name"]
        if name == "array_api_strict":  # a conformance checker, not a speed backend
            continue
        if not entry["available"]:
            skipped.append({"backend": name, "reason": entry["reason"] or "unavailable"})
            continue
        for dev in entry["devices"]:
            specs.append((name, None if name == "cupy" and dev["name"] == "cuda:0" else dev["name"]))
        if name == "torch" and len(entry["devices"]) == 1:
            skipped.append({"backend": "torch cuda", "reason": "torch sees no CUDA device"})
    return specs, skipped


def resolve_targets(text: str | None) -> tuple[list[Target], list[dict[str, str]]]:
    """The targets ``--backends`` names (default: all available), and those skipped with why.

    A GPU backend that cannot run here is skipped with its reason; an unknown
    name is an error, and so is a list in which nothing can run.
    """
    specs = _parse_backends(text)
    skipped: list[dict[str, str]] = []
    if specs is None:
        specs, skipped = _default_specs()
    targets: list[Target] = []
    for name, device in specs:
        try:
            backend = resolve(name, device)
        except GpubpError as exc:
            if text is not None and name in ("numpy", "array_api_strict"):
                raise
            skipped.append({"backend": f"{name}:{device}" if device else name, "reason": str(exc)})
            continue
        gpu = device_name(backend.device).startswith("cuda")
        targets.append(Target(backend, gpu, threads=cpu_threads(backend)))
    if not targets:
        reasons = "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped)
        raise GpubpError(f"--backends: nothing can run here ({reasons})")
    return targets, skipped


def measure_peak(target: Target, dtype: str, n: int | None = None, repeats: int = 5) -> float:
    """GFLOP/s of an ``n x n`` matmul with the target's ``xp``: the best of ``repeats`` blocks.

    A peak is the best the device does, so the fastest block counts (a shared
    machine only ever slows a block down). Measured again after the sweep, the
    target keeps the higher of the two.
    """
    backend = target.backend
    n = n or PEAK_N["gpu" if target.gpu else "cpu"]
    gen = host_rng(0)
    dt = backend.dtype(dtype)
    with backend.activate():
        a = backend.asarray(gen.standard_normal((n, n)), dtype=dt)
        b = backend.asarray(gen.standard_normal((n, n)), dtype=dt)
    xp = backend.xp
    timed = Timed(lambda: xp.matmul(a, b), lambda: synchronize(backend), on=backend.activate)
    seconds = min(interleaved({"peak": timed}, repeats=repeats, warmup=1, min_block_s=0.05)["peak"])
    target.peak_n = n
    target.peak_gflops = max(target.peak_gflops or 0.0, 2 * n**3 / seconds / 1e9)
    return target.peak_gflops


def point_sizes(width: int, depth: int) -> list[int]:
    """Layer widths of a sweep point: ``depth`` square ``width x width`` Linear layers."""
    return [width] * (depth + 1)


def training_step(backend: Backend, sizes: Sequence[int], batch: int, *, dtype: str, loss: str, seed: int = 0) -> Timed:
    """One :func:`train_step` of ``mlp(sizes)`` with plain SGD on a fixed device batch."""
    with backend.activate():
        return _training_step(backend, sizes, batch, dtype=dtype, loss=loss, seed=seed)


def _training_step(backend: Backend, sizes: Sequence[int], batch: int, *, dtype: str, loss: str, seed: int) -> Timed:
    net = mlp(sizes, rng=seed, backend=backend, dtype=dtype)
    net.layers[0].needs_input_grad = False  # as Model trains: nothing upstream of the first layer learns
    optimizer = SGD(net.parameters(), lr=LEARNING_RATE)
    gen = host_rng(seed + 1)
    X = backend.asarray(gen.standard_normal((batch, sizes[0])), dtype=backend.dtype(dtype))
    if loss == "ce":
        loss_fn: Any = CrossEntropyLoss()
        y = backend.asarray(gen.integers(0, sizes[-1], size=batch), dtype=backend.xp.int64)
    else:
        loss_fn = MSELoss()
        y = backend.asarray(gen.standard_normal((batch, sizes[-1])), dtype=backend.dtype(dtype))
    return Timed(lambda: train_step(net, loss_fn, optimizer, X, y), lambda: synchronize(backend), on=backend.activate)


# ---------------------------------------------------------------------------
# The sweep


@dataclass
class Sweep:
    """What to measure: the grid, the dtype and loss, and how often."""

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
    points: list[tuple[int, int, int]] = field(init=False)

    def __post_init__(self) -> None:
        for flag, values in (("batches", self.batches), ("widths", self.widths), ("depths", self.depths)):
            if not values or any(not isinstance(v, int) or v <= 0 for v in values):
                raise GpubpError(f"--{flag}: expected comma-separated positive integers, got {values!r}")
        if self.repeats < 1:
            raise GpubpError(f"--repeats: must be at least 1, got {self.repeats}")
        if self.warmup < 1:
            raise GpubpError(f"--warmup: must be at least 1 (it covers kernel compilation), got {self.warmup}")
        if self.loss not in ("mse", "ce"):
            raise GpubpError(f"--loss: choose mse or ce, got {self.loss!r}")
        if self.dtype not in ("float32", "float64"):
            raise GpubpError(f"--dtype: unknown dtype {self.dtype!r} (choose float32 or float64)")
        if self.peak_n is not None and self.peak_n <= 0:
            raise GpubpError(f"--peak-size: must be a positive integer, got {self.peak_n}")
        self.points = [(d, w, b) for d in self.depths for w in self.widths for b in self.batches]


def run_sweep(targets: list[Target], sweep: Sweep, log: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Time every point of ``sweep`` on every target, interleaved; one result row per (point, target)."""
    min_block = MIN_BLOCK_S["quick" if sweep.quick else "full"]
    rows = []
    for depth, width, batch in sweep.points:
        sizes = point_sizes(width, depth)
        flops = step_flops(sizes, batch, input_grad=False)
        methods = {
            t.label: training_step(t.backend, sizes, batch, dtype=sweep.dtype, loss=sweep.loss, seed=sweep.seed)
            for t in targets
        }
        samples = interleaved(methods, repeats=sweep.repeats, warmup=sweep.warmup, min_block_s=min_block)
        for t in targets:
            median = statistics.median(samples[t.label])
            gflops = flops / median / 1e9
            rows.append(
                {
                    "target": t.label,
                    "backend": t.backend.name,
                    "device": device_name(t.backend.device),
                    "gpu": t.gpu,
                    "depth": depth,
                    "width": width,
                    "batch": batch,
                    "sizes": sizes,
                    "flops_per_step": flops,
                    "median_s": median,
                    "min_s": min(samples[t.label]),
                    "steps_per_block": methods[t.label].inner,
                    "samples_per_s": batch / median,
                    "gflops": gflops,
                    "peak_share": gflops / t.peak_gflops if t.peak_gflops else None,
                }
            )
        log(
            f"  depth {depth} width {width} batch {batch}: "
            + ", ".join(f"{r['target']} {_ms(r['median_s'])}" for r in rows[-len(targets) :])
        )
    return rows


def crossover(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per GPU target, depth and width: the smallest batch at which it beats every CPU target.

    Sorted by (width, batch): the first entry is the smallest width and batch at which a GPU wins.
    """
    cpu_best: dict[tuple[int, int, int], float] = {}
    for r in rows:
        if not r["gpu"]:
            key = (r["depth"], r["width"], r["batch"])
            cpu_best[key] = min(cpu_best.get(key, math.inf), r["median_s"])
    found: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["batch"]):
        key = (r["depth"], r["width"], r["batch"])
        if not r["gpu"] or key not in cpu_best or r["median_s"] >= cpu_best[key]:
            continue
        group = (r["target"], r["depth"], r["width"])
        if group not in found:
            found[group] = {
                "target": r["target"],
                "depth": r["depth"],
                "width": r["width"],
                "batch": r["batch"],
                "speedup": cpu_best[key] / r["median_s"],
            }
    return sorted(found.values(), key=lambda c: (c["width"], c["batch"], c["depth"]))


# ---------------------------------------------------------------------------
# Report: the table, the JSON document


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def environment(targets: list[Target]) -> dict[str, Any]:
    """Versions, BLAS libraries and thread counts, as the results depend on them."""
    env: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": library_version("numpy"),
        "torch": library_version("torch") if any(t.backend.name == "torch" for t in targets) else None,
        "cupy": library_version("cupy") if any(t.backend.name == "cupy" for t in targets) else None,
        "blas": blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    return env


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


def table(doc: dict[str, Any]) -> str:
    """The results as aligned text, one line per (point, target)."""
    w = max([14, *(len(t["target"]) for t in doc["targets"])])
    head = f"{'depth':>5} {'width':>6} {'batch':>6}  {'target':<{w}} {'step':>11} "
    head += f"{'samples/s':>11} {'GFLOP/s':>9} {'of peak':>8}"
    lines = [head, "-" * len(head)]
    for r in doc["results"]:
        share = f"{100 * r['peak_share']:.0f}%" if r["peak_share"] is not None else "-"
        lines.append(
            f"{r['depth']:>5} {r['width']:>6} {r['batch']:>6}  {r['target']:<{w}} {_ms(r['median_s']):>11} "
            f"{r['samples_per_s']:>11.4g} {r['gflops']:>9.1f} {share:>8}"
        )
    peaks = ", ".join(f"{t['target']} {t['peak_gflops']:.1f} GFLOP/s (n={t['peak_n']})" for t in doc["targets"])
    lines.append(f"matmul peak: {peaks}")
    lines.append(crossover_text(doc))
    return "\n".join(lines)


def crossover_text(doc: dict[str, Any]) -> str:
    """One line: where the GPU starts to win, or why that was not measured."""
    if not doc["gpu"]:
        return NO_GPU + (f" ({doc['no_gpu_reason']})" if doc.get("no_gpu_reason") else "")
    if not doc["crossover"]:
        return "crossover: no GPU target beat the CPU at any measured point"
    c = doc["crossover"][0]
    return (
        f"crossover: {c['target']} wins from batch {c['batch']} at width {c['width']} "
        f"(depth {c['depth']}, {c['speedup']:.2f}x the best CPU)"
    )


def run_bench(
    *,
    backends: str | None,
    sweep: Sweep,
    json_path: str | None,
    plot_path: str | None,
    report: TextIO = sys.stdout,
    log: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Measure; print the table and the paths written on ``report``, progress on ``log``.

    Writes the JSON document to ``json_path`` and the plot to ``plot_path``
    where they are not None; returns the document.
    """
    t0 = time.perf_counter()
    targets, skipped = resolve_targets(backends)

    def say(message: str) -> None:
        print(message, file=log, flush=True)

    gpu = any(t.gpu for t in targets)
    reasons = "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped)
    say(f"bench: {', '.join(t.label for t in targets)}; {sweep.dtype}, {sweep.loss}, {len(sweep.points)} points")
    if not gpu:
        say(f"{NO_GPU}" + (f" ({reasons})" if reasons else ""))
    for t in targets:
        measure_peak(t, sweep.dtype, sweep.peak_n, repeats=sweep.repeats)
        say(f"  {t.label}: matmul peak {t.peak_gflops:.1f} GFLOP/s (n={t.peak_n})")
    rows = run_sweep(targets, sweep, say)
    for t in targets:  # again: the sweep's steps may have met a faster phase of a shared machine
        measure_peak(t, sweep.dtype, sweep.peak_n, repeats=sweep.repeats)
    for r in rows:
        peak = next(t.peak_gflops for t in targets if t.label == r["target"])
        r["peak_share"] = r["gflops"] / peak if peak else None
    doc = {
        "gpubp": library_version("gpubp") or _own_version(),
        "environment": environment(targets),
        "sweep": {
            "batches": list(sweep.batches),
            "widths": list(sweep.widths),
            "depths": list(sweep.depths),
            "repeats": sweep.repeats,
            "warmup": sweep.warmup,
            "quick": sweep.quick,
            "dtype": sweep.dtype,
            "loss": sweep.loss,
            "optimizer": f"SGD(lr={LEARNING_RATE}, momentum=0)",
            "network": "depth Linear(width, width) layers, ReLU between, linear output",
            "flops": "6*batch*sum(fan_in*fan_out) minus the first layer's dX (not computed in training)",
        },
        "targets": [
            {
                "target": t.label,
                "backend": t.backend.name,
                "device": device_name(t.backend.device),
                "gpu": t.gpu,
                "threads": t.threads,
                "peak_gflops": t.peak_gflops,
                "peak_n": t.peak_n,
            }
            for t in targets
        ],
        "skipped": skipped,
        "gpu": gpu,
        "no_gpu_reason": None if gpu else (reasons or "no GPU backend in --backends"),
        "results": rows,
        "crossover": crossover(rows) if gpu else None,
    }
    doc["seconds"] = round(time.perf_counter() - t0, 2)
    print(table(doc), file=report, flush=True)
    print(f"{len(rows)} measurements in {doc['seconds']:.1f} s", file=report, flush=True)
    if json_path is not None:
        write_json(json_path, doc)
        print(f"json: {json_path}", file=report, flush=True)
    if plot_path is not None:
        from .plot import PLOT_HINT, plot_bench

        if plot_bench(doc, plot_path):
            print(f"plot: {plot_path}", file=report, flush=True)
        else:
            say(f"no plot: matplotlib is not installed ({PLOT_HINT})")
    return doc


def _own_version() -> str:
    from . import __version__

    return __version__


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` as JSON atomically (a temporary file renamed into place); also for benchmarks/."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise GpubpError(f"--json {path}: cannot write ({exc.strerror or exc})") from None
