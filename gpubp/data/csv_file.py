"""CSV files with a header row: numeric feature columns and one target column.

Every bad input is a :class:`~gpubp.errors.GpubpError` naming the file, the row
(1-based, the header being row 1) and the column; the first problem in reading
order is the one reported.

Two readers, one meaning. :mod:`.csv_text` reads records exactly as Python's
csv module does and words every error; it is the definition, and it is slow
(about 40 s per GB). A well-formed numeric file -- no quotes, no blank rows
but at the end -- goes through polars' CSV parser instead, in about half the
time pandas takes and in memory close to the file's size. A row polars reads
differently, or cannot read, is found (a null, a non-finite number, a quote),
and the exact reader takes over from that row, so every result and every
message is the exact reader's. Without polars installed, the exact reader
reads everything.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError, ParameterError
from .csv_text import BLOCK, BOM, Records, blank, first_line
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
    raise ParameterError("target", f"is not a column of {path} (columns: {listing(header)}){hint}", target)


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
    for number, cells in enumerate(body, start=2):
        _features(path, header, number, cells, cols, out)
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


def _exact(path: str, f: BinaryIO, choose: Chooser, resume: _Resume | None = None) -> Table:
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
            value = _number(cell)
            if cell == "" or (value is not None and not math.isfinite(value)):
                _check_cell(path, row, header[target], cell, "target")
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
        _check_cell(path, row, header[j], cells[j], "feature")
    out.extend(float(cells[j]) for j in cols)  # finite values whose sum overflowed


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


# ----------------------------------------------------------------------------- the target column


def _target_values(cells: list[str]) -> tuple[Any, list[int]]:
    """Distinct target cells typed once: (values, []) -- int64, float64 or text -- or (None, the bad ones)."""
    cells = [cell.strip() for cell in cells]
    values = [_number(cell) for cell in cells]
    bad = [i for i, (c, v) in enumerate(zip(cells, values, strict=True)) if c == "" or (v is not None and v - v != 0)]
    if bad:
        return None, bad
    if any(value is None for value in values):
        return host.asarray(cells, dtype=str), []
    try:
        return host.asarray([int(cell) for cell in cells], dtype=host.int64), []
    except (ValueError, OverflowError):
        return host.asarray(values, dtype=host.float64), []


def _typed(path: str, name: str, cells: list[str]) -> Any:
    """The target column typed once (int64 whole numbers, float64 numbers, or the text itself), in linear time."""
    index: dict[str, int] = {}
    codes = host.fromiter((index.setdefault(cell, len(index)) for cell in cells), dtype=host.intp, count=len(cells))
    values, bad = _target_values(list(index))
    if bad:  # the exact reader checked every cell; kept so a caller of _typed alone gets an error too
        first = int(host.flatnonzero(host.isin(codes, bad))[0])
        _check_cell(path, first + 2, name, cells[first].strip(), "target")
    return values[codes]


# ----------------------------------------------------------------------------- the fast reader


@dataclass
class _Resume:
    """Where the exact reader takes over: rows before ``row`` are read and were good."""

    header: list[str]
    features: list[int]
    target: int | None
    offset: int  # the byte where file row ``row`` starts
    row: int
    X: Any
    cells_t: list[str]


def _read(path: str, f: BinaryIO, choose: Chooser) -> Table:
    """The fast reader where it can, the exact reader from the first row it cannot read."""
    line = first_line(path, f)
    pl = _polars() if line is not None else None
    header = _header(line) if pl is not None and line is not None else None
    if header is None:
        return _exact(path, f, choose)
    _check_header(path, header)
    features, target = choose(header)
    data_start = len(line)  # type: ignore[arg-type]
    extra = _trailing_rows(f, data_start)
    if extra is None:
        return _exact(path, f, choose)
    if extra < 0:
        raise GpubpError(f"{path}: no data rows, only the header row")
    try:
        fast = _fast(pl, path, f, header, features, target, data_start, extra)
    except Exception:  # a row polars cannot split (too many cells, bad UTF-8, a lone CR), or an older polars
        return _exact(path, f, choose)
    if isinstance(fast, Table):
        return fast
    return _exact(path, f, choose, fast)


def _fast(
    pl: Any,
    path: str,
    f: BinaryIO,
    header: list[str],
    features: list[int],
    target: int | None,
    data_start: int,
    extra: int,
) -> Table | _Resume | None:
    """polars' reading of the file: the whole table, or where the exact reader must take over (None: from the start)."""
    frame = _polars_frame(pl, path, len(header), features)
    n = frame.height - extra
    if n < 1 or not _all_blank(pl, frame.slice(n), features):
        return None
    if extra:
        frame = frame.head(n)
    chosen = set(features)
    text = {c: frame.drop_in_place(c) for c in [f"c{j}" for j in range(len(header)) if j not in chosen]}
    if features != sorted(chosen):  # in place above: cheap however wide the frame; selecting is not
        frame = frame.select([f"c{j}" for j in features])
    X = frame.to_numpy(order="c")  # (n, len(features)); nulls are NaN
    del frame
    finite = host.isfinite(X).all(axis=1)
    stop = n if finite.all() else int(host.argmin(finite))
    for column in text.values():  # a quote, a NUL or a carriage return: leave the row to the exact reader
        odd = column.is_null() | column.str.contains('["\x00\r]')
        stop = min(stop, int(odd.arg_true()[0])) if odd.any() else stop
    y = None
    if target is not None:
        y, bad = _fast_target(pl, text[f"c{target}"].head(stop))
        stop = stop if bad is None else bad
    if stop == n:
        return Table(header, features, target, X, y)
    cells_t = [] if target is None else text[f"c{target}"].head(stop).to_list()
    return _Resume(header, features, target, _line_offset(f, data_start, stop), stop + 2, X[:stop], cells_t)


