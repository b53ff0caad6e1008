"""Data-parallel scaling: step time, samples per second and the reduction's share, for 1, 2, ... processes.

Each configuration is one ``mpiexec -n N`` launch of this file in worker mode.
Every process builds the same network and a fixed global batch, takes its
share of the batch's rows (N nearly equal contiguous parts) and runs
:func:`gpubp.step.train_step` with the group's ``reduce_gradients`` -- the
seam data-parallel training uses -- timing every step and, inside it, the
reduction (device synchronised and the processes met at a barrier before its
clock starts, so neither compute nor waiting for the slowest process counts as
communication; the waiting is reported beside it). ``N = 1 (no MPI)`` is the
same loop without a group: the one-process baseline.

The global batch is fixed (strong scaling: the model one process would
train), so samples/s = global batch / step time, and the ideal speed-up is N
while N does not exceed the cores. Configurations run interleaved, round after
round, and each keeps its median, so a shared machine's drifts hit all alike.
BLAS is held to one thread per process (``OPENBLAS_NUM_THREADS=1`` and
friends) so N processes use N cores, and the baseline one.

Usage::

    python benchmarks/scaling.py                       # CPU, N = 1 (no MPI), 1, 2, up to the cores
    python benchmarks/scaling.py --processes 1,2,3 --sizes 784,1024,1024,10 --batch 2048
    python benchmarks/scaling.py --backend cupy        # one GPU per process, where there are GPUs
    python benchmarks/scaling.py --json scaling.json

The reduction modes (``ordered``: gather to rank 0, add in rank order,
broadcast; ``allreduce``: MPI's own) are both measured unless ``--reduce``
names one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ONE_THREAD = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def worker(args: argparse.Namespace) -> None:
    """One process of a configuration: time ``--steps`` steps; rank 0 prints one JSON line."""
    import numpy as np

    from gpubp.backend import host_rng, resolve, synchronize
    from gpubp.losses import CrossEntropyLoss
    from gpubp.network import mlp
    from gpubp.optim import SGD
    from gpubp.step import train_step

    group = None
    if args.mpi:
        from gpubp.distributed import data_parallel

        group = data_parallel(reduce=args.reduce)  # ordered or allreduce ("none": the baseline, no MPI)
    rank, size = (0, 1) if group is None else (group.rank, group.size)
    backend = resolve(args.backend, None if group is None else group.device_for(args.backend, None))
    sizes = [int(s) for s in args.sizes.split(",")]
    gen = host_rng(0)
    X = gen.standard_normal((args.batch, sizes[0]))
    y = gen.integers(0, sizes[-1], size=args.batch)
    mine = np.array_split(np.arange(args.batch), size)[rank]
    reduce_seconds: list[float] = []
    wait_seconds: list[float] = []
    reduce = None
    if group is not None:

        def reduce(params: Any, weight: Any) -> Any:
            synchronize(backend)  # the step's compute is done
            t0 = time.perf_counter()
            group.comm.Barrier()  # waiting for the slowest process: imbalance, not communication
            t1 = time.perf_counter()
            total = group.reduce_gradients(params, weight)
            synchronize(backend)
            wait_seconds.append(t1 - t0)
            reduce_seconds.append(time.perf_counter() - t1)
            return total

    with backend.activate():
        dtype = backend.dtype(args.dtype)
        net = mlp(sizes, rng=0, backend=backend, dtype=args.dtype)
        net.layers[0].needs_input_grad = False
        optimizer = SGD(net.parameters(), lr=1e-3, momentum=0.9)
        xb = backend.asarray(X[mine], dtype=dtype)
        yb = backend.asarray(y[mine], dtype=backend.xp.int64)
        loss_fn = CrossEntropyLoss()
        steps = []
        for i in range(args.warmup + args.steps):
            if group is not None:
                group.comm.Barrier()  # every process starts the step together
            t0 = time.perf_counter()
            train_step(net, loss_fn, optimizer, xb, yb, reduce)
            synchronize(backend)
            if i >= args.warmup:
                steps.append(time.perf_counter() - t0)
    reduce_seconds, wait_seconds = reduce_seconds[args.warmup :], wait_seconds[args.warmup :]
    local = [statistics.median(x) if x else 0.0 for x in (steps, reduce_seconds, wait_seconds)]
    table = [local] if group is None else group.comm.gather(local, root=0)
    if rank == 0:
        step = max(t for t, _, _ in table)  # the step ends when the slowest process's does
        red = statistics.median(r for _, r, _ in table)
        wait = statistics.median(w for _, _, w in table)
        print(json.dumps({"step_s": step, "reduce_s": red, "wait_s": wait, "backend": backend.describe()}), flush=True)


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _launch(n: int | None, reduce: str, args: argparse.Namespace) -> dict[str, Any]:
    """One configuration: ``n`` MPI processes (None: one process without MPI); rank 0's JSON."""
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--sizes", args.sizes, "--batch", str(args.batch),
          "--steps", str(args.steps), "--warmup", str(args.warmup), "--dtype", args.dtype, "--backend", args.backend,
          "--reduce", reduce]  # fmt: skip
    cmd = me if n is None else [args.mpiexec, "-n", str(n), *me, "--mpi"]
    env = {**os.environ, **ONE_THREAD}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if out.returncode != 0:
        raise SystemExit(f"scaling: {' '.join(cmd[:4])} ... failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", default=None, help="comma-separated N (default: 1 up to the cores, at least 2)")
    p.add_argument("--sizes", default="784,512,512,10", help="layer widths, input first")
    p.add_argument("--batch", type=int, default=1024, help="the global batch")
    p.add_argument("--steps", type=int, default=20, help="timed steps per configuration and round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each configuration keeps its median")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--backend", default="numpy", help="numpy, torch, cupy (one GPU per process), ...")
    p.add_argument("--reduce", default=None, choices=("ordered", "allreduce", "none"), help="default: both")
    p.add_argument("--json", default=None, metavar="PATH")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    args.mpiexec = _mpiexec()
    if args.mpiexec is None:
        raise SystemExit("scaling: no mpiexec found (pip install mpich mpi4py, or load your cluster's MPI)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = [int(n) for n in args.processes.split(",")] if args.processes else list(range(1, max(cores, 2) + 1))
    modes = [args.reduce] if args.reduce else ["ordered", "allreduce"]
    configs: list[tuple[int | None, str]] = [(None, "none")] + [(n, m) for n in counts for m in modes]
    samples: dict[tuple[int | None, str], list[dict[str, Any]]] = {c: [] for c in configs}
    for r in range(args.rounds):
        for config in configs[r % len(configs) :] + configs[: r % len(configs)]:  # rotated: drifts hit all alike
            samples[config].append(_launch(config[0], config[1], args))
    rows = []
    base = statistics.median(s["step_s"] for s in samples[(None, "none")])
    for (n, mode), got in samples.items():
        step = statistics.median(s["step_s"] for s in got)
        red = statistics.median(s["reduce_s"] for s in got)
        wait = statistics.median(s["wait_s"] for s in got)
        rows.append({"processes": n or 1, "mpi": n is not None, "reduce": mode, "step_ms": step * 1e3,
                     "samples_per_s": args.batch / step, "speedup": base / step, "reduce_share": red / step,
                     "wait_share": wait / step, "backend": got[0]["backend"]})  # fmt: skip
    print(f"global batch {args.batch}, sizes {args.sizes}, {args.dtype}, {args.backend}; {cores} cores; "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps")  # fmt: skip
    print(f"{'processes':>12} {'reduce':>10} {'step ms':>9} {'samples/s':>10} {'speed-up':>9} {'in reduce':>10} "
          f"{'waiting':>8}")  # fmt: skip
    for row in rows:
        label = f"{row['processes']}{'' if row['mpi'] else ' (no MPI)'}"
        print(f"{label:>12} {row['reduce']:>10} {row['step_ms']:>9.2f} {row['samples_per_s']:>10.0f} "
              f"{row['speedup']:>8.2f}x {row['reduce_share']:>9.0%} {row['wait_share']:>8.0%}")  # fmt: skip
    if args.json:
        from gpubp.bench.report import write_json

        write_json(args.json, {"args": {k: v for k, v in vars(args).items() if k != "mpiexec"}, "cores": cores,
                               "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
