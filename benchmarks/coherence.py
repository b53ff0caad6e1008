"""Why elementwise work costs more right after a multi-threaded matrix product.

The SGD update of the first weight of 784-256-256-10 (``W -= lr * g``, W of
784 x 256 float32) is timed three ways, each a median over many steps:

- ``back-to-back``: the update alone, again and again;
- ``after X @ W``: right after a BLAS product that read W;
- ``after X @ W, on A``: right after the same product, but updating an array
  A that the product did not touch.

If the second is much slower than the other two, writing memory that BLAS's
other threads have just read is what costs (the cache lines must be taken back
from the other cores), not the update's arithmetic and not the BLAS threads'
spinning. Run it with ``OPENBLAS_NUM_THREADS=1`` as well: with one thread the
three agree.

Usage::

    python benchmarks/coherence.py [--steps 200] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from gpubp.bench.environment import blas_info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="updates per timed series")
    parser.add_argument("--repeats", type=int, default=7, help="series per case (median of medians)")
    args = parser.parse_args(argv)

    gen = np.random.default_rng(0)
    X = gen.standard_normal((128, 784), dtype=np.float32)  # the 784 shape's batch
    W, A, g = (gen.standard_normal((784, 256), dtype=np.float32) for _ in range(3))
    lr = np.float32(1e-3)

    def update(P: np.ndarray) -> float:
        start = time.perf_counter()
        P -= lr * g  # the SGD update, as gpubp and the numpy loop do it
        return time.perf_counter() - start

    cases = {
        "back-to-back": lambda: update(W),
        "after X @ W": lambda: (X @ W, update(W))[1],
        "after X @ W, on A": lambda: (X @ W, update(A))[1],
    }
    for case in cases.values():  # warm-up: BLAS threads started, allocator settled
        for _ in range(20):
            case()
    medians: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, case in cases.items():
            medians[name].append(statistics.median(case() for _ in range(args.steps)))

    threads = [lib.get("num_threads") for lib in blas_info() if lib.get("user_api") == "blas"]
    print(f"W -= lr * g, W {W.shape[0]} x {W.shape[1]} float32; BLAS threads: {threads or 'unknown'}")
    base = statistics.median(medians["back-to-back"])
    for name, values in medians.items():
        t = statistics.median(values)
        print(f"{name:<20} {t * 1e6:8.1f} us  ({t / base:.2f} x back-to-back)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
