"""The fast CSV reader: polars' parser for well-formed numeric files, checked row by row against the exact one.

polars reads every data row (features as Float64 with unreadable cells null,
other columns as text). Quotes are off unless the file's first block holds
quotes and every quote in the file wraps a whole field (``"1.5"``, as
``csv.QUOTE_ALL`` writes them: :func:`scan` checks each one), where both
parsers read the same cells. Then every row it may have read differently
from Python's csv module -- a null, a non-finite number, a quote, a NUL or a
line break in a text cell, a target cell the exact reader would refuse -- is
found, and the first such row is where :mod:`.csv_file` hands over to the
exact reader. Rows before it are the exact reader's rows:
polars' numbers are Python's (both round correctly), and its integers too.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError
from .csv_text import BLOCK, BOM, blank, target_values

#: Bytes read at a time by :func:`scan`.
SCAN = 16 << 20

#: polars' frame and the float64 array are both held when together (16 bytes a cell) they stay
#: within this many times the file's size; beyond (cells under 8 bytes), the file is read in
#: batches, which takes about a third of the memory but is slower on a busy machine.
SIDE_BY_SIDE = 2.0


@dataclass
class Resume:
    """Where the exact reader takes over: rows before ``row`` are read and were good."""

    header: list[str]
    features: list[int]
    target: int | None
    offset: int  # the byte where file row ``row`` starts
    row: int
    X: Any
    cells_t: list[str]


def read_fast(
    pl: Any, path: str, f: BinaryIO, header: list[str], features: list[int], target: int | None, data_start: int
) -> tuple[Any, Any] | Resume | None:
    """polars' reading of the data rows (from byte ``data_start``, after a one-line header).

    Returns ``(X, y)`` for the whole file, or where the exact reader must take
    over: a :class:`Resume`, or None (from the start).

    Raises
    ------
    GpubpError
        The file has no data rows.
    """
    extra = _trailing_rows(f, data_start)
    if extra is None:
        return None
    if extra < 0:
        raise GpubpError(f"{path}: no data rows, only the header row")
    try:
        return _fast(pl, path, f, header, features, target, data_start, extra)
    except Exception:  # a row polars cannot split (too many cells, bad UTF-8, a lone CR), or an older polars
        return None


def polars() -> Any:
    """The polars module, or None where it is not installed."""
    try:
        import polars
    except ImportError:
        return None
    return polars


def header_of(line: bytes) -> list[str] | None:
    """The header cells if the first line is one complete record on its own; else None."""
    text = line.decode("utf-8").removeprefix(BOM.decode("utf-8"))
    try:
        records = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error:
        return None
    if len(records) != 1 or blank(records[0]) or "\r" in text.rstrip("\r\n") or text.endswith("\r\r\n"):
        return None
    return [cell.strip() for cell in records[0]]


def _fast(
    pl: Any,
    path: str,
    f: BinaryIO,
    header: list[str],
    features: list[int],
    target: int | None,
    data_start: int,
    extra: int,
) -> tuple[Any, Any] | Resume | None:
    """polars' reading, checked: see :func:`read_fast`."""
    read = _columns(pl, path, f, data_start, header, features)
    if read is None:
        return None
    X, text = read
    n = len(X) - extra
    if n < 1 or not _all_blank(X[n:], [column.slice(n) for column in text.values()]):
        return None
    X, text = X[:n], {c: column.head(n) for c, column in text.items()}
    finite = host.isfinite(X).all(axis=1)
    stop = n if finite.all() else int(host.argmin(finite))
    for column in text.values():  # a quote, a NUL or a line break (in quotes): leave the row to the exact reader
        odd = column.is_null() | column.str.contains('["\x00\r\n]')
        stop = min(stop, int(odd.arg_true()[0])) if odd.any() else stop
    y = None
    if target is not None:
        y, bad = _fast_target(pl, text[f"c{target}"].head(stop))
        stop = stop if bad is None else bad
    if stop == n:
        return X, y
    cells_t = [] if target is None else text[f"c{target}"].head(stop).to_list()
    return Resume(header, features, target, _line_offset(f, data_start, stop), stop + 2, X[:stop], cells_t)


