"""A CSV file's records exactly as Python's :mod:`csv` module reads them, streamed in bounded memory.

This is the exact, slow path of :mod:`.csv_file`: it defines what a CSV file
means (quotes, blank rows, line endings, whitespace) and words every error. It
never holds more than a block of bytes and one record: the bytes stream
through a checker that refuses binary data (a NUL byte, a byte that is not
UTF-8) and endless lines as they pass, so a 2 GB file of junk is refused after
its first block, not after it fills memory.

Rows are numbered from 1 (the header) in records, as the csv module counts
them; a byte error names the line it is on and its offset in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..backend import host
from ..errors import GpubpError

#: Bytes read at a time.
BLOCK = 1 << 20

#: The longest line read: more bytes than this without a line break is not a table of rows.
MAX_LINE = 256 << 20

#: The UTF-8 byte order mark some editors put at the start of a file (read as utf-8-sig).
BOM = b"\xef\xbb\xbf"


class _CheckedBytes(io.RawIOBase):
    """The bytes of ``f`` from its position on, checked as they stream past.

    Raises GpubpError at the first NUL byte, the first byte that is not UTF-8,
    or a line longer than :data:`MAX_LINE`; counts lines and notes whether any
    byte is not whitespace.
    """

    def __init__(self, path: str, f: BinaryIO, offset: int, line: int) -> None:
        self.path = path
        self.f = f
        self.offset = offset  # the file offset of the next byte read
        self.line = line  # the 1-based line the next byte is on
        self.run = 0  # bytes since the last line break
        self.nonspace = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.f.read(min(len(buffer), BLOCK))
        self.check(data)
        buffer[: len(data)] = data
        return len(data)

    def check(self, data: bytes) -> None:
        """Refuse ``data`` if it holds a NUL byte, a byte that is not UTF-8, or ends an endless line."""
        bad = data.find(b"\0")
        pending = len(self.decoder.getstate()[0])  # the first bytes of a character cut at the last block's end
        if pending or not data or not data.isascii():  # ASCII after whole characters is UTF-8: skip decoding it
            try:
                self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                at = exc.start - pending  # relative to data; negative if it began in the previous block
                if bad < 0 or at < bad:
                    byte = exc.object[exc.start]
                    self._refuse(data, at, f"not UTF-8 text (byte 0x{byte:02x} at offset {self.offset + at})")
        if bad >= 0:
            self._refuse(data, bad, f"binary data, not UTF-8 text (byte 0x00 at offset {self.offset + bad})")
        if not self.nonspace and data.strip():
            self.nonspace = True
        last = max(data.rfind(b"\n"), data.rfind(b"\r"))
        self.run = self.run + len(data) if last < 0 else len(data) - last - 1
        if self.run > MAX_LINE:
            self._refuse(data, len(data), f"no line break in {MAX_LINE >> 20} MiB, so not a table of rows")
        self.line += data.count(b"\n")
        self.offset += len(data)

    def _refuse(self, data: bytes, at: int, what: str) -> None:
        row = self.line + data.count(b"\n", 0, max(at, 0))
        raise GpubpError(f"{self.path}: row {row}: {what}; a CSV file must be UTF-8")


class Records:
    """Iterates ``(row, cells)`` over the records of a CSV file from a record boundary on.

    ``cells`` are stripped of surrounding whitespace; a blank line is a record
    of no cells or one empty cell. Parameters: ``f`` is positioned at byte
    ``offset`` (0: the start, where a UTF-8 byte order mark is skipped), which
    begins record ``row`` on line ``line``.
    """

    def __init__(self, path: str, f: BinaryIO, offset: int = 0, row: int = 1, line: int = 1) -> None:
        f.seek(offset)
        if offset == 0 and f.read(len(BOM)) == BOM:
            offset = len(BOM)
        f.seek(offset)
        self.path = path
        self.row = row
        self.bytes = _CheckedBytes(path, f, offset, line)
        self.text = io.TextIOWrapper(io.BufferedReader(self.bytes, BLOCK), encoding="utf-8", newline="")
        self.reader = csv.reader(self.text, skipinitialspace=True, strict=True)

    @property
    def only_whitespace(self) -> bool:
        """Whether every byte read so far is whitespace."""
        return not self.bytes.nonspace

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                cells = next(self.reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise GpubpError(f"{self.path}: row {self.row}: not valid CSV ({exc})") from None
            yield self.row, [cell.strip() for cell in cells]
            self.row += 1


def blank(cells: list[str]) -> bool:
    """A record that is an empty or whitespace-only line."""
    return len(cells) == 0 or (len(cells) == 1 and cells[0] == "")


def first_line(path: str, f: BinaryIO) -> bytes | None:
    """The file's first line (from byte 0, with its line break), read in blocks and checked; None if odd.

    None (let the exact reader decide) when the file has no line break in
    :data:`MAX_LINE` bytes, or a NUL byte or a byte that is not UTF-8 before its first line break.
    """
    f.seek(0)
    parts: list[bytes] = []
    size = 0
    while size <= MAX_LINE:
        block = f.read(BLOCK)
        if not block or b"\0" in block[: block.find(b"\n") + 1 or len(block)]:
            return None
        end = block.find(b"\n")
        parts.append(block if end < 0 else block[: end + 1])
        size += len(parts[-1])
        if end >= 0:
            line = b"".join(parts)
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return None
            return line
    return None


# ----------------------------------------------------------------------------- what a cell means


def number(cell: str) -> float | None:
    """The cell as a float, or None if it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def check_cell(path: str, row: int, name: str, cell: str, role: str) -> float:
    """The cell as a finite float; otherwise an error naming its row and column."""
    where = f"{path}: row {row}, column {name!r}"
    if cell == "":
        raise GpubpError(f"{where}: empty cell (every {role} must be a number)")
    value = number(cell)
    if value is None:
        raise GpubpError(f"{where}: {cell!r} is not a number")
    if not math.isfinite(value):
        raise GpubpError(f"{where}: {cell!r} is not a finite number")
    return value


def target_values(cells: list[str]) -> tuple[Any, list[int]]:
    """Distinct target cells typed once: (values, []) -- int64, float64 or text -- or (None, the bad ones)."""
    cells = [cell.strip() for cell in cells]
    values = [number(cell) for cell in cells]
    bad = [i for i, (c, v) in enumerate(zip(cells, values, strict=True)) if c == "" or (v is not None and v - v != 0)]
    if bad:
        return None, bad
    if any(value is None for value in values):
        return host.asarray(cells, dtype=str), []
    try:
        return host.asarray([int(cell) for cell in cells], dtype=host.int64), []
    except (ValueError, OverflowError):
        return host.asarray(values, dtype=host.float64), []
