"""Train / validation / test splits by a seeded permutation, stratified for class labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import host, host_rng
from ..errors import GpubpError, ParameterError


@dataclass
class Split:
    """Row indices of the train, validation and test parts.

    Attributes
    ----------
    train, val, test : ndarray of int64, shape (n_part,)
        Sorted, disjoint; an unused part is empty.
    """

    train: Any
    val: Any
    test: Any

    def to_dict(self) -> dict[str, list[int]]:
        """The indices as JSON-serialisable lists, for a model's metadata."""
        return {"train": self.train.tolist(), "val": self.val.tolist(), "test": self.test.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], n: int | None = None) -> Split:
        """The inverse of :meth:`to_dict`; malformed metadata (or, given ``n``, a row past it) is a GpubpError."""
        parts = []
        for key in ("train", "val", "test"):
            value = d.get(key) if isinstance(d, dict) else None
            if not isinstance(value, list) or not all(type(i) is int and i >= 0 for i in value):
                raise GpubpError(f"split metadata: {key!r} must be a list of row indices (non-negative integers)")
            parts.append(host.asarray(sorted(value), dtype=host.int64))
        every = host.concatenate(parts)
        if len(host.unique(every)) != len(every):
            raise GpubpError("split metadata: the train, val and test parts overlap")
        if n is not None and len(every) and int(every.max()) >= n:
            raise GpubpError(f"split metadata: row {int(every.max())} is past the {n} rows of the data")
        return cls(*parts)


def split_indices(
    n: int, *, validation_fraction: float, test_fraction: float = 0.0, seed: Any = 0, y: Any | None = None
) -> Split:
    """Split ``range(n)`` into train, validation and test parts by a seeded permutation.

    Parameters
    ----------
    n : int
        Number of rows.
    validation_fraction, test_fraction : float
        Each in [0, 1), their sum below 1. A part gets ``round(n * fraction)``
        rows (at least one for a non-zero fraction) and train the rest.
    seed : int or numpy.random.Generator
        Seeds the permutation (:func:`gpubp.backend.host_rng`); a generator is advanced.
    y : ndarray of shape (n,), optional
        Class labels (any values): stratify, so every part holds each class in
        proportion where possible (largest remainders) and train holds every class.

    Raises
    ------
    ParameterError
        A fraction is out of range.
    GpubpError
        ``n`` is too small: a non-zero fraction would get no row, train fewer
        than 2, or (stratified) some class none.
    """
    for name, fraction in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ParameterError(name, "must be a number at least 0 and below 1", fraction)
    if validation_fraction + test_fraction >= 1:
        raise ParameterError(
            ("validation_fraction", "test_fraction"),
            "together they must be below 1",
            (validation_fraction, test_fraction),
        )
    n_val = max(round(n * validation_fraction), 1 if validation_fraction > 0 else 0)
    n_test = max(round(n * test_fraction), 1 if test_fraction > 0 else 0)
    n_train = n - n_val - n_test
    asked = f"too few samples: {n} rows cannot be split into train/validation/test parts of {n_train}/{n_val}/{n_test}"
    if n_train < 2:
        raise GpubpError(f"{asked} (train needs at least 2 rows)")
    perm = host_rng(seed).permutation(n)  # (n,)
    if y is None:
        parts = perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]
        return Split(*(host.sort(p).astype(host.int64) for p in parts))
    y = host.asarray(y)
    if y.shape != (n,):
        raise GpubpError(f"split_indices: y has shape {y.shape}, expected ({n},)")
    _, codes = host.unique(y, return_inverse=True)
    codes = codes.reshape(-1)
    counts = host.bincount(codes)  # (k,)
    test_c = _apportion(counts, n_test, counts - 1)  # keep one row of every class for train
    val_c = None if test_c is None else _apportion(counts, n_val, counts - 1 - test_c)
    if val_c is None:
        raise GpubpError(f"{asked} (stratified: train needs a row of each of the {len(counts)} classes)")
    train, val, test = [], [], []
    for c in range(len(counts)):
        rows = perm[codes[perm] == c]  # this class's rows, in permutation order
        test.append(rows[: test_c[c]])
        val.append(rows[test_c[c] : test_c[c] + val_c[c]])
        train.append(rows[test_c[c] + val_c[c] :])
    return Split(*(host.sort(host.concatenate(p)).astype(host.int64) for p in (train, val, test)))


def _apportion(counts: Any, total: int, cap: Any) -> Any | None:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainders), at most ``cap`` each."""
    exact = counts * (total / counts.sum())  # (k,)
    alloc = host.minimum(host.floor(exact).astype(host.int64), cap)
    order = host.argsort(-(exact - alloc), kind="stable")
    while alloc.sum() < total:
        room = [c for c in order if alloc[c] < cap[c]]
        if not room:
            return None
        for c in room[: total - int(alloc.sum())]:
            alloc[c] += 1
    return alloc
