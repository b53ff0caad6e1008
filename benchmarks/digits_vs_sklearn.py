"""Time to accuracy on the bundled digits: ``gpubp train`` defaults against scikit-learn's ``MLPClassifier()``.

Every method sees the same stratified split that ``gpubp train`` makes with its
default flags (``split_indices(n, val_fraction=0.1, test_fraction=0.2, seed=0)``):

- ``gpubp Model()``: ``gpubp.Model(backend="numpy", seed=s)`` with every other
  hyperparameter at its default, fitted on the train part with the val part as
  ``X_val``/``y_val`` (early stopping on validation loss), exactly as
  ``gpubp train`` does; it standardises internally on the train part.
- ``sklearn MLPClassifier()``: all defaults (``random_state=s``), fitted on
  train+val, since it stops on its own training loss; ``StandardScaler`` is
  fitted on those same train+val rows. Raw pixels are never used.
- ``sklearn MLPClassifier(early_stopping=True)``: the one variant, closest to
  gpubp's protocol: it holds out 10 % of train+val itself and stops on
  validation accuracy.
- ``gpubp train CLI``: the whole ``gpubp train --quiet --json`` subprocess,
  Python start-up and imports included, defaults (seed 0) every repeat; for
  reference only.

Timed with ``time.perf_counter``: model construction, preprocessing and ``fit``
(not the test evaluation). Runs are interleaved, their order rotated each
repeat, after one untimed warm-up of each in-process method. Repeat ``r`` uses
seed ``r`` for both libraries; the split stays the seed-0 one.

Usage::

    python benchmarks/digits_vs_sklearn.py [--repeats 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import gpubp
from gpubp.bench import write_json
from gpubp.datasets import load_dataset, split_indices

GPUBP = "gpubp Model()"
SKLEARN = "sklearn MLPClassifier()"
SKLEARN_ES = "sklearn MLPClassifier(early_stopping=True)"
CLI = "gpubp train CLI (subprocess)"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats per method, seeds 0..N-1 (default 5)")
    parser.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON here")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess runs")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def _nproc() -> str:
    exe = shutil.which("nproc")
    if exe:
        try:
            return subprocess.run([exe], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    affinity = getattr(os, "sched_getaffinity", None)
    return str(len(affinity(0)) if affinity else os.cpu_count())


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _lib_folder(path: str | None) -> str | None:
    """``numpy.libs/libscipy_openblas64_....so``: which package ships the library."""
    return os.path.join(*path.split(os.sep)[-2:]) if path else None


def _blas_info() -> list[dict[str, Any]]:
    """BLAS/OpenMP libraries loaded in this process (threadpoolctl), else numpy's build configuration."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
        return [
            {**{k: lib.get(k) for k in keys if k in lib}, "loaded_from": _lib_folder(lib.get("filepath"))}
            for lib in threadpool_info()
        ]
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception as exc:  # show_config's layout differs between NumPy versions
        return [{"source": "numpy.show_config", "error": repr(exc)}]
    return [{"source": "numpy.show_config", **{k: blas.get(k) for k in ("name", "version", "openblas configuration")}}]


def _environment() -> dict[str, Any]:
    import sklearn

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "nproc": _nproc(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "gpubp": gpubp.__version__,
        "blas": _blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "GPUBP_BACKEND": os.environ.get("GPUBP_BACKEND"),
        "thread_env": {
            k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ
        },
    }


class Data:
    """The digits, split as ``gpubp train`` splits them by default."""

    def __init__(self) -> None:
        ds = load_dataset("digits")
        split = split_indices(ds.X.shape[0], val_fraction=0.1, test_fraction=0.2, seed=0, y=ds.y)
        labels = np.asarray(ds.classes)[ds.y]  # the original labels, as gpubp train passes them
        self.X_train, self.y_train = ds.X[split.train], labels[split.train]
        self.X_val, self.y_val = ds.X[split.val], labels[split.val]
        self.X_test, self.y_test = ds.X[split.test], labels[split.test]
        self.X_trval = np.concatenate([self.X_train, self.X_val])
        self.y_trval = np.concatenate([self.y_train, self.y_val])
        self.sizes = {"train": len(split.train), "val": len(split.val), "test": len(split.test)}


def run_gpubp(data: Data, seed: int, **overrides: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = gpubp.Model(backend="numpy", seed=seed, **overrides)
    history = model.fit(data.X_train, data.y_train, X_val=data.X_val, y_val=data.y_val)
    seconds = time.perf_counter() - t0
    test = model.evaluate(data.X_test, data.y_test)
    return {
        "seconds": seconds,
        "accuracy": test["accuracy"],
        "epochs": len(history.epochs),
        "best_epoch": history.best_epoch,
        "stopped": history.stopped,
    }


def run_sklearn(data: Data, seed: int, **params: Any) -> dict[str, Any]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()
        scaler = StandardScaler().fit(data.X_trval)
        clf = MLPClassifier(random_state=seed, **params).fit(scaler.transform(data.X_trval), data.y_trval)
        seconds = time.perf_counter() - t0
    accuracy = float(clf.score(scaler.transform(data.X_test), data.y_test))
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "epochs": int(clf.n_iter_),
        "convergence_warning": any(issubclass(w.category, ConvergenceWarning) for w in caught),
    }


def _cli_command() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "gpubp")
    if not os.path.isfile(exe):
        exe = shutil.which("gpubp") or ""
    return [exe] if exe else [sys.executable, "-m", "gpubp"]


