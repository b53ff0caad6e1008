"""The same answers as scikit-learn where the math is the same: gpubp's estimators against scikit-learn's MLP.

On every data set scikit-learn bundles (no download), with the same settings
(scikit-learn's defaults: hidden (100,), Adam, lr 1e-3, batch 'auto', 200
epochs, tol 1e-4, 10 epochs of patience; ``random_state=seed``) and the same
``StandardScaler`` in a ``Pipeline``, both libraries fit the same stratified
75/25 split; the test accuracy (classifiers) or R^2 (regressors) and the fit
wall time are recorded. gpubp runs on NumPy in float32 (its default) and, as a
check that float32 is not what separates them, in float64.

Runs are interleaved (the order of the contenders rotates every repeat), after
one untimed warm-up each, so machine noise hits all alike. The seed is the
repeat's index for every contender.

Usage::

    python benchmarks/vs_sklearn.py [--seeds 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from sklearn import datasets, neural_network
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpubp
from gpubp.bench.report import write_json

#: name -> (loader, task)
DATASETS: dict[str, tuple[Callable[..., Any], str]] = {
    "iris": (datasets.load_iris, "classify"),
    "wine": (datasets.load_wine, "classify"),
    "breast_cancer": (datasets.load_breast_cancer, "classify"),
    "digits": (datasets.load_digits, "classify"),
    "diabetes": (datasets.load_diabetes, "regress"),
    "linnerud": (datasets.load_linnerud, "regress"),  # three targets at once
}

#: contender -> (classifier, regressor, extra settings)
CONTENDERS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "gpubp float32": (gpubp.MLPClassifier, gpubp.MLPRegressor, {"backend": "numpy"}),
    "gpubp float64": (gpubp.MLPClassifier, gpubp.MLPRegressor, {"backend": "numpy", "dtype": "float64"}),
    "scikit-learn": (neural_network.MLPClassifier, neural_network.MLPRegressor, {}),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="repeats, each with its own seed (default 5)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    return p.parse_args(argv)


def run(name: str, contender: str, seed: int) -> dict[str, Any]:
    """One fit and score; (score, seconds)."""
    load, task = DATASETS[name]
    X, y = load(return_X_y=True)
    if name == "diabetes":
        y = (y - y.mean()) / y.std()  # targets in the hundreds: both libraries regress them unscaled
    if name == "linnerud":
        y = (y - y.mean(axis=0)) / y.std(axis=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=seed, stratify=y if task == "classify" else None)
    classifier, regressor, extra = CONTENDERS[contender]
    Est = classifier if task == "classify" else regressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        model = make_pipeline(StandardScaler(), Est(random_state=seed, **extra)).fit(X_tr, y_tr)
        seconds = time.perf_counter() - t0
    return {"score": float(model.score(X_te, y_te)), "seconds": seconds, "epochs": int(model[-1].n_iter_)}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    contenders = list(CONTENDERS)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {n: {c: [] for c in contenders} for n in names}
    for name in names:
        for c in contenders:
            run(name, c, seed=10_000)  # warm-up, untimed
        for seed in range(args.seeds):
            order = contenders[seed % len(contenders) :] + contenders[: seed % len(contenders)]
            for c in order:
                results[name][c].append(run(name, c, seed))
    rows = []
    for name in names:
        ref = results[name]["scikit-learn"]
        for c in contenders:
            runs = results[name][c]
            scores, times = [r["score"] for r in runs], [r["seconds"] for r in runs]
            rows.append(
                {
                    "dataset": name,
                    "task": DATASETS[name][1],
                    "contender": c,
                    "median_score": statistics.median(scores),
                    "min_score": min(scores),
                    "max_score": max(scores),
                    "median_seconds": statistics.median(times),
                    "time_vs_sklearn": statistics.median(times) / statistics.median([r["seconds"] for r in ref]),
                    "median_epochs": statistics.median([r["epochs"] for r in runs]),
                    "runs": runs,
                }
            )
    head = ("data set", "contender", "score median", "min..max", "fit s", "t/sklearn")
    print(f"{head[0]:<14} {head[1]:<14} {head[2]:>12} {head[3]:>15} {head[4]:>8} {head[5]:>9} epochs")
    for r in rows:
        spread = f"{r['min_score']:.4f}..{r['max_score']:.4f}"
        print(
            f"{r['dataset']:<14} {r['contender']:<14} {r['median_score']:>12.4f} {spread:>15} "
            f"{r['median_seconds']:>8.3f} {r['time_vs_sklearn']:>9.2f} {r['median_epochs']:>6.0f}"
        )
    if args.json:
        write_json(args.json, {"seeds": args.seeds, "rows": rows, "python": sys.version.split()[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
