"""How many CPU threads to train with, on a quiet machine and on a busy one: the ``threads`` setting's evidence.

A busy machine is simulated by ``--busy`` spinning processes of our own (one
per busy core), started before a measurement and stopped after it; the other
helpers' load on a shared machine comes on top and is recorded (the 1-minute
load average before each run). Each measurement is a fresh child process:

- ``fit``: ``MLPClassifier(hidden_layer_sizes, batch_size, max_iter=epochs,
  threads=N, backend=B)`` on ``make_classification`` data (float32), timed
  around ``fit`` (the data already in memory);
- ``train``: ``python -m gpubp train --backend B --threads N`` on the
  bundled digits with the command's defaults (what the issue's user ran),
  timed as the whole command.

Runs are interleaved (every backend x threads x condition once per repeat,
the order rotated each repeat); the table gives min / median / max seconds.

Usage::

    python benchmarks/threads.py [--repeats 3] [--threads 1,2] [--busy 1] [--json runs/threads.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def child_fit(backend: str, threads: str, rows: int, epochs: int) -> dict[str, Any]:
    """One ``fit`` in this process; the seconds of the whole fit and of its epochs."""
    import warnings

    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.exceptions import ConvergenceWarning

    import gpubp

    X, y = make_classification(rows, 100, n_informative=50, n_classes=10, random_state=0)
    X = X.astype(np.float32)
    est = gpubp.MLPClassifier(
        (256, 128), batch_size=256, max_iter=epochs, random_state=0, backend=backend,
        threads=None if threads == "none" else int(threads),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "epoch_seconds": [r["seconds"] for r in est.history_.epochs]}


def run_one(kind: str, backend: str, threads: str, busy: int, args: argparse.Namespace) -> dict[str, Any]:
    """A measurement in a fresh process, with ``busy`` spinning processes beside it."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL) for _ in range(busy)
    ]
    try:
        time.sleep(0.2 if busy else 0)  # let the spinners take their cores
        load = os.getloadavg()[0]
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        if kind == "fit":
            cmd = [sys.executable, __file__, "--child", backend, threads, str(args.rows), str(args.epochs)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            cmd = [sys.executable, "-m", "gpubp", "train", "--backend", backend, "--threads", threads, "--quiet",
                   "--json", "--out", os.path.join(args.tmp, f"run-{time.monotonic_ns()}")]  # fmt: skip
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            result = {"seconds": time.perf_counter() - t0, "epochs": json.loads(out.stdout)["epochs_run"]}
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    return {"kind": kind, "backend": backend, "threads": threads, "busy": busy, "load_before": load, **result}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="thread counts to compare (and 'none': the libraries' own)")
    p.add_argument("--backends", default="numpy,torch")
    p.add_argument("--kinds", default="fit,train")
    p.add_argument("--busy", type=int, default=1, help="spinning processes of the busy condition")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--json", default=None)
    p.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        backend, threads, rows, epochs = args.child
        print(json.dumps(child_fit(backend, threads, int(rows), int(epochs))))
        return 0
    import tempfile

    cases = [
        (kind, backend, threads, busy)
        for kind in args.kinds.split(",")
        for backend in args.backends.split(",")
        for threads in args.threads.split(",")
        for busy in (0, args.busy)
    ]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        for r in range(args.repeats):
            shift = r % len(cases)
            for case in cases[shift:] + cases[:shift]:
                runs.append(run_one(*case, args))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    rows = []
    print(f"{'kind':<6} {'backend':<8} {'threads':>7} {'busy':>4}   min / median / max s    load before")
    for kind, backend, threads, busy in cases:
        mine = [x for x in runs if (x["kind"], x["backend"], x["threads"], x["busy"]) == (kind, backend, threads, busy)]
        secs = sorted(x["seconds"] for x in mine)
        loads = [x["load_before"] for x in mine]
        row = {"kind": kind, "backend": backend, "threads": threads, "busy": busy, "min": secs[0],
               "median": statistics.median(secs), "max": secs[-1], "load_before": loads}  # fmt: skip
        rows.append(row)
        print(
            f"{kind:<6} {backend:<8} {threads:>7} {busy:>4}   {secs[0]:6.2f} / {row['median']:6.2f} / {secs[-1]:6.2f}"
            f"    {', '.join(f'{v:.1f}' for v in loads)}"
        )
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"cpus": os.cpu_count(), "args": vars(args) | {"tmp": None}, "rows": rows, "runs": runs}, f,
                      indent=1)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
