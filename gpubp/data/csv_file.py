"""CSV files with a header row: numeric feature columns and one target column.

Every bad input is a :class:`~gpubp.errors.GpubpError` naming the file, the row
(1-based, the header being row 1) and the column; the first problem in reading
order is the one reported.

Two readers, one meaning. :mod:`.csv_text` reads records exactly as Python's
csv module does and words every error; it is the definition, and it is slow
(about 30 s per GB on one core). A well-formed numeric file -- no quotes, no
blank rows but at the end -- goes through polars' CSV parser instead
(:mod:`.csv_fast`), in about the time ``pandas.read_csv`` takes and in memory
close to the file's size (``benchmarks/load_data.py``). A row polars reads
differently, or cannot read, is found (a null, a non-finite number, a quote),
and the exact reader takes over from that row, so every result and every
message is the exact reader's. Without polars installed, the exact reader
reads everything.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError, ParameterError
from .csv_fast import Resume, header_of, polars, read_fast
from .csv_text import Records, blank, check_cell, first_line, number, target_values
from .dataset import Dataset
from .files import listing, open_binary, row_slice

#: Column separators other than the comma, to explain a file that reads as one column.
_SEPARATORS = (("\t", "tabs"), (";", "semicolons"), ("|", "bars"))

#: header -> (the feature columns, the target column or None): what a caller reads of a file.
Chooser = Callable[[list[str]], "tuple[list[int], int | None]"]


@dataclass
class Table:
    """The columns of a CSV file that a caller chose.

    ``X`` is float64 (n, len(features)), finite; ``y`` the target column typed
    as :func:`load_csv` documents, or None when no target was chosen.
    """

    header: list[str]
    features: list[int]
    target: int | None
    X: Any
    y: Any


def load_csv(path: str, target: str | None = None, *, rows: tuple[int, int] | None = None) -> Dataset:
    """Features and target from a CSV file with a header row.

    Parameters
    ----------
    path : str
    target : str or None
        The target column's name; default the last column. Every other column
        is a feature and must hold finite numbers.
    rows : (start, stop) or None
        Only these data rows (0-based, stop exclusive; the whole file is still
        checked). Default: all.

    Returns
    -------
    Dataset
        ``y`` is int64 when every target cell is a whole number written without
        a point, float64 when every cell is a number, else the cells as text.
    """

    def choose(header: list[str]) -> tuple[list[int], int | None]:
        t = target_column(path, header, target)
        return [j for j in range(len(header)) if j != t], t

    table = read_csv(path, choose, rows=rows)
    name = table.header[table.target]  # type: ignore[index]
    start = 0 if rows is None else int(rows[0])

    def where(i: int) -> str:
        return f"{path}: row {i + start + 2}, column {name!r}"  # data row i is file row i + 2

    return Dataset(table.X, table.y, [table.header[j] for j in table.features], name, path, where)


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


def read_csv(path: str, choose: Chooser, *, rows: tuple[int, int] | None = None) -> Table:
    """The columns ``choose(header)`` names, from a CSV file with a header row; see the module docstring.

    Time linear in the file's size; memory about the size of the arrays returned plus the file's.
    """
    with open_binary(path) as f:
        table = _read(path, f, choose)
    if rows is not None:
        part = row_slice(path, rows, len(table.X))
        table.X = table.X[part]
        table.y = None if table.y is None else table.y[part]
    return table


def read_table(path: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a small CSV file as text (all of it in memory; prefer :func:`read_csv`)."""
    with open_binary(path) as f:
        header, body = None, []
        for _, cells in _data(path, Records(path, f)):
            if header is None:
                header = cells
            else:
                body.append(cells)
    if not body:
        raise GpubpError(f"{path}: no data rows, only the header row")
    return header or [], body


def numbers(path: str, header: list[str], body: list[list[str]], cols: list[int]) -> Any:
    """The columns ``cols`` of rows read by :func:`read_table` as a finite float64 array (n, len(cols))."""
    out: array[float] = array("d")
    for row, cells in enumerate(body, start=2):
        _features(path, header, row, cells, cols, out)
    return host.frombuffer(out, dtype=host.float64).reshape(len(body), len(cols))


# ----------------------------------------------------------------------------- the exact reader


