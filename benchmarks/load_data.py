"""Reading a large numeric CSV file: gpubp's reader against pandas.read_csv, time and peak memory.

Two files are written once (kept in ``--folder`` and reused): a long one,
1,000,000 rows x 50 columns (49 features and an integer label), and a wide
one, 2,000 rows x 20,000 columns; cells are ``repr`` of standard normal
floats, about 19 bytes each. Each read runs in a fresh child process, so
neither reader inherits the other's memory, and the readers take turns
(gpubp, pandas, pandas, gpubp, ...) so that machine noise hits both alike.

- **time**: ``time.perf_counter`` around ``gpubp.data.load_dataset(path)``
  (features as float64, the label typed) or ``pandas.read_csv(path)``; each
  library is imported before the clock starts.
- **peak memory**: the child's ``VmHWM`` from ``/proc/self/status`` at the end
  (``ru_maxrss`` where there is no /proc; on Linux ``ru_maxrss`` is no use here,
  as a child inherits its parent's figure across fork and exec): the most
  resident memory the process ever had, interpreter and libraries included,
  and the file's pages where a reader maps the file. It is compared with the
  file's size (the target: at most 3 x); "read" is that peak less the resident
  memory just before the read (interpreter and libraries).

The target (issues 13.6 and 15.2): gpubp's median time at most 1.5 x pandas'
on the long file, peak memory at most 3 x the file's size.

Usage::

    python benchmarks/load_data.py [--repeats 5] [--folder runs/load-data] [--json runs/load_data.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 2**20

CHILD = r"""
import json, resource, sys, time


def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


reader, path = sys.argv[1], sys.argv[2]
if reader == "pandas":
    import pandas
    read = pandas.read_csv
else:
    from gpubp.data import load_dataset as read
    if reader == "gpubp-exact":
        import gpubp.data.csv_file as csv_file
        csv_file.polars = lambda: None
    else:
        try:
            import polars  # noqa: F401  (imported before the clock, as pandas is)
        except ImportError:
            pass  # gpubp reads with its exact reader
before = status("VmRSS")
start = time.perf_counter()
data = read(path)
seconds = time.perf_counter() - start
peak = status("VmHWM")
shape = list(data.X.shape) if hasattr(data, "X") else list(data.shape)
print(json.dumps({"seconds": seconds, "peak": peak, "before": before, "shape": shape}))
"""


def write_csv(path: str, rows: int, cols: int, seed: int = 0) -> None:
    """A CSV file of ``rows`` x ``cols``: cols - 1 float features (repr), an integer label 0..9 last."""
    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as out:
        out.write(",".join([f"x{j}" for j in range(cols - 1)] + ["label"]) + "\n")
        block = max(1, 2_000_000 // cols)
        for start in range(0, rows, block):
            n = min(block, rows - start)
            X = rng.standard_normal((n, cols - 1)).tolist()
            labels = rng.integers(0, 10, n).tolist()
            out.write("".join(",".join(map(repr, x)) + f",{c}\n" for x, c in zip(X, labels, strict=True)))
    os.replace(tmp, path)


def measure(reader: str, path: str) -> dict[str, Any]:
    """One read in a fresh child process: seconds, peak RSS bytes, shape read."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, reader, path], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{reader} failed on {path}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="reads per reader and file (default 5)")
    parser.add_argument("--folder", default=os.path.join(REPO, "runs", "load-data"), help="where the CSV files live")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--wide-rows", type=int, default=2_000)
    parser.add_argument("--wide-cols", type=int, default=20_000)
    parser.add_argument("--no-wide", action="store_true", help="measure the long file only")
    parser.add_argument("--exact", action="store_true", help="also time gpubp's exact reader once (slow)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    os.makedirs(args.folder, exist_ok=True)
    if importlib.util.find_spec("polars") is None:
        print("polars is not installed: gpubp reads every file with its exact reader (pip install polars)")
    files = {"long": (args.rows, args.cols)}
    if not args.no_wide:
        files["wide"] = (args.wide_rows, args.wide_cols)
    results: dict[str, Any] = {}
    for name, (rows, cols) in files.items():
        path = os.path.join(args.folder, f"{name}-{rows}x{cols}.csv")
        started = time.perf_counter()
        write_csv(path, rows, cols)
        size = os.path.getsize(path)
        print(f"{name}: {path}, {rows} x {cols}, {size / MiB:.0f} MiB (ready in {time.perf_counter() - started:.0f} s)")
        runs: dict[str, list[dict[str, Any]]] = {"gpubp": [], "pandas": []}
        for r in range(args.repeats):
            for reader in ("gpubp", "pandas") if r % 2 == 0 else ("pandas", "gpubp"):
                runs[reader].append(measure(reader, path))
                print(f"  {reader:>6}: {runs[reader][-1]['seconds']:6.2f} s", flush=True)
        if args.exact:
            runs["gpubp-exact"] = [measure("gpubp-exact", path)]
        results[name] = {
            "path": path,
            "rows": rows,
            "cols": cols,
            "bytes": size,
            "readers": {
                reader: {
                    "seconds": spread([m["seconds"] for m in ms]),
                    "peak_bytes": spread([m["peak"] for m in ms]),
                    "peak_over_file": max(m["peak"] for m in ms) / size,
                    "read_peak_bytes": spread([m["peak"] - m["before"] for m in ms]),
                    "shape": ms[0]["shape"],
                }
                for reader, ms in runs.items()
            },
        }
        readers = results[name]["readers"]
        results[name]["time_ratio"] = readers["gpubp"]["seconds"]["median"] / readers["pandas"]["seconds"]["median"]

    print()
    print(f"{'file':<6} {'reader':<12} {'min s':>7} {'median s':>9} {'max s':>7} {'vs pandas':>10} "
          f"{'peak MiB':>9} {'peak/file':>10} {'read MiB':>9}")  # fmt: skip
    for name, res in results.items():
        for reader, r in res["readers"].items():
            ratio = r["seconds"]["median"] / res["readers"]["pandas"]["seconds"]["median"]
            s = r["seconds"]
            print(
                f"{name:<6} {reader:<12} {s['min']:7.2f} {s['median']:9.2f} {s['max']:7.2f} {ratio:9.2f}x "
                f"{r['peak_bytes']['max'] / MiB:9.0f} {r['peak_over_file']:9.2f}x "
                f"{r['read_peak_bytes']['max'] / MiB:9.0f}"
            )
    long = results["long"]
    ok_time = long["time_ratio"] <= 1.5
    ok_memory = long["readers"]["gpubp"]["peak_over_file"] <= 3
    print(
        f"\ntarget on the long file: time <= 1.5 x pandas: {long['time_ratio']:.2f} x "
        f"({'met' if ok_time else 'MISSED'}); peak <= 3 x file: "
        f"{long['readers']['gpubp']['peak_over_file']:.2f} x ({'met' if ok_memory else 'MISSED'})"
    )
    if args.json:
        from gpubp.bench.report import write_json

        write_json(args.json, {"benchmark": "load_data", "memory": "VmHWM of a fresh child", "files": results})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
