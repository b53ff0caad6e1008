"""Reading CSV files of many shapes and styles: gpubp's reader against pandas.read_csv, time and peak memory.

``load_data.py`` measures one file (full float64 reprs); a user's file may be
integers, few decimals, scientific notation, every field quoted, CRLF line
ends, a text label, spaces after commas, wide or long. Each shape is written
once into ``--folder`` (by polars' CSV writer, from a fixed seed), read by
gpubp and by pandas in fresh child processes taking turns (``load_data.py``'s
``measure``: time around ``load_dataset(path)`` / ``pandas.read_csv(path)``,
peak from ``VmHWM``), then deleted unless ``--keep``.

Usage::

    python benchmarks/csv_shapes.py [--repeats 3] [--shapes ints,quoted] [--folder /tmp/csv-shapes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_data import measure  # noqa: E402  (this folder's benchmark: one child process per read)

#: name -> (rows, columns, what the cells are)
SHAPES = {
    "floats": (1_000_000, 50, "full float64 reprs (as load_data.py)"),
    "ints": (1_000_000, 50, "integers -1000..999"),
    "3 decimals": (1_000_000, 50, "floats rounded to 3 decimals"),
    "scientific": (1_000_000, 50, "floats in scientific notation"),
    "quoted": (1_000_000, 50, "every field in quotes"),
    "text label": (1_000_000, 50, "floats, a text label last"),
    "crlf": (1_000_000, 50, "floats, CRLF line ends"),
    "spaces": (1_000_000, 50, "floats, a space after each comma"),
    "no final newline": (1_000_000, 50, "floats, the last line unterminated"),
    "wide": (200_000, 500, "floats"),
    "long": (5_000_000, 10, "floats"),
}


def write(path: str, shape: str, rows: int, cols: int, seed: int = 0) -> None:
    """The CSV file of ``shape``: ``cols - 1`` features and a label 0..9 (or class_0..class_9) last."""
    import polars as pl

    rng = np.random.default_rng(seed)
    options = {"float_scientific": shape == "scientific", "quote_style": "always" if shape == "quoted" else "necessary"}
    with open(path, "wb") as out:
        block = max(1, 4_000_000 // cols)
        for start in range(0, rows, block):
            n = min(block, rows - start)
            if shape == "ints":
                X = rng.integers(-1000, 1000, (n, cols - 1))
            else:
                X = rng.standard_normal((n, cols - 1))
                X = np.round(X, 3) if shape == "3 decimals" else X
            labels = rng.integers(0, 10, n)
            label = pl.Series([f"class_{c}" for c in labels.tolist()]) if shape == "text label" else pl.Series(labels)
            frame = pl.DataFrame({**{f"x{j}": X[:, j] for j in range(cols - 1)}, "label": label})
            text = frame.write_csv(
                include_header=start == 0, line_terminator="\r\n" if shape == "crlf" else "\n", **options
            ).encode()
            if shape == "spaces":
                text = text.replace(b",", b", ")
            if shape == "no final newline" and start + n == rows:
                text = text.rstrip(b"\n")
            out.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="reads per reader and shape (default 3)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated, from: " + ", ".join(SHAPES))
    parser.add_argument("--folder", default="/tmp/csv-shapes", help="where the files are written")
    parser.add_argument("--keep", action="store_true", help="keep the files (about 1 GB each)")
    parser.add_argument("--scale", type=float, default=1.0, help="rows times this (e.g. 0.01 for a quick look)")
    args = parser.parse_args(argv)
    os.makedirs(args.folder, exist_ok=True)
    print(f"{'shape':<17} {'rows x cols':>12} {'MiB':>6} {'gpubp s min/med':>16} {'pandas s min/med':>17} "
          f"{'ratio min/med':>14} {'peak/file':>10} {'pandas':>7}")  # fmt: skip
    for shape in args.shapes.split(","):
        rows, cols, _ = SHAPES[shape]
        rows = max(1, round(rows * args.scale))
        path = os.path.join(args.folder, shape.replace(" ", "-") + ".csv")
        write(path, shape, rows, cols)
        size = os.path.getsize(path)
        runs: dict[str, list[dict]] = {"gpubp": [], "pandas": []}
        for r in range(args.repeats):
            for reader in ("gpubp", "pandas") if r % 2 == 0 else ("pandas", "gpubp"):
                runs[reader].append(measure(reader, path))
        if not args.keep:
            os.remove(path)
        g, p = ([m["seconds"] for m in runs[k]] for k in ("gpubp", "pandas"))
        peak = {k: max(m["peak"] for m in runs[k]) / size for k in runs}
        print(
            f"{shape:<17} {f'{rows}x{cols}':>12} {size / 2**20:6.0f} {min(g):7.2f}/{statistics.median(g):<8.2f} "
            f"{min(p):8.2f}/{statistics.median(p):<8.2f} {min(g) / min(p):6.2f}/"
            f"{statistics.median(g) / statistics.median(p):<7.2f} {peak['gpubp']:9.2f}x {peak['pandas']:6.2f}x",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
