"""Test scores of scikit-learn's MLP and gpubp's, same settings, same splits, several seeds.

    PYTHONPATH=$PWD python scripts/sklearn_compat/scores.py [seeds]

Prints one row per (data set, settings): each library's mean and standard deviation over the seeds,
and the difference of the means in units of its standard error (|z| below about 2 is seed noise).
"""

import sys
import time
import warnings

import numpy as np
from sklearn import datasets, neural_network
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpubp


def data(name, seed):
    if name == "moons":
        return datasets.make_moons(1000, noise=0.3, random_state=seed)
    if name == "circles":
        return datasets.make_circles(1000, noise=0.15, factor=0.5, random_state=seed)
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "wine":
        return datasets.load_wine(return_X_y=True)
    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    if name == "imbalanced":
        return datasets.make_classification(
            2000, 20, n_informative=6, n_classes=3, weights=[0.8, 0.15, 0.05], flip_y=0.02, random_state=seed
        )
    if name == "friedman1":
        return datasets.make_friedman1(1000, noise=1.0, random_state=seed)
    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    if name == "large_scale_1e4":
        X, y = datasets.make_regression(1000, 10, n_informative=6, noise=10, random_state=seed)
        return X, y * 100 + 1e4  # targets around 1e4, spread ~1e4: no target scaling, as users do
    if name == "poisson":
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(2000, 6))
        return X, rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.2 * X[:, 2] * X[:, 3] + 1.0))
    raise KeyError(name)


CASES = [  # (data, task, settings, scale X, metric)
    ("moons", "c", {}, False, "acc"),
    ("circles", "c", {"hidden_layer_sizes": (20, 20)}, False, "acc"),
    ("breast_cancer", "c", {}, True, "acc"),
    ("wine", "c", {"solver": "lbfgs", "hidden_layer_sizes": (20,)}, True, "acc"),
    ("digits", "c", {"hidden_layer_sizes": (64,), "max_iter": 100}, True, "acc"),
    (
        "digits",
        "c",
        {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.1, "max_iter": 60},
        True,
        "acc",
    ),
    ("imbalanced", "c", {"early_stopping": True}, True, "bal_acc"),
    (
        "imbalanced",
        "c",
        {"alpha": 1e-2, "solver": "sgd", "learning_rate": "adaptive", "learning_rate_init": 0.05},
        True,
        "acc",
    ),
    ("friedman1", "r", {"hidden_layer_sizes": (50, 50), "learning_rate_init": 0.01}, True, "r2"),
    ("diabetes", "r", {"learning_rate_init": 0.01, "max_iter": 500}, True, "r2"),
    ("large_scale_1e4", "r", {"learning_rate_init": 0.1, "max_iter": 300}, True, "r2"),
    ("friedman1", "r", {"solver": "lbfgs", "hidden_layer_sizes": (30,)}, True, "r2"),
    ("poisson", "r", {"loss": "poisson", "hidden_layer_sizes": (20,)}, False, "r2"),
]


def score(Est, case, seed):
    name, task, settings, scale, metric = case
    X, y = data(name, seed)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y if task == "c" else None)
    model = Est(random_state=seed, **settings)
    model = make_pipeline(StandardScaler(), model) if scale else model
    model.fit(Xtr, ytr)
    if metric == "bal_acc":
        return balanced_accuracy_score(yte, model.predict(Xte))
    return model.score(Xte, yte)


def main(seeds):
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"{'data':16s} {'settings':58s} {'metric':7s} {'sklearn':>15s} {'gpubp':>15s} {'z':>6s}  seconds sk/gp")
    for case in CASES:
        rows, secs = {}, {}
        for lib, (C, R) in {
            "sk": (neural_network.MLPClassifier, neural_network.MLPRegressor),
            "gp": (gpubp.MLPClassifier, gpubp.MLPRegressor),
        }.items():
            t = time.perf_counter()
            rows[lib] = np.array([score(C if case[1] == "c" else R, case, s) for s in range(seeds)])
            secs[lib] = time.perf_counter() - t
        a, b = rows["sk"], rows["gp"]
        se = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / seeds) or 1e-12
        z = (b.mean() - a.mean()) / se
        settings = ", ".join(f"{k}={v}" for k, v in case[2].items()) or "defaults"
        print(
            f"{case[0]:16s} {settings:58s} {case[4]:7s} {a.mean():.4f}±{a.std(ddof=1):.4f} "
            f"{b.mean():.4f}±{b.std(ddof=1):.4f} {z:6.2f}  {secs['sk']:.0f}/{secs['gp']:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
