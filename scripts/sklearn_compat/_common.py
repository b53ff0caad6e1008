"""Shared by the scripts: report lines the runner compares, and the warnings a script raised.

``S name: value`` lines must match between scikit-learn and gpubp exactly (types, shapes, dtypes,
attribute names); ``N name: value`` lines are numbers compared loosely; ``W`` lines list warning
categories (printed at exit).
"""

import atexit
import warnings

import numpy as np

_seen = set()
_show = warnings.showwarning


def _record(message, category, filename, lineno, file=None, line=None):
    if category.__name__ in (
        "ConvergenceWarning",
        "UserWarning",
        "DataConversionWarning",
        "FitFailedWarning",
        "UndefinedMetricWarning",
        "RuntimeWarning",
    ):
        _seen.add(category.__name__)


warnings.showwarning = _record
warnings.simplefilter("always")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
atexit.register(lambda: print("W warnings:", sorted(_seen)))


def desc(obj):
    """Type, shape and dtype of an array-like result (the exact-match part)."""
    t = type(obj).__module__.split(".")[0] + "." + type(obj).__name__
    if hasattr(obj, "shape"):
        return f"{t} shape={tuple(obj.shape)} dtype={getattr(obj, 'dtype', None)}"
    if isinstance(obj, (list, tuple)):
        return f"{t} len={len(obj)} [{', '.join(desc(o) for o in obj[:3])}]"
    return t


def S(name, value):
    print(f"S {name}: {value}")


def N(name, value):
    print(f"N {name}: {float(np.mean(value)):.4f}")