def _data(path: str, records: Records, width: int = 0) -> Iterator[tuple[int, list[str]]]:
    """The header (unless ``width`` says it was read) and each data row as ``(row, cells)``, checked.

    Checks blank rows, each row's width and the header.
    """
    pending = None  # the first of the blank rows seen since the last row with cells
    for row, cells in records:
        if blank(cells):
            pending = pending or row
            continue
        if pending:
            raise GpubpError(f"{path}: row {pending} is blank (blank rows are allowed only at the end of the file)")
        if not width:
            _check_header(path, cells)
            width = len(cells)
        elif len(cells) != width:
            extra = len(cells) > width and all(cell == "" for cell in cells[width:])
            hint = " (a trailing comma?)" if extra else ""
            raise GpubpError(f"{path}: row {row} has {len(cells)} columns, expected {width} as in the header{hint}")
        yield row, cells
    if not width:
        if records.only_whitespace:
            raise GpubpError(f"{path}: the file is empty")
        raise GpubpError(f"{path}: the file is empty (a CSV file needs a header row and data rows)")


def _exact(path: str, f: BinaryIO, choose: Chooser, resume: Resume | None = None) -> Table:
    """Read every row exactly (from the start, or from where the fast reader stopped) and word the first error."""
    if resume is None:
        rows = _data(path, Records(path, f))
        header = next(rows)[1]
        features, target = choose(header)
        cells_t: list[str] = []
    else:
        header, features, target = resume.header, resume.features, resume.target
        rows = _data(path, Records(path, f, resume.offset, resume.row, resume.row), len(header))
        cells_t = resume.cells_t
    X: array[float] = array("d")
    for row, cells in rows:
        _features(path, header, row, cells, features, X)
        if target is not None:
            cell = cells[target]
            value = number(cell)
            if cell == "" or (value is not None and not math.isfinite(value)):
                check_cell(path, row, header[target], cell, "target")
            cells_t.append(cell)
    X_new = host.frombuffer(X, dtype=host.float64).reshape(-1, len(features))
    if resume is not None:
        X_new = host.concatenate([resume.X, X_new])
    if not len(X_new):
        raise GpubpError(f"{path}: no data rows, only the header row")
    y = None if target is None else _typed(path, header[target], cells_t)
    return Table(header, features, target, X_new, y)


def _features(path: str, header: list[str], row: int, cells: list[str], cols: list[int], out: array[float]) -> None:
    """Append row ``row``'s features to ``out``; the first bad cell is an error naming its row and column."""
    try:
        values = [float(cells[j]) for j in cols]
        total = sum(values)
        if total - total == 0:  # every value finite (an overflowing sum only sends us to look)
            out.extend(values)
            return
    except ValueError:
        pass
    for j in cols:
        check_cell(path, row, header[j], cells[j], "feature")
    out.extend(float(cells[j]) for j in cols)  # finite values whose sum overflowed


def _check_header(path: str, header: list[str]) -> None:
    """Column names: present, distinct, at least two, and not a data row (linear in the number of columns)."""
    if all(number(name) is not None for name in header):
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


def _typed(path: str, name: str, cells: list[str]) -> Any:
    """The target column typed once (int64 whole numbers, float64 numbers, or the text itself), in linear time."""
    index: dict[str, int] = {}
    codes = host.fromiter((index.setdefault(cell, len(index)) for cell in cells), dtype=host.intp, count=len(cells))
    values, bad = target_values(list(index))
    if bad:  # the exact reader checked every cell; kept so a caller of _typed alone gets an error too
        first = int(host.flatnonzero(host.isin(codes, bad))[0])
        check_cell(path, first + 2, name, cells[first].strip(), "target")
    return values[codes]


def _read(path: str, f: BinaryIO, choose: Chooser) -> Table:
    """The fast reader where it can, the exact reader from the first row it cannot read."""
    line = first_line(path, f)
    pl = polars() if line is not None else None
    header = header_of(line) if pl is not None and line is not None else None
    if header is None:
        return _exact(path, f, choose)
    _check_header(path, header)
    features, target = choose(header)
    fast = read_fast(pl, path, f, header, features, target, len(line))  # type: ignore[arg-type]
    if isinstance(fast, tuple):
        return Table(header, features, target, *fast)
    return _exact(path, f, choose, fast)
