"""Data sets on the host: the bundled digits, three synthetic sets, and the user's CSV or .npz files.

Everything here is NumPy (:data:`gpubp.backend.host`); moving arrays to a device
happens elsewhere. Every bad input raises :class:`~gpubp.errors.GpubpError`
with one line naming what is wrong and where: the file, the row (1-based,
the header being row 1), the column, the array and index, or the flag.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .backend import host, host_rng
from .errors import GpubpError, one_line

#: Built-in data sets, accepted by name as ``source``.
SOURCES: tuple[str, ...] = ("digits", "xor", "spirals", "sine")

#: Values of ``task``.
TASKS: tuple[str, ...] = ("auto", "classify", "regress")

#: ``task="auto"`` reads integer targets with at most this many distinct values as class labels.
MAX_AUTO_CLASSES = 50


@dataclass
class Dataset:
    """A loaded data set, on the host.

    Attributes
    ----------
    X : ndarray of float64, shape (n, n_features)
    y : ndarray
        ``classify``: int64 class indices 0..k-1, shape (n,).
        ``regress``: float64, shape (n,) or (n, n_targets).
    task : {'classify', 'regress'}
    classes : list
        ``classify``: the original labels in index order, as plain Python
        int, bool or str (integral float labels become int). ``regress``: [].
    feature_names : list of str
    target_name : str
    source : str
        The built-in name, or the path as given.
    """

    X: Any
    y: Any
    task: str
    classes: list
    feature_names: list[str]
    target_name: str
    source: str


@dataclass
class _Raw:
    """What a reader found, before the task is decided."""

    X: Any  # (n, f) float64, finite
    y: Any  # (n,) or (n, t): numbers (finite), bools, or str labels
    feature_names: list[str]
    target_name: str
    what: str  # the target, for messages: "column 'y' of data.csv"
    where: Callable[[int], str]  # sample index -> "data.csv: row 7, column 'y'"


def load_dataset(
    source: str, *, target: str | None = None, task: str = "auto", seed: int = 0, origin: str | None = None
) -> Dataset:
    """Load a built-in data set or the user's CSV / .npz file.

    Parameters
    ----------
    source : str
        ``digits`` (the bundled UCI handwritten digits, 1797 x 64), ``xor``,
        ``spirals``, ``sine`` (synthetic), or a path ending in ``.csv`` or
        ``.npz``. A built-in name wins over a file of the same name.
    target : str or None
        CSV only: the target column's name; default the last column. Every
        other column is a feature and must be numeric.
    task : {'auto', 'classify', 'regress'}
        ``auto`` classifies text, boolean and integral targets with at most
        :data:`MAX_AUTO_CLASSES` distinct values, and regresses the rest.
    seed : int
        Seeds the synthetic sets (ignored by ``digits`` and files).
    origin : str, optional
        Where ``target`` and ``task`` come from when not from the command's
        flags, e.g. ``"model.safetensors"``: messages then name it instead of
        ``--target`` / ``--task``.

    Returns
    -------
    Dataset

    Raises
    ------
    GpubpError
        Unknown source, unreadable or malformed file, or a target that does
        not suit ``task``; the message names the file, row, column or array.
    """
    if task not in TASKS:
        raise GpubpError(f"--task: unknown task {task!r} (choose auto, classify or regress)")
    source = os.fspath(source)
    if source in SOURCES:
        if target is not None:
            raise GpubpError(f"--target {target}: only a CSV file has named columns, not the built-in {source!r}")
        raw = _BUILTINS[source](seed)
    elif _file_kind(source) == ".csv":
        raw = _read_csv(source, target, task, origin)
    else:
        if target is not None:
            raise GpubpError(f"--target {target}: only a CSV file has named columns; {source} holds arrays X and y")
        raw = _read_npz(source)
    y, task, classes = _decide_task(raw, task, origin)
    return Dataset(raw.X, y, task, classes, raw.feature_names, raw.target_name, source)


def load_features(
    source: str,
    *,
    n_features: int,
    target: str | None = None,
    seed: int = 0,
    feature_names: list[str] | None = None,
) -> Any:
    """Only the features of a source, for prediction: (n, n_features) float64.

    With ``feature_names`` (those of the CSV file a model was trained on), a
    CSV file's columns are taken by name, in the model's order: a missing one
    is an error, other columns (the target among them) are ignored. Without,
    a CSV file may hold just the feature columns, or the features and the
    ``target`` column (default: the last column), which is then dropped.
    A built-in source or an ``.npz`` file gives its ``X`` (``y`` may be absent).

    Raises
    ------
    GpubpError
        A malformed file, a missing feature column, or a feature count that
        does not match ``n_features``.
    """
    source = os.fspath(source)
    if source not in SOURCES and _file_kind(source) == ".csv":
        header, body = _csv_table(source)
        if feature_names is not None:
            cols = columns_by_name(source, header, feature_names)
        elif target in header:  # the column the model predicts is never one of its inputs
            cols = [j for j in range(len(header)) if header[j] != target]
        elif len(header) == n_features:
            cols = list(range(len(header)))
        else:
            cols = list(range(len(header) - 1))
        X = _csv_numbers(source, header, body, cols)
    else:
        X = load_dataset(source, seed=seed, task="auto").X if source in SOURCES else _read_npz(source, need_y=False).X
    if X.shape[1] != n_features:
        raise GpubpError(f"{source}: has {X.shape[1]} feature columns but the model was trained on {n_features}")
    return X


def columns_by_name(source: str, names: list[str], wanted: list[str]) -> list[int]:
    """Positions of the columns ``wanted`` (a model's features) among ``names``; a missing one is an error."""
    missing = [name for name in wanted if name not in names]
    if missing:
        raise GpubpError(
            f"{source}: no column {_listing([repr(m) for m in missing])}; the model was trained on the columns "
            f"{_listing(wanted)} (here: {_listing(names)})"
        )
    return [names.index(name) for name in wanted]


def _file_kind(path: str) -> str:
    """'.csv' or '.npz' for an existing file; otherwise the error saying what ``path`` is."""
    suffix = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        raise GpubpError(f"{path}: is a directory, not a .csv or .npz file")
    if os.path.islink(path) and not os.path.exists(path):  # a dangling link, or a loop of links
        try:
            os.stat(path)
        except OSError as exc:
            raise GpubpError(f"{path}: a symbolic link that leads nowhere ({exc.strerror or exc})") from None
    if suffix not in (".csv", ".npz"):
        if os.path.exists(path):
            raise GpubpError(f"{path}: unsupported file type {suffix or '(no extension)'} (expected .csv or .npz)")
        raise GpubpError(
            f"unknown data source {path!r}: choose {', '.join(SOURCES)}, or give a path to a .csv or .npz file"
        )
    if not os.path.exists(path):
        raise GpubpError(f"{path}: no such file")
    if not os.path.isfile(path):  # a FIFO or a device would be read forever, or never
        raise GpubpError(f"{path}: not a regular file (a pipe or a device?); give a .csv or .npz file")
    return suffix


# ---------------------------------------------------------------------------
# Deciding the task: class indices or float targets


def _decide_task(raw: _Raw, task: str, origin: str | None = None) -> tuple[Any, str, list]:
    """(y, task, classes) for the raw target, checked against ``task`` (from ``origin``, default the flag)."""
    said = {
        "classify": f"{origin} is a classification model" if origin else "--task classify",
        "regress": f"{origin} is a regression model" if origin else "--task regress",
    }
    y = raw.y
    labels = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y  # a one-column target may hold labels
    kind = y.dtype.kind
    integral = kind in "iub"
    if kind == "U" and task == "regress":
        raise GpubpError(
            f"{said['regress']}: {raw.where(0)}: {str(labels.flat[0])!r} is text; regression needs numbers"
        )
    if kind in "iuf":
        integral = integral or bool(host.all(labels == host.floor(labels)))
    if task == "auto":
        task = infer_task(y)
    if task == "regress":
        return y.astype(host.float64), "regress", []
    if labels.ndim != 1:
        raise GpubpError(f"{said['classify']}: {raw.what} has shape {y.shape}; class labels must be one column")
    if kind == "f" and not integral:
        i = int(host.argmax(labels != host.floor(labels)))
        raise GpubpError(
            f"{said['classify']}: {raw.where(i)}: {labels[i].item()!r} is not a whole number, so not a class label"
        )
    values, index = host.unique(labels, return_inverse=True)
    if len(values) < 2:
        raise GpubpError(f"{raw.what} has a single class ({_plain(values[0])!r}); classification needs at least two")
    return index.astype(host.int64).reshape(-1), "classify", [_plain(v) for v in values]


def infer_task(y: Any) -> str:
    """``classify`` for text, booleans or at most 50 distinct whole numbers in one column; else ``regress``."""
    labels = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.dtype.kind in "iuf":
        integral = y.dtype.kind in "iu" or bool(host.all(labels == host.floor(labels)))
        few = labels.ndim == 1 and len(host.unique(labels)) <= MAX_AUTO_CLASSES
        return "classify" if integral and few else "regress"
    return "classify"


def encode_labels(y: Any, name: str, classes: list[Any] | None = None) -> tuple[Any, list[Any]]:
    """Class labels -> (int64 indices 0..k-1, the sorted classes as plain Python values).

    With ``classes`` given (a trained model's), labels are looked up in them and
    one the model never saw is an error naming its row.
    """
    labels = host.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise GpubpError(f"{name}: class labels must be one column, got shape {labels.shape}")
    if classes is None:
        values, index = host.unique(labels, return_inverse=True)
        return index.astype(host.int64).reshape(-1), [_plain(v) for v in values]
    known = host.asarray(classes)
    if len(labels) == 0:
        return host.zeros(0, dtype=host.int64), list(classes)
    try:
        index = host.clip(host.searchsorted(known, labels), 0, len(known) - 1)
        unknown = known[index] != labels
    except (TypeError, ValueError, host.exceptions.DTypePromotionError):
        unknown = host.ones(len(labels), dtype=bool)
    if unknown.any():
        i = int(host.argmax(unknown))
        raise GpubpError(
            f"{name}: row {i} has label {_plain(labels[i])!r}, which the model was not trained on "
            f"(classes: {_listing([str(c) for c in classes])})"
        )
    return index.astype(host.int64), list(classes)


def _plain(v: Any) -> int | float | bool | str:
    """A NumPy scalar as a JSON-serialisable Python value (integral floats become int)."""
    item = v.item()
    if isinstance(item, float) and item.is_integer():
        return int(item)
    return item


# ---------------------------------------------------------------------------
# Built-in data sets


def _digits(seed: int) -> _Raw:
    """The bundled UCI handwritten digits (8x8 images, pixels 0..16)."""
    with (resources.files("gpubp") / "data" / "digits.npz").open("rb") as f, host.load(f, allow_pickle=False) as d:
        X, y = d["X"].astype(host.float64), d["y"].astype(host.int64)  # (1797, 64), (1797,)
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return _Raw(X, y, names, "digit", "the digits target", lambda i: f"digits: sample {i}")


def _xor(seed: int, per_corner: int = 100, noise: float = 0.2) -> _Raw:
    """Gaussian clouds around the unit square's corners; the label is the XOR of the corner."""
    rng = host_rng(seed)
    corners = host.repeat(host.asarray([[0, 0], [0, 1], [1, 0], [1, 1]]), per_corner, axis=0)  # (4 * per_corner, 2)
    X = corners + rng.normal(0.0, noise, size=corners.shape)
    order = rng.permutation(len(X))
    y = corners[:, 0] ^ corners[:, 1]
    return _Raw(X[order], y[order], ["x1", "x2"], "xor", "the xor target", lambda i: f"xor: sample {i}")


def _spirals(seed: int, per_arm: int = 300, turns: float = 1.5, noise: float = 0.03) -> _Raw:
    """Two interleaved spiral arms in the unit disc, one per class."""
    rng = host_rng(seed)
    top = 2.0 * math.pi * turns
    t = top * (0.05 + 0.95 * host.sqrt(rng.uniform(size=2 * per_arm)))  # angle along the arm, (2 * per_arm,)
    arm = host.repeat(host.asarray([0, 1]), per_arm)
    angle = t + math.pi * arm  # arm 1 is arm 0 turned by half a circle
    X = (t / top)[:, None] * host.stack([host.cos(angle), host.sin(angle)], axis=1)  # (2 * per_arm, 2)
    X = X + rng.normal(0.0, noise, size=X.shape)
    order = rng.permutation(len(X))
    return _Raw(X[order], arm[order], ["x1", "x2"], "arm", "the spirals target", lambda i: f"spirals: sample {i}")


def _sine(seed: int, n: int = 500, noise: float = 0.05) -> _Raw:
    """Regression: x uniform in [-pi, pi], y = sin(x) + Gaussian noise."""
    rng = host_rng(seed)
    x = rng.uniform(-math.pi, math.pi, size=(n, 1))
    y = host.sin(x[:, 0]) + rng.normal(0.0, noise, size=n)
    return _Raw(x, y, ["x"], "y", "the sine target", lambda i: f"sine: sample {i}")


_BUILTINS: dict[str, Callable[[int], _Raw]] = {"digits": _digits, "xor": _xor, "spirals": _spirals, "sine": _sine}


# ---------------------------------------------------------------------------
# CSV files


def _read_csv(path: str, target: str | None, task: str, origin: str | None = None) -> _Raw:
    """Features and target from a CSV file with a header row."""
    header, body = _csv_table(path)
    if target is None:
        t = len(header) - 1
    elif target in header:
        t = header.index(target)
    elif origin:
        raise GpubpError(
            f"{path}: no column {target!r}, the target {origin} was trained on (columns: {_listing(header)})"
        )
    else:
        hint = ""
        if target.isdecimal() and int(target) < len(header):  # a position, not a name
            hint = f"; --target takes a column name, e.g. --target {header[int(target)]}"
        raise GpubpError(f"--target {target}: {path} has no such column (columns: {_listing(header)}){hint}")
    cols = [j for j in range(len(header)) if j != t]
    X = _csv_numbers(path, header, body, cols)
    y = _csv_target(path, header[t], [cells[t] for cells in body], task)
    name = header[t]

    def where(i: int) -> str:
        return f"{path}: row {i + 2}, column {name!r}"  # data row i is file row i + 2

    return _Raw(X, y, [header[j] for j in cols], name, f"column {name!r} of {path}", where)


def _csv_table(path: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV file, cells stripped, rows all as wide as the header."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        raise GpubpError(
            f"{path}: row {row}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "a CSV file must be UTF-8"
        ) from None
    rows: list[list[str]] = []
    try:
        for cells in csv.reader(io.StringIO(text, newline=""), skipinitialspace=True, strict=True):
            rows.append([cell.strip() for cell in cells])
    except csv.Error as exc:
        raise GpubpError(f"{path}: row {len(rows) + 1}: not valid CSV ({exc})") from None
    while rows and _blank(rows[-1]):  # blank lines at the end are fine
        rows.pop()
    if not rows:
        raise GpubpError(f"{path}: the file is empty (a CSV file needs a header row and data rows)")
    for number, cells in enumerate(rows, start=1):
        if _blank(cells):
            raise GpubpError(f"{path}: row {number} is blank (blank rows are allowed only at the end of the file)")
    header, body = rows[0], rows[1:]
    _check_header(path, header)
    if not body:
        raise GpubpError(f"{path}: no data rows, only the header row")
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(header):
            extra = len(cells) > len(header) and all(cell == "" for cell in cells[len(header) :])
            hint = " (a trailing comma?)" if extra else ""
            raise GpubpError(
                f"{path}: row {number} has {len(cells)} columns, expected {len(header)} as in the header{hint}"
            )
    return header, body


def _read_bytes(path: str) -> bytes:
    """The file's bytes; an unreadable or empty file is an error."""
    with _open(path) as f:
        data = f.read()
    if not data.strip():
        raise GpubpError(f"{path}: the file is empty")
    return data


def _open(path: str) -> Any:
    """The file opened for binary reading; failing to open it is an error naming the reason."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise GpubpError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GpubpError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise GpubpError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _blank(cells: list[str]) -> bool:
    """A row that is an empty or whitespace-only line."""
    return len(cells) == 0 or (len(cells) == 1 and cells[0] == "")


def _check_header(path: str, header: list[str]) -> None:
    """Column names: present, distinct, at least two, and not a data row."""
    if all(_number(name) is not None for name in header):
        raise GpubpError(f"{path}: row 1 holds only numbers; the first row must be a header naming the columns")
    for j, name in enumerate(header):
        if not name:
            hint = " (a trailing comma?)" if j == len(header) - 1 else ""
            raise GpubpError(f"{path}: row 1 (header), column {j + 1} has no name{hint}")
        if name in header[:j]:
            raise GpubpError(f"{path}: row 1 (header): column name {name!r} appears twice")
    if len(header) < 2:
        separator = next((f"{name} ({sep!r})" for sep, name in _SEPARATORS if sep in header[0]), None)
        hint = f"; it looks separated by {separator}: gpubp reads comma-separated files" if separator else ""
        raise GpubpError(
            f"{path}: only one column ({header[0]!r}); a CSV file needs feature columns and a target{hint}"
        )


#: Column separators other than the comma, to explain a file that reads as one column.
_SEPARATORS = (("\t", "tabs"), (";", "semicolons"), ("|", "bars"))


def _number(cell: str) -> float | None:
    """The cell as a float, or None if it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def _csv_numbers(path: str, header: list[str], body: list[list[str]], cols: list[int]) -> Any:
    """The feature columns as a finite float64 array; the first bad cell is named."""
    try:
        X = host.asarray([[float(cells[j]) for j in cols] for cells in body], dtype=host.float64)
        if host.all(host.isfinite(X)):
            return X.reshape(len(body), len(cols))
    except ValueError:
        pass
    for number, cells in enumerate(body, start=2):  # find the first bad cell, in reading order
        for j in cols:
            _check_cell(path, number, header[j], cells[j], "feature")
    raise AssertionError("unreachable: a bad feature cell was not found")


def _check_cell(path: str, number: int, name: str, cell: str, role: str) -> float:
    """The cell as a finite float; otherwise an error naming its row and column."""
    where = f"{path}: row {number}, column {name!r}"
    if cell == "":
        raise GpubpError(f"{where}: empty cell (every {role} must be a number)")
    value = _number(cell)
    if value is None:
        raise GpubpError(f"{where}: {cell!r} is not a number")
    if not math.isfinite(value):
        raise GpubpError(f"{where}: {cell!r} is not a finite number")
    return value


def _csv_target(path: str, name: str, cells: list[str], task: str) -> Any:
    """The target column: finite float64 numbers, or str labels when it holds text."""
    values = [_number(cell) for cell in cells]
    for number, (cell, value) in enumerate(zip(cells, values, strict=True), start=2):
        if cell == "" or (value is not None and not math.isfinite(value)):
            _check_cell(path, number, name, cell, "target")
    if all(value is not None for value in values):
        return host.asarray(values, dtype=host.float64)
    first = next(i for i, value in enumerate(values) if value is None)
    if task != "classify" and any(value is not None for value in values):
        raise GpubpError(
            f"{path}: row {first + 2}, column {name!r}: {cells[first]!r} is not a number, though other values are "
            "(fix it, or pass --task classify to read every value as a class label)"
        )
    return host.asarray(cells, dtype=str)


def _listing(names: list[str], limit: int = 20) -> str:
    """Names joined by commas, shortened when there are many."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, ... ({len(names)} in all)"


# ---------------------------------------------------------------------------
# .npz files


def _read_npz(path: str, need_y: bool = True) -> _Raw:
    """Arrays X (n, f) and y (n,) or (n, t) from an .npz archive, never unpickling anything.

    With ``need_y`` False (prediction) an archive without ``y`` is read too (its y then all zeros).
    """
    with _open(path) as f:  # our handle: np.load leaks its own when the zip is corrupt
        if not f.read(1):
            raise GpubpError(f"{path}: the file is empty")
        f.seek(0)
        try:
            archive = host.load(f, allow_pickle=False)
        except Exception as exc:  # np.load raises BadZipFile, ValueError, OSError or EOFError by content
            reason = "neither a zip archive nor a .npy array" if "pickle" in str(exc) else one_line(exc)
            raise GpubpError(f"{path}: not a valid .npz file ({reason})") from None
        if not hasattr(archive, "files"):
            raise GpubpError(f"{path}: holds a single .npy array, not an .npz archive with arrays X and y")
        with archive:
            keys = ("X", "y") if need_y or "y" in archive.files else ("X",)
            for key in keys:
                if key not in archive.files:
                    found = ", ".join(archive.files) or "none"
                    raise GpubpError(f"{path}: no array {key!r} (found: {found}); expected X (n, features) and y (n,)")
            X = _npz_array(archive, path, "X")
            y = _npz_array(archive, path, "y") if "y" in keys else None
    if X.dtype.kind not in "biuf":
        raise GpubpError(f"{path}: array 'X' has dtype {X.dtype}; features must be numbers")
    if X.ndim != 2 or 0 in X.shape:
        raise GpubpError(f"{path}: array 'X' has shape {X.shape}; expected 2-D (samples, features), neither empty")
    if y is None:  # prediction only: the features are all that is asked for
        y = host.zeros(len(X))
    if y.dtype.kind not in "biufU":
        raise GpubpError(f"{path}: array 'y' has dtype {y.dtype}; targets must be numbers or text labels")
    if y.ndim not in (1, 2) or 0 in y.shape[1:]:
        raise GpubpError(f"{path}: array 'y' has shape {y.shape}; expected (samples,) or (samples, targets)")
    if len(y) != len(X):
        raise GpubpError(f"{path}: X has {len(X)} rows but y has {len(y)}")
    X = _finite(path, "X", X.astype(host.float64))
    if y.dtype.kind == "f":
        y = _finite(path, "y", y.astype(host.float64))
    features = [f"x{j}" for j in range(X.shape[1])]
    return _Raw(X, y, features, "y", f"array 'y' of {path}", lambda i: f"{path}: y[{i}]")


def _npz_array(archive: Any, path: str, key: str) -> Any:
    """One array of the archive; object arrays are refused before any unpickling."""
    try:
        a = archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise GpubpError(
                f"{path}: array {key!r} holds Python objects (dtype object); only numeric arrays are read "
                "and pickled data is never loaded"
            ) from None
        raise GpubpError(f"{path}: array {key!r} cannot be read ({one_line(exc)})") from None
    except Exception as exc:  # zlib.error, BadZipFile, EOFError, OSError: a damaged archive
        raise GpubpError(f"{path}: array {key!r} cannot be read, the file is corrupt ({one_line(exc)})") from None
    if not hasattr(a, "dtype"):
        raise GpubpError(f"{path}: member {key!r} is not a .npy array")
    return a


def _finite(path: str, key: str, a: Any) -> Any:
    """``a`` if every value is finite; otherwise an error naming the first bad index."""
    bad = ~host.isfinite(a)
    if host.any(bad):
        index = ", ".join(str(int(i)) for i in host.argwhere(bad)[0])
        raise GpubpError(f"{path}: {key}[{index}] is {a[bad][0]} (values must be finite numbers)")
    return a


# ---------------------------------------------------------------------------
# Splits


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


def split_indices(n: int, *, val_fraction: float, test_fraction: float, seed: int, y: Any | None = None) -> Split:
    """Split ``range(n)`` into train, validation and test parts by a seeded permutation.

    Parameters
    ----------
    n : int
        Number of rows.
    val_fraction, test_fraction : float
        Each in [0, 1), their sum below 1. A part gets ``round(n * fraction)``
        rows (0 for a fraction of 0) and train the rest.
    seed : int
        Seeds the permutation (:func:`gpubp.backend.host_rng`).
    y : ndarray of shape (n,), optional
        Class labels: stratify, so every part holds each class in proportion
        where possible (largest remainders) and train holds every class.

    Returns
    -------
    Split

    Raises
    ------
    GpubpError
        A fraction is out of range, or ``n`` is too small: a non-zero fraction
        would get no row, train fewer than 2, or (stratified) some class none.
    """
    for flag, fraction in (("--val-fraction", val_fraction), ("--test-fraction", test_fraction)):
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise GpubpError(f"{flag} {fraction}: must be at least 0 and below 1")
    if val_fraction + test_fraction >= 1:
        raise GpubpError(
            f"--val-fraction {val_fraction} --test-fraction {test_fraction}: together they must be below 1"
        )
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    n_train = n - n_val - n_test
    asked = (
        f"too few samples: {n} rows cannot be split into train/val/test "
        f"with --val-fraction {val_fraction} --test-fraction {test_fraction}"
    )
    for flag, fraction, size in (("val", val_fraction, n_val), ("test", test_fraction, n_test)):
        if fraction > 0 and size == 0:
            raise GpubpError(f"{asked} ({flag} would get no row)")
    if n_train < 2:
        raise GpubpError(f"{asked} (train would get {max(n_train, 0)} rows; it needs at least 2)")
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


# ---------------------------------------------------------------------------
# Standardisation


class Standardizer:
    """Shift and scale features to mean 0 and standard deviation 1, fitted on the training part only.

    Attributes
    ----------
    mean, scale : ndarray of float64, shape (n_features,) or None
        None before :meth:`fit`. ``scale`` is 1 where a feature is constant.
    """

    def __init__(self, mean: Any | None = None, scale: Any | None = None) -> None:
        self.mean = None if mean is None else host.asarray(mean, dtype=host.float64)
        self.scale = None if scale is None else host.asarray(scale, dtype=host.float64)

    def fit(self, X: Any) -> Standardizer:
        """Learn each feature's mean and standard deviation from ``X`` (n, n_features)."""
        X = _matrix(X, "Standardizer.fit")
        if len(X) == 0:
            raise GpubpError("Standardizer.fit: X has no rows")
        if not host.all(host.isfinite(X)):
            raise GpubpError("Standardizer.fit: X has values that are not finite numbers")
        constant = X.max(axis=0) == X.min(axis=0)  # (n_features,); exact, unlike std < eps
        self.mean = host.where(constant, X[0], X.mean(axis=0))
        std = X.std(axis=0)
        self.scale = host.where(constant | (std == 0), 1.0, std)
        return self

    def transform(self, X: Any) -> Any:
        """``(X - mean) / scale`` as a new float64 array, shape (n, n_features)."""
        if self.mean is None or self.scale is None:
            raise GpubpError("Standardizer: call fit before transform")
        X = _matrix(X, "Standardizer.transform")
        if X.shape[1] != len(self.mean):
            raise GpubpError(f"Standardizer.transform: fitted on {len(self.mean)} features, got {X.shape[1]}")
        return (X - self.mean) / self.scale

    def to_dict(self) -> dict[str, list[float]]:
        """The fitted statistics as JSON-serialisable lists."""
        if self.mean is None or self.scale is None:
            raise GpubpError("Standardizer: call fit before to_dict")
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        """The inverse of :meth:`to_dict`; malformed metadata is a GpubpError."""
        try:
            mean = host.asarray(d["mean"], dtype=host.float64)
            scale = host.asarray(d["scale"], dtype=host.float64)
        except (KeyError, TypeError, ValueError):
            raise GpubpError("standardizer metadata: expected lists 'mean' and 'scale' of numbers") from None
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise GpubpError(f"standardizer metadata: 'mean' {mean.shape} and 'scale' {scale.shape} differ")
        if not (host.all(host.isfinite(mean)) and host.all(host.isfinite(scale)) and host.all(scale > 0)):
            raise GpubpError("standardizer metadata: values must be finite and every scale positive")
        return cls(mean, scale)


def _matrix(X: Any, what: str) -> Any:
    """``X`` as a 2-D float64 host array."""
    X = host.asarray(X, dtype=host.float64)
    if X.ndim != 2:
        raise GpubpError(f"{what}: X must be 2-D (samples, features), got shape {X.shape}")
    return X
