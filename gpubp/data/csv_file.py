"""CSV files with a header row: numeric feature columns and one target column.

Every bad input is a :class:`~gpubp.errors.GpubpError` naming the file, the row
(1-based, the header being row 1) and the column.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from ..backend import host
from ..errors import GpubpError, ParameterError
from .dataset import Dataset
from .files import listing, open_binary

#: Column separators other than the comma, to explain a file that reads as one column.
_SEPARATORS = (("\t", "tabs"), (";", "semicolons"), ("|", "bars"))


def load_csv(path: str, target: str | None = None) -> Dataset:
    """Features and target from a CSV file with a header row.

    Parameters
    ----------
    path : str
    target : str or None
        The target column's name; default the last column. Every other column
        is a feature and must hold finite numbers.

    Returns
    -------
    Dataset
        ``y`` is int64 when every target cell is a whole number written without
        a point, float64 when every cell is a number, else the cells as text.
    """
    header, body = read_table(path)
    t = target_column(path, header, target)
    cols = [j for j in range(len(header)) if j != t]
    X = numbers(path, header, body, cols)
    name = header[t]
    y = _target(path, name, [cells[t] for cells in body])

    def where(i: int) -> str:
        return f"{path}: row {i + 2}, column {name!r}"  # data row i is file row i + 2

    return Dataset(X, y, [header[j] for j in cols], name, path, where)


def target_column(path: str, header: list[str], target: str | None) -> int:
    """The position of the target column (default: the last); a missing name is a ParameterError."""
    if target is None:
        return len(header) - 1
    if target in header:
        return header.index(target)
    hint = ""
    if target.isdecimal() and int(target) < len(header):  # a position, not a name
        hint = f"; target takes a column name, e.g. {header[int(target)]!r}"
    raise ParameterError("target", f"not a column of {path} (columns: {listing(header)}){hint}", target)


def read_table(path: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV file, cells stripped, rows all as wide as the header."""
    with open_binary(path) as f:
        data = f.read()
    if not data.strip():
        raise GpubpError(f"{path}: the file is empty")
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


def _blank(cells: list[str]) -> bool:
    """A row that is an empty or whitespace-only line."""
    return len(cells) == 0 or (len(cells) == 1 and cells[0] == "")


def _check_header(path: str, header: list[str]) -> None:
    """Column names: present, distinct, at least two, and not a data row (linear in the number of columns)."""
    if all(_number(name) is not None for name in header):
        raise GpubpError(f"{path}: row 1 holds only numbers; the first row must be a header naming the columns")
    seen: set[str] = set()
    for j, name in enumerate(header):
        if not name:
            hint = " (a trailing comma?)" if j == len(header) - 1 else ""
            raise GpubpError(f"{path}: row 1 (header), column {j + 1} has no name{hint}")
        if name in seen:
            raise GpubpError(f"{path}: row 1 (header): column name {name!r} appears twice")
        seen.add(name)
    if len(header) < 2:
        separator = next((f"{name} ({sep!r})" for sep, name in _SEPARATORS if sep in header[0]), None)
        hint = f"; it looks separated by {separator}: gpubp reads comma-separated files" if separator else ""
        raise GpubpError(
            f"{path}: only one column ({header[0]!r}); a CSV file needs feature columns and a target{hint}"
        )


def _number(cell: str) -> float | None:
    """The cell as a float, or None if it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def numbers(path: str, header: list[str], body: list[list[str]], cols: list[int]) -> Any:
    """The columns ``cols`` as a finite float64 array (n, len(cols)); the first bad cell is named."""
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


def _target(path: str, name: str, cells: list[str]) -> Any:
    """The target column typed once: int64 whole numbers, float64 numbers, or the text itself."""
    values = [_number(cell) for cell in cells]
    for number, (cell, value) in enumerate(zip(cells, values, strict=True), start=2):
        if cell == "" or (value is not None and not math.isfinite(value)):
            _check_cell(path, number, name, cell, "target")
    if any(value is None for value in values):
        return host.asarray(cells, dtype=str)
    try:
        return host.asarray([int(cell) for cell in cells], dtype=host.int64)
    except (ValueError, OverflowError):
        return host.asarray(values, dtype=host.float64)