def _polars() -> Any:
    """The polars module, or None where it is not installed."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def _header(line: bytes) -> list[str] | None:
    """The header cells if the first line is one complete record on its own; else None."""
    import csv

    text = line.decode("utf-8").removeprefix(BOM.decode("utf-8"))
    try:
        records = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error:
        return None
    if len(records) != 1 or blank(records[0]) or "\r" in text.rstrip("\r\n") or text.endswith("\r\r\n"):
        return None
    return [cell.strip() for cell in records[0]]


def _trailing_rows(f: BinaryIO, data_start: int) -> int | None:
    """How many blank rows polars reads after the last data row; -1 if there are no data rows; None if odd.

    Only the file's whitespace tail is read (backwards, from the end).
    """
    end = f.seek(0, os.SEEK_END)
    size = end
    while end > data_start:
        start = max(data_start, end - BLOCK)
        f.seek(start)
        kept = len(f.read(end - start).rstrip())
        if kept:
            end = start + kept
            break
        end = start
    else:
        return -1
    f.seek(end)
    tail = f.read(size - end)
    cut = tail.find(b"\n")
    if cut < 0:
        return 0
    rest = tail[cut + 1 :]
    if rest.translate(None, b" \t\r\n") or b"\r" in rest.replace(b"\r\n", b""):
        return None  # a vertical tab, a form feed or a lone carriage return: leave it to the exact reader
    return rest.count(b"\n") + (1 if rest and not rest.endswith(b"\n") else 0)


def _polars_frame(pl: Any, path: str, width: int, features: list[int]) -> Any:
    """Every data row as polars reads it: features Float64 (null where unreadable), other columns text."""
    chosen = set(features)
    schema = {f"c{j}": pl.Float64 if j in chosen else pl.String for j in range(width)}
    return pl.read_csv(
        os.path.abspath(path),  # never a URL, nor a path from the home folder: this file
        glob=False,  # a name with * or [ ] is a name, not a pattern
        has_header=False,
        skip_lines=1,
        schema=schema,
        quote_char=None,
        ignore_errors=True,
        comment_prefix=None,
        null_values=None,
        raise_if_empty=False,
        truncate_ragged_lines=False,
        try_parse_dates=False,
        decimal_comma=False,
        encoding="utf8",
        low_memory=False,
    )


def _all_blank(pl: Any, rows: Any, features: list[int]) -> bool:
    """Whether each of these rows (read from blank lines) is null in every feature and blank in every other column."""
    if rows.height == 0:
        return True
    chosen = set(features)
    empty = [
        pl.col(c).is_null() if j in chosen else pl.col(c).is_null() | (pl.col(c).str.strip_chars(" \t") == "")
        for j, c in enumerate(rows.columns)
    ]
    return bool(rows.select(pl.all_horizontal(empty).all()).item())


def _fast_target(pl: Any, s: Any) -> tuple[Any, int | None]:
    """The target column typed exactly as the exact reader types it, or (None, the first row it must read)."""
    ints = s.cast(pl.Int64, strict=False)  # polars' integers are Python's, with the same values
    if ints.null_count() == 0:
        return ints.to_numpy(), None
    floats = s.cast(pl.Float64, strict=False)  # and so are its floats
    if floats.null_count() == 0 and floats.is_finite().all():
        for cell in s.filter(ints.is_null()):  # one cell Python's int() refuses makes the column float64
            try:
                int(cell.strip())
            except ValueError:
                return floats.to_numpy(), None
    distinct = s.unique().sort()
    codes = distinct.search_sorted(s).to_numpy()  # each row's index among the distinct cells
    values, bad = _target_values(distinct.to_list())
    if bad:
        return None, int(host.flatnonzero(host.isin(codes, bad))[0])
    return values[codes], None


def _line_offset(f: BinaryIO, start: int, lines: int) -> int:
    """The byte offset where line ``lines`` (0-based) after byte ``start`` begins."""
    f.seek(start)
    offset = start
    while lines:
        block = f.read(8 * BLOCK)
        count = block.count(b"\n")
        if count < lines:
            lines -= count
            offset += len(block)
            continue
        at = -1
        for _ in range(lines):
            at = block.index(b"\n", at + 1)
        return offset + at + 1
    return offset
