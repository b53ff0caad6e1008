"""The built-in data sets: the bundled UCI digits and three small synthetic problems."""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import resources

from ..backend import host, host_rng
from .dataset import Dataset


def digits(seed: int = 0) -> Dataset:
    """The bundled UCI handwritten digits: 1797 images of 8x8 pixels (0..16), labels 0..9."""
    with (resources.files("gpubp") / "data" / "digits.npz").open("rb") as f, host.load(f, allow_pickle=False) as d:
        X, y = d["X"].astype(host.float64), d["y"].astype(host.int64)  # (1797, 64), (1797,)
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset(X, y, names, "digit", "digits", lambda i: f"digits: sample {i}")


def xor(seed: int = 0, per_corner: int = 100, noise: float = 0.2) -> Dataset:
    """Gaussian clouds around the unit square's corners; the label is the XOR of the corner."""
    rng = host_rng(seed)
    corners = host.repeat(host.asarray([[0, 0], [0, 1], [1, 0], [1, 1]]), per_corner, axis=0)  # (4 * per_corner, 2)
    X = corners + rng.normal(0.0, noise, size=corners.shape)
    order = rng.permutation(len(X))
    y = (corners[:, 0] ^ corners[:, 1]).astype(host.int64)
    return Dataset(X[order], y[order], ["x1", "x2"], "xor", "xor", lambda i: f"xor: sample {i}")


def spirals(seed: int = 0, per_arm: int = 300, turns: float = 1.5, noise: float = 0.03) -> Dataset:
    """Two interleaved spiral arms in the unit disc, one per class."""
    rng = host_rng(seed)
    top = 2.0 * math.pi * turns
    t = top * (0.05 + 0.95 * host.sqrt(rng.uniform(size=2 * per_arm)))  # angle along the arm, (2 * per_arm,)
    arm = host.repeat(host.asarray([0, 1], dtype=host.int64), per_arm)
    angle = t + math.pi * arm  # arm 1 is arm 0 turned by half a circle
    X = (t / top)[:, None] * host.stack([host.cos(angle), host.sin(angle)], axis=1)  # (2 * per_arm, 2)
    X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(len(X))
    return Dataset(X[order], arm[order], ["x1", "x2"], "arm", "spirals", lambda i: f"spirals: sample {i}")


def sine(seed: int = 0, n: int = 500, noise: float = 0.05) -> Dataset:
    """Regression: x uniform in [-pi, pi], y = sin(x) + Gaussian noise."""
    rng = host_rng(seed)
    x = rng.uniform(-math.pi, math.pi, size=(n, 1))
    y = host.sin(x[:, 0]) + rng.normal(0.0, noise, size=n)
    return Dataset(x, y, ["x"], "y", "sine", lambda i: f"sine: sample {i}")


#: Name -> loader ``f(seed) -> Dataset``.
BUILTINS: dict[str, Callable[[int], Dataset]] = {"digits": digits, "xor": xor, "spirals": spirals, "sine": sine}
