"""Peak memory of training 1024-4096-4096-1024 (batch 512, float32) with momentum SGD, against what it must hold.

What training must hold at once, computed from the shapes (in bytes):

- parameters P = sum(fan_in * fan_out + fan_out), their gradients (P again)
  and the momentum velocities (P again): ``3 * P * 4``;
- activations: the input batch and every Linear layer's output for the batch
  (ReLU's output replaces its Linear's; the loss keeps y - y_hat, one more
  output-sized array): ``batch * (n_in + sum(widths) + n_out) * 4``;
- the data set: ``--batches`` batches of inputs and targets, sliced (views) per step.

The peak is measured in fresh subprocesses, two ways:

- **RSS**: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end, minus the
  same figure just before the network is built (interpreter + NumPy + gpubp
  imported, BLAS started by a small matmul, so its thread buffers are in the
  baseline). This is what the operating system sees, allocator slack included.
  The current RSS (``/proc/self/statm``) after every epoch shows whether memory grows.
- **tracemalloc**: NumPy reports every array buffer it allocates to
  ``tracemalloc``, so ``get_traced_memory()``'s peak counts exactly the bytes
  of live arrays (plus Python objects), without allocator slack or BLAS buffers.
  Run in its own subprocess, as tracing slows allocation down.

Usage::

    python benchmarks/memory.py [--epochs 3] [--batches 4] [--json memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

SIZES = (1024, 4096, 4096, 1024)
BATCH = 512
MiB = 2**20


def analytic(sizes: tuple[int, ...], batch: int, n_batches: int, itemsize: int = 4) -> dict[str, int]:
    """Bytes that training must hold at its peak, by kind."""
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return {
        "parameters": params * itemsize,
        "gradients": params * itemsize,
        "optimizer state (velocity)": params * itemsize,
        "activations": batch * (sizes[0] + sum(sizes[1:]) + sizes[-1]) * itemsize,
        "data set": n_batches * batch * (sizes[0] + sizes[-1]) * itemsize,
    }


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc), or -1 elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return -1


def _maxrss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(mode: str, epochs: int, n_batches: int) -> dict[str, Any]:
    """Train in this (fresh) process and measure; ``mode`` is ``rss`` or ``tracemalloc``."""
    import numpy as np

    import gpubp

    np.ones((256, 256), dtype=np.float32) @ np.ones((256, 256), dtype=np.float32)  # start BLAS threads
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
    baseline = _maxrss_bytes()
    baseline_now = _rss_bytes()
    gen = np.random.default_rng(0)
    X = gen.standard_normal((n_batches * BATCH, SIZES[0]), dtype=np.float32)
    y = gen.standard_normal((n_batches * BATCH, SIZES[-1]), dtype=np.float32)
    net = gpubp.mlp(list(SIZES), rng=0, backend="numpy", dtype="float32")
    net.layers[0].needs_input_grad = False  # as gpubp.Model trains
    loss_fn = gpubp.MSELoss()
    optimizer = gpubp.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    per_epoch = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(n_batches):
            xb, yb = X[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]  # views, no copies
            loss = gpubp.train_step(net, loss_fn, optimizer, xb, yb)
        record = {"loss": float(loss), "rss_now": _rss_bytes() - baseline_now, "maxrss": _maxrss_bytes() - baseline}
        if mode == "tracemalloc":
            record["traced_now"], record["traced_peak"] = tracemalloc.get_traced_memory()
        per_epoch.append(record)
    return {
        "mode": mode,
        "seconds": time.perf_counter() - t0,
        "baseline_maxrss": baseline,
        "epochs": per_epoch,
        "peak": per_epoch[-1]["traced_peak"] if mode == "tracemalloc" else per_epoch[-1]["maxrss"],
        "numpy": np.__version__,
    }


def run_child(mode: str, epochs: int, n_batches: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--epochs", str(epochs), "--batches", str(n_batches)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4, help="batches per epoch (the data set's size)")
    parser.add_argument("--json", metavar="PATH", default=None)
    parser.add_argument("--child", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.epochs, args.batches)))
        return 0

    need = analytic(SIZES, BATCH, args.batches)
    total = sum(need.values())
    print(
        f"training {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, SGD(momentum=0.9), "
        f"{args.epochs} epochs x {args.batches} steps"
    )
    print("what training must hold (analytic):")
    for kind, nbytes in need.items():
        print(f"  {kind:<28} {nbytes / MiB:9.1f} MiB")
    print(f"  {'sum':<28} {total / MiB:9.1f} MiB   (target: peak <= 1.5 x = {1.5 * total / MiB:.1f} MiB)")
    results = {mode: run_child(mode, args.epochs, args.batches) for mode in ("rss", "tracemalloc")}
    print("measured (fresh subprocess each):")
    for mode, r in results.items():
        what = "ru_maxrss - baseline" if mode == "rss" else "tracemalloc peak"
        print(f"  {what:<28} {r['peak'] / MiB:9.1f} MiB = {r['peak'] / total:.2f} x the sum")
    rss = results["rss"]["epochs"]
    print("  RSS after each epoch (now - baseline): " + ", ".join(f"{e['rss_now'] / MiB:.1f}" for e in rss) + " MiB")
    traced = results["tracemalloc"]["epochs"]
    print(
        "  traced after each epoch:               " + ", ".join(f"{e['traced_now'] / MiB:.1f}" for e in traced) + " MiB"
    )
    if args.json:
        # here, not at the top: the children measure what importing gpubp costs
        from gpubp.bench.report import write_json

        doc = {"sizes": SIZES, "batch": BATCH, "analytic_bytes": need, "analytic_sum": total, "measured": results}
        write_json(args.json, doc)
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
