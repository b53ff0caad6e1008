"""Time to accuracy on a large synthetic problem: gpubp's estimators against scikit-learn, skorch and PyTorch.

Every contender trains the same network -- ``features -> hidden... -> outputs``
with ReLU between, a linear output (softmax cross-entropy for the classifier,
squared error for the regressor) -- with Adam (no L2 penalty), the same step
size, batch size, number of epochs, float32 data and a shuffle every epoch:

- ``gpubp numpy`` / ``gpubp torch`` / ``gpubp cupy``: ``gpubp.MLPClassifier`` /
  ``MLPRegressor`` with ``backend=`` that library (cupy only where a GPU is
  usable; otherwise it is listed as skipped, with the reason), ``fit`` once;
- ``sklearn``: scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, one
  ``partial_fit`` per epoch (the same Adam state carries over; it is how
  scikit-learn lets a caller look between epochs);
- ``skorch``: ``NeuralNetClassifier`` / ``NeuralNetRegressor`` around a
  ``torch.nn.Sequential``, ``train_split=None``, shuffled batches;
- ``torch loop``: a plain PyTorch loop: tensors in memory, ``randperm``,
  slices, autograd, ``torch.optim.Adam``.

Each run is a fresh child process (so its peak memory is its own): it loads the
data from ``.npy`` files (in memory before the clock starts), trains, and after
every epoch scores the held-out test set (accuracy, or R^2) with the clock
paused, in chunks of 10,000 rows so the scoring adds little memory. Reported:
training wall time (everything inside ``fit``, no scoring), seconds per epoch,
final test score, time to the target score (the first epoch at or above it;
by default the lowest final score of any run, so every contender reaches it),
peak resident memory and the part of it training added to the data and
libraries. Runs are interleaved -- every contender once per repeat, the order
rotated each repeat -- so the machine's noise hits all alike.

Threads: gpubp uses its ``threads`` setting (``--threads``, default 'auto');
with ``--peer-threads default`` (the default) scikit-learn, skorch and the
PyTorch loop keep their libraries' own thread counts, as a user meets them;
with ``--peer-threads match`` they get gpubp's number (``threadpoolctl`` and
``torch.set_num_threads``), so every contender has the same CPU threads. The
thread counts in force are recorded with each run.

Usage::

    python benchmarks/time_to_accuracy.py                       # the issue's run: 500,000 rows, 3 repeats
    python benchmarks/time_to_accuracy.py --rows 100000 --repeats 1 --epochs 3
    python benchmarks/time_to_accuracy.py --json runs/tta.json   # + runs/tta.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONTENDERS = ("gpubp numpy", "gpubp torch", "gpubp cupy", "sklearn", "skorch", "torch loop")
TASKS = ("classify", "regress")
SCORE = {"classify": "accuracy", "regress": "R^2"}
CHUNK = 10_000


# ---------------------------------------------------------------------------
# The data (made once by the parent, read by every child)


def make_data(task: str, args: argparse.Namespace, folder: str) -> dict[str, str]:
    """``rows`` training and ``rows // 5`` test rows of make_classification / make_regression, as .npy files."""
    from sklearn.datasets import make_classification, make_regression

    n, test = args.rows, max(args.rows // 5, 1000)
    if task == "classify":
        X, y = make_classification(
            n + test, args.features, n_informative=min(30, args.features), n_redundant=min(20, args.features // 5),
            n_classes=args.classes, random_state=args.seed,
        )  # fmt: skip
        y = y.astype(np.int64)
    else:
        X, y = make_regression(n + test, args.features, n_informative=min(50, args.features), noise=50.0,
                               random_state=args.seed)  # fmt: skip
        y = ((y - y[:n].mean()) / y[:n].std()).astype(np.float32)  # a unit-scale target for every contender
    X = X.astype(np.float32)
    paths = {}
    for name, value in (("X", X[:n]), ("y", y[:n]), ("X_test", X[n:]), ("y_test", y[n:])):
        paths[name] = os.path.join(folder, f"{task}-{name}.npy")
        np.save(paths[name], np.ascontiguousarray(value))
    return paths


# ---------------------------------------------------------------------------
# One run, in a child process


class Clock:
    """Training time with the per-epoch scoring taken out; the score after every epoch."""

    def __init__(self, task: str, X_test: Any, y_test: Any) -> None:
        self.task, self.X_test, self.y_test = task, X_test, y_test
        self.curve: list[tuple[float, float]] = []  # (training seconds so far, test score)
        self.paused = self.cpu_paused = 0.0
        self.threads: dict[str, Any] = {}  # the thread pools while training (gpubp restores them after fit)

    def start(self) -> None:
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()

    def epoch_end(self, predict: Callable[[Any], Any]) -> None:
        """Pause, score the test set, resume."""
        t, cpu = time.perf_counter(), time.process_time()
        if not self.curve:
            self.threads = _threads_in_force()
        pred = np.concatenate(
            [np.asarray(predict(self.X_test[i : i + CHUNK])).reshape(-1) for i in range(0, len(self.X_test), CHUNK)]
        )
        if self.task == "classify":
            score = float(np.mean(pred == self.y_test))
        else:
            y = self.y_test.astype(np.float64)
            score = 1.0 - float(np.sum((y - pred) ** 2)) / float(np.sum((y - y.mean()) ** 2))
        self.curve.append((t - self.t0 - self.paused, score))
        self.paused += time.perf_counter() - t
        self.cpu_paused += time.process_time() - cpu

    def stop(self) -> float:
        self.cpu_seconds = time.process_time() - self.cpu0 - self.cpu_paused  # every thread's CPU time
        return time.perf_counter() - self.t0 - self.paused


def _torch_mlp(n_in: int, hidden: list[int], n_out: int) -> Any:
    import torch

    sizes = [n_in, *hidden, n_out]
    layers: list[Any] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.pop()  # a linear output
    return torch.nn.Sequential(*layers)


def run_gpubp(backend: str, task: str, d: dict[str, Any], spec: dict[str, Any], clock: Clock) -> float:
    import gpubp
    from gpubp.estimators import FitHooks

    Est = gpubp.MLPClassifier if task == "classify" else gpubp.MLPRegressor
    est = Est(
        hidden_layer_sizes=tuple(spec["hidden"]), batch_size=spec["batch"], learning_rate_init=spec["lr"], alpha=0.0,
        max_iter=spec["epochs"], tol=0.0, n_iter_no_change=math.inf, shuffle=True, random_state=spec["seed"],
        backend=backend, dtype="float32", threads=spec["threads"],
    )  # fmt: skip
    clock.start()
    est.fit(d["X"], d["y"], hooks=FitHooks(callbacks=[lambda record: clock.epoch_end(est.predict)]))
    return clock.stop()


def run_sklearn(task: str, d: dict[str, Any], spec: dict[str, Any], clock: Clock) -> float:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    Est = MLPClassifier if task == "classify" else MLPRegressor
    est = Est(
        hidden_layer_sizes=tuple(spec["hidden"]), batch_size=spec["batch"], learning_rate_init=spec["lr"], alpha=0.0,
        shuffle=True, random_state=spec["seed"],
    )  # fmt: skip
    classes = np.unique(d["y"]) if task == "classify" else None
    clock.start()
    for _ in range(spec["epochs"]):
        if classes is not None:
            est.partial_fit(d["X"], d["y"], classes=classes)
        else:
            est.partial_fit(d["X"], d["y"])
        clock.epoch_end(est.predict)
    return clock.stop()


def run_skorch(task: str, d: dict[str, Any], spec: dict[str, Any], clock: Clock) -> float:
    import torch
    from skorch import NeuralNetClassifier, NeuralNetRegressor
    from skorch.callbacks import Callback

    class EpochEnd(Callback):
        def on_epoch_end(self, net: Any, **kwargs: Any) -> None:
            clock.epoch_end(net.predict)

    torch.manual_seed(spec["seed"])
    n_out = int(d["y"].max()) + 1 if task == "classify" else 1
    module = _torch_mlp(d["X"].shape[1], spec["hidden"], n_out)
    common = {
        "optimizer": torch.optim.Adam, "lr": spec["lr"], "batch_size": spec["batch"], "max_epochs": spec["epochs"],
        "train_split": None, "iterator_train__shuffle": True, "callbacks": [EpochEnd()], "verbose": 0,
    }  # fmt: skip
    if task == "classify":
        net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, **common)
        y = d["y"]
    else:
        net = NeuralNetRegressor(module, criterion=torch.nn.MSELoss, **common)
        y = d["y"].reshape(-1, 1)
    clock.start()
    net.fit(d["X"], y)
    return clock.stop()


def run_torch_loop(task: str, d: dict[str, Any], spec: dict[str, Any], clock: Clock) -> float:
    import torch

    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    n_out = int(d["y"].max()) + 1 if task == "classify" else 1
    model = _torch_mlp(d["X"].shape[1], spec["hidden"], n_out)
    loss_fn = torch.nn.CrossEntropyLoss() if task == "classify" else torch.nn.MSELoss()
    X = torch.from_numpy(d["X"])
    y = torch.from_numpy(d["y"] if task == "classify" else d["y"].reshape(-1, 1))

    def predict(Xb: Any) -> Any:
        with torch.no_grad():
            out = model(torch.from_numpy(Xb))
        return (out.argmax(1) if task == "classify" else out).numpy()

    clock.start()
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    n, batch = X.shape[0], spec["batch"]
    for _ in range(spec["epochs"]):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            optimizer.step()
        clock.epoch_end(predict)
    return clock.stop()


def _memory_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, from /proc/self/status.

    Not ``ru_maxrss``: Linux carries that across ``exec`` from the parent, so a
    child would report the parent's data generation as its own peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _threads_in_force() -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    out: dict[str, Any] = {lib.get("prefix", "?"): lib.get("num_threads") for lib in threadpool_info()}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    return out


def child(contender: str, task: str, paths: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    """One training run in this process; its timings, scores, memory and threads."""
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")  # ConvergenceWarning after the fixed epochs, skorch's notes
    from gpubp.backend import threads_for

    if contender in ("gpubp torch", "skorch", "torch loop"):
        import torch  # noqa: F401  (loaded before the baseline: the libraries are not training's memory)
    if contender == "gpubp cupy":
        import cupy  # noqa: F401
    if contender == "skorch":
        import skorch  # noqa: F401
    import sklearn.neural_network  # noqa: F401

    import gpubp  # noqa: F401

    d = {name: np.load(path) for name, path in paths.items()}
    peer_limit = None
    n = threads_for(spec["threads"])
    if not contender.startswith("gpubp") and spec["peer_threads"] == "match" and n is not None:
        peer_limit = threadpool_limits(limits=n)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(n)
    baseline = _memory_mib("VmRSS")
    clock = Clock(task, d["X_test"], d["y_test"])
    if contender.startswith("gpubp"):
        seconds = run_gpubp(contender.split()[1], task, d, spec, clock)
    else:
        seconds = {"sklearn": run_sklearn, "skorch": run_skorch, "torch loop": run_torch_loop}[contender](
            task, d, spec, clock
        )
    peak = _memory_mib("VmHWM")
    if peer_limit is not None:
        peer_limit.restore_original_limits()
    times = [t for t, _ in clock.curve]
    return {
        "seconds": seconds,
        "cpu_seconds": clock.cpu_seconds,
        "epoch_seconds": [b - a for a, b in zip([0.0, *times], times, strict=False)],
        "curve": clock.curve,
        "final_score": clock.curve[-1][1],
        "peak_mib": peak,
        "baseline_mib": baseline,
        "extra_mib": peak - baseline,
        "threads": clock.threads,
    }


# ---------------------------------------------------------------------------
# The parent: data, interleaved runs, table, JSON, PNG


def gpu_reason() -> str | None:
    """None where gpubp can use CuPy here, else why not."""
    sys.path.insert(0, ROOT)
    from gpubp.backend import cupy_status

    ok, reason = cupy_status()
    return None if ok else reason


def run_child(contender: str, task: str, paths: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", json.dumps([contender, task, paths, spec])]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{contender} ({task}) failed:\n{out.stderr[-3000:]}")
    return {
        "contender": contender,
        "task": task,
        "load_before": load,
        **json.loads(out.stdout.strip().splitlines()[-1]),
    }


def summarize(runs: list[dict[str, Any]], task: str, target: float) -> list[dict[str, Any]]:
    """Per contender: min/median/max training seconds, per epoch, score, time to target, memory, ratios."""
    rows = []
    for name in dict.fromkeys(r["contender"] for r in runs if r["task"] == task):
        mine = [r for r in runs if r["task"] == task and r["contender"] == name]
        for r in mine:
            r["to_target"] = next((t for t, s in r["curve"] if s >= target - 1e-12), None)
        secs = sorted(r["seconds"] for r in mine)
        reached = sorted(r["to_target"] for r in mine if r["to_target"] is not None)
        rows.append(
            {
                "contender": name,
                "runs": len(mine),
                "seconds": _spread(secs),
                "cpu_seconds": statistics.median(r["cpu_seconds"] for r in mine),
                "epoch_seconds": statistics.median(s for r in mine for s in r["epoch_seconds"]),
                "final_score": _spread(sorted(r["final_score"] for r in mine)),
                "to_target": _spread(reached) if reached else None,
                "reached_target": len(reached),
                "peak_mib": statistics.median(r["peak_mib"] for r in mine),
                "extra_mib": statistics.median(r["extra_mib"] for r in mine),
                "threads": mine[0]["threads"],
            }
        )
    base = next((r for r in rows if r["contender"] == "gpubp numpy"), None)
    for row in rows:  # how many times gpubp numpy's time to the target (and its training time)
        if base and base["to_target"] and row["to_target"]:
            row["vs_gpubp_to_target"] = row["to_target"]["median"] / base["to_target"]["median"]
        if base:
            row["vs_gpubp_seconds"] = row["seconds"]["median"] / base["seconds"]["median"]
            row["vs_gpubp_cpu"] = row["cpu_seconds"] / base["cpu_seconds"]
            row["vs_gpubp_paired"] = _paired_ratio(runs, task, row["contender"])
    return rows


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": values[0], "median": statistics.median(values), "max": values[-1]}


def _paired_ratio(runs: list[dict[str, Any]], task: str, name: str) -> float | None:
    """Median over repeats of (this contender's seconds / gpubp numpy's), each pair from the same repeat."""
    pairs = []
    for rep in {r["repeat"] for r in runs}:
        a = [r["seconds"] for r in runs if (r["task"], r["contender"], r["repeat"]) == (task, name, rep)]
        b = [r["seconds"] for r in runs if (r["task"], r["contender"], r["repeat"]) == (task, "gpubp numpy", rep)]
        if a and b:
            pairs.append(a[0] / b[0])
    return statistics.median(pairs) if pairs else None


def table(task: str, rows: list[dict[str, Any]], target: float, skipped: dict[str, str]) -> str:
    score = SCORE[task]
    lines = [
        f"{task}: time to {score} >= {target:.4f} (training seconds, min / median / max over runs)",
        f"{'contender':<12} {'to target':>22} {'x gpubp':>8} {'train s':>22} {'x gpubp':>8} {'s/epoch':>8} "
        f"{'cpu s':>7} {'x gpubp':>8} {score + ' (median)':>16} {'peak MiB':>9} {'+MiB':>7}  threads",
    ]
    for r in rows:
        tt = r["to_target"]
        tt_text = f"{tt['min']:6.2f} /{tt['median']:6.2f} /{tt['max']:6.2f}" if tt else "not reached"
        s = r["seconds"]
        lines.append(
            f"{r['contender']:<12} {tt_text:>22} {_x(r.get('vs_gpubp_to_target')):>8} "
            f"{s['min']:6.2f} /{s['median']:6.2f} /{s['max']:6.2f} {_x(r.get('vs_gpubp_paired')):>8} "
            f"{r['epoch_seconds']:8.2f} {r['cpu_seconds']:7.1f} {_x(r.get('vs_gpubp_cpu')):>8} "
            f"{r['final_score']['median']:16.4f} {r['peak_mib']:9.0f} {r['extra_mib']:7.0f}  "
            + ",".join(f"{k}={v}" for k, v in r["threads"].items())
        )
    for name, why in skipped.items():
        lines.append(f"{name:<12} skipped: {why}")
    return "\n".join(lines)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def plot(doc: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(doc["tasks"])
    fig, axes = plt.subplots(len(tasks), 2, figsize=(13, 4.5 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        part = doc["tasks"][task]
        ax = axes[row][0]
        for name in [r["contender"] for r in part["summary"]]:
            mine = [r for r in doc["runs"] if r["task"] == task and r["contender"] == name]
            median_run = sorted(mine, key=lambda r: r["seconds"])[len(mine) // 2]
            t, s = zip(*median_run["curve"], strict=True)
            ax.plot(t, s, marker="o", label=name)
        ax.axhline(part["target"], color="grey", linestyle=":", label="target")
        ax.set_xscale("log")
        ax.set_xlabel("training seconds (log)")
        ax.set_ylabel(f"test {SCORE[task]}")
        ax.set_title(f"{task}: test {SCORE[task]} after each epoch (the median run)")
        ax.legend(fontsize=8)
        ax = axes[row][1]
        names = [r["contender"] for r in part["summary"] if r["to_target"]]
        med = [r["to_target"]["median"] for r in part["summary"] if r["to_target"]]
        lo = [r["to_target"]["median"] - r["to_target"]["min"] for r in part["summary"] if r["to_target"]]
        hi = [r["to_target"]["max"] - r["to_target"]["median"] for r in part["summary"] if r["to_target"]]
        ax.barh(names, med, xerr=[lo, hi], color="tab:blue")
        ax.invert_yaxis()
        ax.set_xlabel("seconds to the target (median; bars: min-max)")
        ax.set_title(f"{task}: time to {SCORE[task]} >= {part['target']:.4f}")
    fig.suptitle(doc["title"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=500_000, help="training rows (the test set is rows // 5 more)")
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--hidden", default="256,128", help="hidden layer widths")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated, from: " + ", ".join(CONTENDERS))
    p.add_argument("--threads", default="auto", help="gpubp's threads setting (auto, N or none)")
    p.add_argument("--peer-threads", choices=("default", "match"), default="default",
                   help="the peers' threads: their libraries' defaults, or gpubp's count")  # fmt: skip
    p.add_argument("--target", type=float, default=None, help="the score to reach (default: the lowest final score)")
    p.add_argument("--json", default=None, help="write the results here (and a PNG beside it)")
    p.add_argument("--plot", default=None, help="the PNG (default: beside --json)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # subprocess.run then kills the running child
    if args.child:
        contender, task, paths, spec = json.loads(args.child)
        print(json.dumps(child(contender, task, paths, spec)))
        return 0
    threads: Any = None if args.threads == "none" else (args.threads if args.threads == "auto" else int(args.threads))
    spec = {"hidden": [int(h) for h in args.hidden.split(",")], "batch": args.batch_size, "epochs": args.epochs,
            "lr": args.lr, "seed": args.seed, "threads": threads, "peer_threads": args.peer_threads}  # fmt: skip
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        p.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    skipped = {}
    if "gpubp cupy" in contenders:
        reason = gpu_reason()
        if reason is not None:
            skipped["gpubp cupy"] = f"no usable GPU ({reason})"
            contenders.remove("gpubp cupy")
    tasks = [t for t in args.tasks.split(",") if t]
    runs: list[dict[str, Any]] = []
    t_start = time.time()
    with tempfile.TemporaryDirectory() as folder:
        data = {task: make_data(task, args, folder) for task in tasks}
        for rep in range(args.repeats):
            for task in tasks:
                k = rep % len(contenders)
                for name in contenders[k:] + contenders[:k]:
                    run = run_child(name, task, data[task], spec)
                    run["repeat"] = rep
                    runs.append(run)
                    print(
                        f"[{rep + 1}/{args.repeats}] {task:<8} {name:<12} {run['seconds']:7.2f} s  "
                        f"{SCORE[task]} {run['final_score']:.4f}  peak {run['peak_mib']:.0f} MiB  "
                        f"load {run['load_before']:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
    from gpubp.backend import threads_for

    doc: dict[str, Any] = {
        "title": (
            f"{args.rows:,} rows x {args.features} features, hidden {args.hidden}, Adam lr {args.lr}, batch "
            f"{args.batch_size}, {args.epochs} epochs, float32, {args.repeats} repeats; gpubp threads {args.threads} "
            f"(= {threads_for(threads)}), peers' threads: {args.peer_threads}; {os.cpu_count()} CPUs"
        ),
        "settings": {**vars(args), "child": None},
        "cpus": os.cpu_count(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_start)),
        "wall_seconds": time.time() - t_start,
        "skipped": skipped,
        "tasks": {},
        "runs": runs,
    }
    print(doc["title"])
    for task in tasks:
        finals = [r["final_score"] for r in runs if r["task"] == task]
        target = args.target if args.target is not None else min(finals)
        rows = summarize(runs, task, target)
        doc["tasks"][task] = {"target": target, "summary": rows}
        print()
        print(table(task, rows, target, skipped))
    loads = [r["load_before"] for r in runs]
    print(f"\nload average before the runs: min {min(loads):.1f}, median {statistics.median(loads):.1f}, "
          f"max {max(loads):.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    plot_path = args.plot or (os.path.splitext(args.json)[0] + ".png" if args.json else None)
    if plot_path:
        plot(doc, plot_path)
        print(f"wrote {args.json or ''} {plot_path}".strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
