"""Weight initialisation, drawn on the host and moved to the device.

The Array API has no random numbers, so every draw is made by a NumPy
``Generator`` in float64 and then copied to the device: one seed gives the same
initial weights on every backend (after rounding to the model's dtype).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import GpubpError

Shape = tuple[int, ...]


def he_uniform(rng: Any, fan_in: int, fan_out: int, size: Shape | None = None) -> Any:
    """U(-a, a) with a = sqrt(6 / fan_in): keeps ReLU activations' variance (He et al. 2015)."""
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=size or (fan_in, fan_out))


def he_normal(rng: Any, fan_in: int, fan_out: int, size: Shape | None = None) -> Any:
    """N(0, 2 / fan_in) (He et al. 2015)."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=size or (fan_in, fan_out))


def xavier_uniform(rng: Any, fan_in: int, fan_out: int, size: Shape | None = None) -> Any:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=size or (fan_in, fan_out))


def xavier_normal(rng: Any, fan_in: int, fan_out: int, size: Shape | None = None) -> Any:
    """N(0, 2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=size or (fan_in, fan_out))


def xavier_uniform_logistic(rng: Any, fan_in: int, fan_out: int, size: Shape | None = None) -> Any:
    """U(-a, a) with a = sqrt(2 / (fan_in + fan_out)): scikit-learn's choice before a logistic activation."""
    bound = math.sqrt(2.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=size or (fan_in, fan_out))


#: Name -> initialiser ``f(rng, fan_in, fan_out, size=None)``; ``glorot_*`` are aliases of ``xavier_*``.
INITIALIZERS: dict[str, Callable[..., Any]] = {
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "xavier_uniform_logistic": xavier_uniform_logistic,
}


def get_initializer(name: str) -> Callable[..., Any]:
    """Look an initialiser up by name; a clear error for an unknown one."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise GpubpError(f"unknown initialiser {name!r} (choose from {', '.join(INITIALIZERS)})") from None