def run_cli(out_dir: str) -> dict[str, Any]:
    command = [*_cli_command(), "train", "--quiet", "--json", "--out", out_dir]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr.strip()}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "accuracy": summary["test"]["accuracy"],
        "epochs": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "stopped": summary["stopped"],
        "fit_seconds_reported": summary["seconds"],
        "backend": summary["backend"],
    }


def _summary(runs: list[dict[str, Any]], reference: float | None) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    accuracy = [r["accuracy"] for r in runs]
    out: dict[str, Any] = {
        "repeats": len(runs),
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "median_accuracy": statistics.median(accuracy),
        "min_accuracy": min(accuracy),
        "median_epochs": statistics.median(r["epochs"] for r in runs),
        "time_vs_gpubp": statistics.median(seconds) / reference if reference else None,
    }
    if "convergence_warning" in runs[0]:
        out["convergence_warnings"] = sum(r["convergence_warning"] for r in runs)
    return out


def _table(summaries: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'method':<44} {'median s':>9} {'min s':>7} {'t/gpubp':>8} "
        f"{'med acc':>8} {'min acc':>8} {'epochs':>7} {'conv.warn':>9}"
    )
    lines = [head, "-" * len(head)]
    for name, s in summaries.items():
        warn = f"{s['convergence_warnings']}/{s['repeats']}" if "convergence_warnings" in s else "-"
        lines.append(
            f"{name:<44} {s['median_seconds']:>9.3f} {s['min_seconds']:>7.3f} {s['time_vs_gpubp']:>8.2f} "
            f"{s['median_accuracy']:>8.4f} {s['min_accuracy']:>8.4f} {s['median_epochs']:>7g} {warn:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("digits_vs_sklearn: skipped, scikit-learn is not installed (pip install scikit-learn)")
        return 0

    env = _environment()
    if env["OPENBLAS_CORETYPE"] is not None:
        print(f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} (left as set)")
    data = Data()
    # One untimed warm-up each: lazy imports, BLAS thread start-up, first-touch allocations.
    run_gpubp(data, 0, max_epochs=2)
    run_sklearn(data, 0, max_iter=2)
    env["blas"] = _blas_info()  # after the warm-up, so every BLAS in use is loaded

    methods: dict[str, Callable[[int, str], dict[str, Any]]] = {
        GPUBP: lambda seed, tmp: run_gpubp(data, seed),
        SKLEARN: lambda seed, tmp: run_sklearn(data, seed),
        SKLEARN_ES: lambda seed, tmp: run_sklearn(data, seed, early_stopping=True),
    }
    if not args.no_cli:
        methods[CLI] = lambda seed, tmp: run_cli(os.path.join(tmp, f"run-{seed}"))
    names = list(methods)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="gpubp-bench-") as tmp:
        for seed in range(args.repeats):
            order = names[seed % len(names) :] + names[: seed % len(names)]  # rotate who goes first
            for name in order:
                record = methods[name](seed, tmp)
                record["seed"] = 0 if name == CLI else seed
                runs[name].append(record)
                print(
                    f"  repeat {seed}: {name:<44} {record['seconds']:7.3f} s  accuracy {record['accuracy']:.4f}",
                    flush=True,
                )

    reference = statistics.median(r["seconds"] for r in runs[GPUBP])
    summaries = {name: _summary(runs[name], reference) for name in names}
    g, s = summaries[GPUBP], summaries[SKLEARN]
    faster = g["median_seconds"] < s["median_seconds"]
    no_worse = g["median_accuracy"] >= s["median_accuracy"]
    shortfalls = [why for why, ok in (("accuracy lower", no_worse), ("slower", faster)) if not ok]
    verdict = (
        f"gpubp default vs MLPClassifier(): median accuracy {g['median_accuracy']:.4f} vs {s['median_accuracy']:.4f}, "
        f"median time {g['median_seconds']:.3f} s vs {s['median_seconds']:.3f} s "
        f"(sklearn/gpubp time ratio {s['median_seconds'] / g['median_seconds']:.2f}): "
        + (
            f"gpubp does NOT reach accuracy no worse in less wall time ({' and '.join(shortfalls)})."
            if shortfalls
            else "gpubp reaches accuracy no worse in less wall time."
        )
    )

    print()
    print(
        f"digits: {data.sizes['train']}/{data.sizes['val']}/{data.sizes['test']} train/val/test, "
        f"{args.repeats} repeats, {env['date']}"
    )
    print(
        f"numpy {env['numpy']}, scikit-learn {env['sklearn']}, gpubp {env['gpubp']}, python {env['python']}, "
        f"nproc {env['nproc']}, cpu {env['cpu']}"
    )
    for lib in env["blas"]:
        print("BLAS/threads: " + ", ".join(f"{k}={v}" for k, v in lib.items()))
    print()
    print(_table(summaries))
    print()
    print(
        "t/gpubp: median wall time over gpubp Model()'s median; the sklearn rows' value is sklearn_time / gpubp_time."
    )
    print(verdict)

    if args.json:
        result = {
            "benchmark": "digits_vs_sklearn",
            "environment": env,
            "split": data.sizes,
            "repeats": args.repeats,
            "summary": summaries,
            "sklearn_over_gpubp_time": s["median_seconds"] / g["median_seconds"],
            "gpubp_no_worse_and_faster": faster and no_worse,
            "verdict": verdict,
            "runs": runs,
        }
        write_json(args.json, result)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