def _columns(
    pl: Any, path: str, f: BinaryIO, data_start: int, header: list[str], features: list[int]
) -> tuple[Any, dict] | None:
    """Every row polars reads: the features as one float64 array (NaN where null), the other columns as text.

    polars' frame and the array are side by side only where both together
    stay within :data:`SIDE_BY_SIDE` times the file's size (long cells, such as
    full float64 reprs); a file of short cells (small integers, few decimals) is
    read in batches into the array, so the peak is the array and one batch.
    None if polars reads more rows than the file has lines.
    """
    chosen = set(features)
    others = [f"c{j}" for j in range(len(header)) if j not in chosen]

    def split(frame: Any) -> tuple[Any, dict]:
        text = {c: frame.drop_in_place(c) for c in others}
        if features != sorted(chosen):  # in place above: cheap however wide the frame; selecting is not
            frame = frame.select([f"c{j}" for j in features])
        return frame, text

    seen = scan(f, data_start)
    if 16 * seen.lines * len(features) <= SIDE_BY_SIDE * seen.size:
        options = _options(pl, path, len(header), features, seen.quote)
        frame, text = split(pl.read_csv(**options))
        return frame.to_numpy(order="c"), text  # (rows, len(features)); nulls are NaN
    if not seen.exact:
        seen = scan(f, data_start, whole=True)
    options = _options(pl, path, len(header), features, seen.quote)
    X = host.empty((seen.lines + 1, len(features)), dtype=host.float64)  # pages are touched only as rows arrive
    parts: dict[str, list[Any]] = {c: [] for c in others}
    rows = 0
    for batch in pl.scan_csv(**options).collect_batches():
        frame, text = split(batch)
        if rows + frame.height > len(X):
            return None
        X[rows : rows + frame.height] = frame.to_numpy(order="c")
        rows += frame.height
        for c in others:
            parts[c].append(text[c])
    if not rows:
        return None
    return X[:rows], {c: pl.concat(series) for c, series in parts.items()}


@dataclass(frozen=True)
class Scan:
    """What :func:`scan` found: the quote character for polars, the line breaks (or an estimate), the file's size."""

    quote: str | None
    lines: int
    size: int
    exact: bool  # whether ``lines`` was counted over the whole file


def scan(f: BinaryIO, data_start: int, *, whole: bool = False) -> Scan:
    """The data rows (from ``data_start``) read a block at a time: count lines, judge quotes.

    Only the first block is read, unless it holds a quote or ``whole`` is
    given: then every block (one pass over the file). From the first block
    alone, the lines are estimated and the quote is None (a quote further on
    sends its row to the exact reader).

    The quote is '"' when the data rows hold quotes and every one wraps a whole
    field: an opening quote begins a field (at the start of a line or after a
    comma), the next quote closes it and ends the field (a comma, a line break
    or the end of the file follows). Python's csv module and polars then split
    every row into the same cells. Otherwise None (polars reads quotes as text):
    a doubled quote (``""`` inside quotes), a space before a quote, or a quote
    inside a field is left to the exact reader, as are rows with a line break
    inside quotes (found by the caller).
    """
    buffer = bytearray(SCAN)
    view = memoryview(buffer)
    offset, lines, quoted, wrapping, starts_line = data_start, 0, False, True, True
    while True:
        f.seek(offset)
        size = f.readinto(view)
        if not size:
            return Scan('"' if quoted and wrapping else None, lines, offset, True)
        last = size < SCAN
        if not last:  # cut after the last line break, so that the next block begins a line
            size = buffer.rfind(b"\n", 0, size) + 1 or size
        offset += size
        lines += buffer.count(b"\n", 0, size)
        if wrapping and buffer.find(b'"', 0, size) >= 0:
            quoted = True
            whole_lines = starts_line and (last or buffer[size - 1] == ord("\n"))  # else a line of over SCAN bytes
            wrapping = whole_lines and _wrapping(host.frombuffer(buffer, host.uint8, size))
        starts_line = buffer[size - 1] == ord("\n")
        if not (whole or quoted or last):
            end = f.seek(0, os.SEEK_END)
            return Scan(None, math.ceil(lines * (end - data_start) / (offset - data_start)), end, False)


def _wrapping(b: Any) -> bool:
    """Whether every quote in ``b`` (bytes from the start of a line) opens or closes a field as one pair."""
    q = host.flatnonzero(b == ord('"'))
    if len(q) % 2:
        return False  # a quote left open at the end of the block: a line break inside quotes, or a stray quote
    opening, closing = q[0::2], q[1::2]
    before = b[opening[opening > 0] - 1]
    if not ((before == ord(",")) | (before == ord("\n"))).all():
        return False
    after = closing[closing + 1 < len(b)] + 1  # a quote closing the last field of the file ends it
    follows = b[after]
    crlf = b[host.minimum(after + 1, len(b) - 1)] == ord("\n")
    return bool(((follows == ord(",")) | (follows == ord("\n")) | ((follows == ord("\r")) & crlf)).all())


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


def _options(pl: Any, path: str, width: int, features: list[int], quote: str | None) -> dict[str, Any]:
    """polars' CSV options: every data row, features Float64 (null where unreadable), other columns text."""
    chosen = set(features)
    return dict(
        source=os.path.abspath(path),  # never a URL, nor a path from the home folder: this file
        glob=False,  # a name with * or [ ] is a name, not a pattern
        has_header=False,
        skip_lines=1,
        schema={f"c{j}": pl.Float64 if j in chosen else pl.String for j in range(width)},
        quote_char=quote,
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


def _all_blank(X: Any, text: list[Any]) -> bool:
    """Whether rows read from blank lines are NaN (null) in every feature and blank in every other column."""
    return bool(host.isnan(X).all()) and all(
        bool((column.is_null() | (column.str.strip_chars(" \t") == "")).all()) for column in text
    )


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
    values, bad = target_values(distinct.to_list())
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
