"""``Dataset``: what every reader returns -- features, the target as read, and where each row came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Dataset:
    """A data set on the host, as read: no label is encoded and no task decided here.

    Attributes
    ----------
    X : ndarray of float64, shape (n, n_features)
        Finite numbers.
    y : ndarray or None
        The target column(s) as the source holds them: int64 (a column of
        whole numbers), float64, bool or str, shape (n,) or (n, n_targets).
        None when only features were read.
    feature_names : list of str
    target_name : str
    source : str
        The built-in name, or the path as given.
    where : callable
        Row index -> where that row's target is, for messages
        (``"data.csv: row 7, column 'y'"``).
    """

    X: Any
    y: Any
    feature_names: list[str]
    target_name: str
    source: str
    where: Callable[[int], str]

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def what(self) -> str:
        """The target, for messages: ``"column 'y' of data.csv"``."""
        return f"the target {self.target_name!r} of {self.source}"
