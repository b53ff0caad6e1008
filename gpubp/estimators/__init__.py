"""The scikit-learn estimators: a base with the shared fit loop and two thin subclasses.

:class:`MLPClassifier` and :class:`MLPRegressor` take every parameter of
scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` (same names, meanings and
defaults), plus ``backend``, ``device``, ``dtype`` and ``standardize``.
"""

from __future__ import annotations

from .base import BaseMLP, NotFittedError
from .classifier import MLPClassifier
from .regressor import MLPRegressor
from .training import FitHooks

__all__ = ["BaseMLP", "FitHooks", "MLPClassifier", "MLPRegressor", "NotFittedError"]
