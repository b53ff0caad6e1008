"""gpubp.data's file readers: CSV (fast and exact readers, one meaning), .npy (memory-mapped), .npz (judged first).

Every CSV case runs through both readers: polars' (where installed) and the
exact one, and must give the same arrays or the same one-line message.
"""

from __future__ import annotations

import os
import pathlib
import resource
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import gpubp.data.csv_file as csv_file
import gpubp.data.csv_text as csv_text
import gpubp.data.npz_file as npz_file
from gpubp.data import load_dataset, load_features
from gpubp.data.npy_file import read_npy
from gpubp.errors import GpubpError, ParameterError

REPO = pathlib.Path(__file__).resolve().parents[1]

try:
    import polars  # noqa: F401

    HAVE_POLARS = True
except ImportError:
    HAVE_POLARS = False

ENGINES = [
    pytest.param("polars", marks=pytest.mark.skipif(not HAVE_POLARS, reason="polars is not installed")),
    "exact",
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CSV reader under test: 'polars' (the fast path, falling back to exact) or 'exact' alone."""
    if request.param == "exact":
        monkeypatch.setattr(csv_file, "polars", lambda: None)
    return request.param


def write(tmp_path: pathlib.Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def refused(fragments: tuple[str, ...], call, *args, **kwargs) -> str:
    """``call`` raises a GpubpError of one line holding every fragment; returns the message."""
    with pytest.raises(GpubpError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def outcome(path: str, **kwargs) -> object:
    """What load_dataset makes of a file: its arrays, or its error message."""
    try:
        d = load_dataset(path, **kwargs)
    except GpubpError as e:
        return f"{type(e).__name__}: {e}"
    return d.X.tolist(), d.X.dtype.str, d.y.tolist(), d.y.dtype.str, d.feature_names, d.target_name


# ---------------------------------------------------------------------------
# CSV: what a good file means


def test_csv_numeric_target_is_float(tmp_path, engine):
    d = load_dataset(write(tmp_path, "r.csv", "a,b,price\n1,2,3.5\n4,5,6.25\n7,8,-1\n"))
    np.testing.assert_array_equal(d.X, [[1, 2], [4, 5], [7, 8]])
    assert d.X.dtype == np.float64 and d.X.flags.c_contiguous
    assert d.y.tolist() == [3.5, 6.25, -1.0] and d.y.dtype == np.float64
    assert d.feature_names == ["a", "b"] and d.target_name == "price"


def test_csv_whole_numbers_without_a_point_are_int64(tmp_path, engine):
    d = load_dataset(write(tmp_path, "c.csv", "x,label\n0.5,3\n1.5,+1\n2.5, 3\n3.5,1_0\n"))
    assert d.y.dtype == np.int64 and d.y.tolist() == [3, 1, 3, 10]
    d = load_dataset(write(tmp_path, "f.csv", "x,label\n0.5,3\n1.5,1\n2.5,3\n3.5,7.0\n"))
    assert d.y.dtype == np.float64 and d.y.tolist() == [3, 1, 3, 7]
    d = load_dataset(write(tmp_path, "big.csv", "x,label\n0.5,99999999999999999999\n1.5,1\n"))
    assert d.y.dtype == np.float64 and d.y.tolist() == [1e20, 1.0]  # too large for int64


def test_csv_text_target(tmp_path, engine):
    d = load_dataset(write(tmp_path, "s.csv", 'x1,x2,animal\n1,2,dog\n3,4,"cat"\n5,6, dog \n7,8,emu\n'))
    assert d.y.dtype.kind == "U" and d.y.tolist() == ["dog", "cat", "dog", "emu"]
    d = load_dataset(write(tmp_path, "mixed.csv", "x,y\n1,0\n2,1\n3,oops\n"))
    assert d.y.tolist() == ["0", "1", "oops"]


def test_csv_target_column_selection(tmp_path, engine):
    path = write(tmp_path, "t.csv", "y,a,b\n0,1.0,2.0\n1,3.0,4.0\n")
    d = load_dataset(path, target="y")
    assert d.feature_names == ["a", "b"] and d.y.tolist() == [0, 1]
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    d = load_dataset(path, target="a")
    assert d.feature_names == ["y", "b"] and d.y.tolist() == [1.0, 3.0]
    np.testing.assert_array_equal(d.X, [[0, 2], [1, 4]])


def test_csv_quoting_whitespace_crlf_bom_and_trailing_blank_lines(tmp_path, engine):
    content = '\ufeff"a", " b,c ",y\r\n 1 , "2",0\r\n3,4,1\r\n\r\n\n   \n\t\n'
    d = load_dataset(write(tmp_path, "q.csv", content))
    assert d.feature_names == ["a", "b,c"]
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    assert d.y.tolist() == [0, 1]


def test_csv_rows_shard(tmp_path, engine):
    path = write(tmp_path, "d.csv", "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    d = load_dataset(path, rows=(3, 6))
    assert d.X[:, 0].tolist() == [3, 4, 5] and d.y.tolist() == [1, 0, 1]
    assert d.where(0) == f"{path}: row 5, column 'y'"  # data row 3 is file row 5
    assert load_dataset(path, rows=(8, 100)).X[:, 0].tolist() == [8, 9]  # a stop past the end ends there
    refused(("selects none of its 10 data rows",), load_dataset, path, rows=(10, 12))
    for bad in [(2, 1), (-1, 3), (1.5, 2), "0:3", (True, 2)]:
        with pytest.raises(ParameterError, match="rows"):
            load_dataset(path, rows=bad)


def test_load_features_by_name_order_and_target(tmp_path, engine):
    path = write(tmp_path, "d.csv", "b,label,a\n2,0,1\n4,1,3\n")
    X = load_features(path, n_features=2, target="label", feature_names=["a", "b"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    refused(("no column 'c'",), load_features, path, n_features=3, feature_names=["a", "b", "c"])
    refused(("has 2 feature columns",), load_features, path, n_features=3, target="label")
    no_target = write(tmp_path, "x.csv", "a,b\n1,2\n3,x\n")
    refused(("row 3, column 'b'", "'x' is not a number"), load_features, no_target, n_features=2)


def test_the_readers_agree_after_the_fast_reader_hands_over(tmp_path, engine):
    """A quote, a space or an underscore deep in a long file: the exact reader takes over there."""
    good = "".join(f"{i}.5,{i % 3}\n" for i in range(3000))
    for odd, expect in [('"7",1\n', 7.0), (" 7 ,1\n", 7.0), ("7_0,1\n", 70.0)]:
        d = load_dataset(write(tmp_path, "h.csv", "a,y\n" + good + odd + good))
        assert d.X.shape == (6001, 1) and d.X[3000, 0] == expect and d.y.dtype == np.int64
        assert d.X[6000, 0] == 2999.5
    path = write(tmp_path, "late.csv", "a,y\n" + good + "x,1\n")
    refused((f"{path}: row 3002, column 'a': 'x' is not a number",), load_dataset, path)


# ---------------------------------------------------------------------------
# CSV: every bad file, one line naming file, row and column, the same from both readers

BAD_CSV = [
    # (name, content, fragments the message must hold besides the path)
    ("empty.csv", "", ["the file is empty"]),
    ("spaces.csv", "\n  \n\n", ["empty"]),
    ("header_only.csv", "a,b,y\n", ["no data rows"]),
    ("header_only_blank.csv", "a,b,y\n\n\n", ["no data rows"]),
    ("text_cell.csv", "a,b,y\n1,2,0\n3,abc,1\n", ["row 3, column 'b': 'abc' is not a number"]),
    ("empty_cell.csv", "a,b,y\n1,,0\n3,4,1\n", ["row 2, column 'b': empty cell (every feature must be a number)"]),
    ("nan_cell.csv", "a,b,y\n1,2,0\n3,nan,1\n", ["row 3, column 'b'", "'nan' is not a finite number"]),
    ("inf_cell.csv", "a,b,y\n-inf,2,0\n3,4,1\n", ["row 2, column 'a'", "'-inf' is not a finite number"]),
    ("overflow.csv", "a,y\n1e999,0\n3,1\n", ["row 2, column 'a'", "not a finite number"]),
    ("nan_target.csv", "a,y\n1,0.5\n2,NaN\n", ["row 3, column 'y'", "not a finite number"]),
    ("inf_text_target.csv", "a,y\n1,cat\n2,inf\n", ["row 3, column 'y'", "not a finite number"]),
    ("empty_target.csv", "a,y\n1,0\n2,\n", ["row 3, column 'y'", "empty cell (every target must be a number)"]),
    ("ragged_short.csv", "a,b,y\n1,2,0\n1,2\n", ["row 3 has 2 columns, expected 3 as in the header"]),
    ("ragged_long.csv", "a,b,y\n1,2,0,9\n", ["row 2 has 4 columns, expected 3"]),
    ("trailing_comma.csv", "a,b,y\n1,2,0,\n3,4,1,\n", ["row 2 has 4 columns, expected 3", "(a trailing comma?)"]),
    ("header_comma.csv", "a,b,y,\n1,2,0,\n", ["row 1 (header), column 4 has no name (a trailing comma?)"]),
    ("blank_middle.csv", "a,y\n1,0\n\n2,1\n", ["row 3 is blank (blank rows are allowed only at the end of the file)"]),
    ("blank_after_header.csv", "a,y\n   \n1,0\n", ["row 2 is blank"]),
    ("blank_crlf.csv", "a,y\r\n1,0\r\n\r\n2,1\r\n", ["row 3 is blank"]),
    ("no_header.csv", "1,2,0\n3,4,1\n", ["row 1 holds only numbers"]),
    ("one_column.csv", "y\n1\n2\n", ["only one column ('y')"]),
    ("semicolons.csv", "a;b;y\n1;2;0\n", ["it looks separated by semicolons (';')"]),
    ("unnamed.csv", "a,,y\n1,2,3\n", ["row 1 (header), column 2 has no name"]),
    ("duplicate.csv", "a,a,y\n1,2,3\n", ["row 1 (header): column name 'a' appears twice"]),
    ("bad_quote.csv", 'a,y\n1,"0"x\n', ["row 2: not valid CSV"]),
    ("open_quote.csv", 'a,y\n1,"0\n2,1\n', ["row 2: not valid CSV"]),
    ("lone_cr.csv", "a,y\n1,c\rd\n", ["row 3 has 1 columns, expected 2"]),
    (
        "latin1.csv",
        b"a,y\n1,0\ncaf\xe9,1\n",
        ["row 3: not UTF-8 text (byte 0xe9 at offset 11); a CSV file must be UTF-8"],
    ),
    ("cut_char.csv", b"a,y\n1,0\n2,\xc3", ["row 3: not UTF-8 text (byte 0xc3 at offset 10)"]),
    ("binary.csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe", ["row 1", "not UTF-8 text", "byte 0x00 at offset 5"]),
    ("nul_late.csv", b"a,y\n1,0\n2,1\x00\n", ["row 3: binary data, not UTF-8 text (byte 0x00 at offset 11)"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv(tmp_path, engine, name, content, fragments):
    path = write(tmp_path, name, content)
    message = refused((path, *fragments), load_dataset, path)
    assert message.startswith(path)


def test_first_bad_cell_in_reading_order(tmp_path, engine):
    path = write(tmp_path, "two_bad.csv", "a,b,y\n1,2,0\n3,x,1\nz,4,0\n")
    refused(("row 3, column 'b'",), load_dataset, path)


def test_missing_target_column_is_a_parameter_error(tmp_path, engine):
    path = write(tmp_path, "t.csv", "a,b,y\n1,2,3\n")
    with pytest.raises(ParameterError, match="target='label': not a column of .*columns: a, b, y"):
        load_dataset(path, target="label")


def random_csv(rng: np.random.Generator) -> bytes:
    """A small CSV file from cells and line endings that the two readers could read differently."""
    cells = ["1", "2.5", "-3e2", " 4", "5 ", "", "x", "nan", "inf", '"6"', '"7', "1_0", "+8", "0x1", ".5", "9.", "١"]
    ends = ["\n"] * 8 + ["\r\n", "\r", ""]
    width = int(rng.integers(2, 4))
    lines = [",".join(["a", "b", "y"][:width])]
    for _ in range(int(rng.integers(1, 8))):
        if rng.random() < 0.08:
            lines.append(rng.choice(["", " ", "\t"]))
            continue
        n = width + (int(rng.integers(-1, 2)) if rng.random() < 0.1 else 0)
        pick = rng.random(n) < 0.85
        row = [("1" if p else cells[int(rng.integers(len(cells)))]) if i < n - 1 else "" for i, p in enumerate(pick)]
        row[-1] = (
            rng.choice(["0", "1", "2", "cat", "1.5"]) if rng.random() < 0.9 else cells[int(rng.integers(len(cells)))]
        )
        lines.append(",".join(row))
    text = "".join(line + str(rng.choice(ends)) for line in lines)
    return text.encode()


@pytest.mark.skipif(not HAVE_POLARS, reason="polars is not installed: there is only one reader")
def test_readers_agree_on_random_files(tmp_path, monkeypatch):
    """Hundreds of small odd files: the fast reader gives exactly what the exact reader gives, or its message."""
    rng = np.random.default_rng(20240611)
    path = str(tmp_path / "r.csv")
    fast = csv_file.polars
    for _ in range(400):
        content = random_csv(rng)
        pathlib.Path(path).write_bytes(content)
        monkeypatch.setattr(csv_file, "polars", fast)
        got = outcome(path)
        monkeypatch.setattr(csv_file, "polars", lambda: None)
        want = outcome(path)
        assert got == want, content


# ---------------------------------------------------------------------------
# CSV: files built to exhaust memory or time


def limited(code: str, memory: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python whose address space is capped at ``memory`` bytes."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, preexec_fn=cap, timeout=120
    )


REFUSE = """
import sys
from gpubp.data import load_dataset
from gpubp.errors import GpubpError
try:
    load_dataset(sys.argv[1] if len(sys.argv) > 1 else {path!r})
except GpubpError as e:
    print("refused:", e)
"""


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS"), reason="needs RLIMIT_AS to cap the child's memory")
@pytest.mark.parametrize("engine_name", ["polars", "exact"])
def test_two_gigabytes_of_nul_bytes_are_refused_in_little_memory(tmp_path, engine_name):
    if engine_name == "polars" and not HAVE_POLARS:
        pytest.skip("polars is not installed")
    path = tmp_path / "zeros.csv"
    with open(path, "wb") as f:
        f.truncate(2 << 30)  # sparse: 2 GiB of NUL bytes that take no disk
    code = REFUSE.format(path=str(path))
    if engine_name == "exact":
        code = "import gpubp.data.csv_file as c; c.polars = lambda: None\n" + code
    done = limited(code, 1 << 30)  # a reader that held the file would need twice this
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"refused: {path}: row 1: binary data, not UTF-8 text (byte 0x00 at offset 0); " + (
        "a CSV file must be UTF-8"
    )


def test_random_bytes_are_refused(tmp_path, engine):
    rng = np.random.default_rng(3)
    for size in (1, 100, 100_000):
        path = write(tmp_path, "junk.csv", b"a,y\n" + rng.bytes(size))
        refused((path, "row "), load_dataset, path)


def test_endless_line_is_refused(tmp_path, engine, monkeypatch):
    monkeypatch.setattr(csv_text, "MAX_LINE", 1000)
    path = write(tmp_path, "long.csv", "a,y\n1,0\n" + "9" * 5000)
    refused((f"{path}: row 3: no line break in 0 MiB",), load_dataset, path)


def test_wide_header_checks_are_linear(tmp_path, engine):
    """200,000 columns: the duplicate check is a set (the old list check took minutes)."""
    names = [f"c{j}" for j in range(200_000)]
    path = write(tmp_path, "wide.csv", ",".join(names) + "\n" + ",".join(["1"] * 200_000) + "\n")
    d = load_dataset(path)
    assert d.X.shape == (1, 199_999) and d.y.tolist() == [1]
    dup = write(tmp_path, "dup.csv", ",".join([*names, "c5"]) + "\n" + ",".join(["1"] * 200_001) + "\n")
    refused(("column name 'c5' appears twice",), load_dataset, dup)


# ---------------------------------------------------------------------------
# .npy: memory-mapped, judged from the header


def npy(tmp_path: pathlib.Path, name: str, a: np.ndarray, **kwargs) -> str:
    path = tmp_path / name
    np.save(path, a, **kwargs)
    return str(path)


def test_npy_last_column_is_the_target(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    d = load_dataset(npy(tmp_path, "f.npy", a))
    np.testing.assert_array_equal(d.X, a[:, :2])
    assert d.X.dtype == np.float64 and d.y.dtype == np.float64 and d.y.tolist() == [2, 5, 8, 11]
    assert d.feature_names == ["x0", "x1"] and d.target_name == "y"
    d = load_dataset(npy(tmp_path, "i.npy", np.array([[1, 0], [2, 1], [3, 1]], dtype=np.uint8)))
    assert d.y.dtype == np.int64 and d.y.tolist() == [0, 1, 1] and d.X[:, 0].tolist() == [1, 2, 3]


def test_npy_is_memory_mapped_and_reads_only_its_rows(tmp_path):
    a = np.arange(60.0).reshape(20, 3)
    path = npy(tmp_path, "m.npy", a)
    part = read_npy(path, (5, 8))
    assert isinstance(part, np.memmap) and not part.flags.writeable and part.shape == (3, 3)
    d = load_dataset(path, rows=(5, 8))
    np.testing.assert_array_equal(d.X, a[5:8, :2])
    assert d.y.tolist() == a[5:8, 2].tolist() and d.where(0) == f"{path}: [5, 2] (row, column)"


def test_npy_fortran_order(tmp_path):
    a = np.asfortranarray(np.arange(30.0).reshape(10, 3))
    path = npy(tmp_path, "f.npy", a)
    d = load_dataset(path, rows=(2, 5))
    np.testing.assert_array_equal(d.X, a[2:5, :2])
    assert d.X.flags.c_contiguous


def test_npy_for_prediction(tmp_path):
    a = np.arange(12.0).reshape(4, 3)
    path = npy(tmp_path, "p.npy", a)
    np.testing.assert_array_equal(load_features(path, n_features=3), a)  # features only
    np.testing.assert_array_equal(load_features(path, n_features=2), a[:, :2])  # features and the target
    refused(("has 2 feature columns but the model was trained on 1",), load_features, path, n_features=1)


def bad_npy_cases(tmp_path: pathlib.Path) -> list[tuple[str, list[str]]]:
    good = np.zeros((3, 2))
    nan = good.copy()
    nan[2, 1] = np.nan
    whole = pathlib.Path(npy(tmp_path, "whole.npy", np.arange(20.0).reshape(10, 2))).read_bytes()
    cases = [
        (npy(tmp_path, "obj.npy", np.array([[1, None]], dtype=object), allow_pickle=True), ["dtype object", "never"]),
        (npy(tmp_path, "rec.npy", np.zeros(3, dtype=[("a", "f8"), ("b", "f8")])), ["has dtype", "expected numbers"]),
        (npy(tmp_path, "text.npy", np.array([["a", "b"]])), ["dtype <U1"]),
        (npy(tmp_path, "complex.npy", good + 1j), ["dtype complex128"]),
        (npy(tmp_path, "flat.npy", np.zeros(3)), ["shape (3,)", "expected 2-D"]),
        (npy(tmp_path, "cube.npy", np.zeros((2, 2, 2))), ["shape (2, 2, 2)"]),
        (npy(tmp_path, "no_rows.npy", np.zeros((0, 2))), ["shape (0, 2)"]),
        (npy(tmp_path, "one_col.npy", np.zeros((3, 1))), ["one column"]),
        (npy(tmp_path, "nan.npy", nan), ["[2, 1] is nan (values must be finite numbers)"]),
        (write(tmp_path, "short.npy", whole[:-8]), ["the header promises 160 bytes of data, the file holds 152"]),
        (write(tmp_path, "long.npy", whole + b"\0" * 8), ["the file holds 168"]),
        (write(tmp_path, "empty.npy", b""), ["the file is empty"]),
        (write(tmp_path, "csv.npy", b"X,y\n1,2\n"), ["not a .npy array"]),
        (write(tmp_path, "header.npy", whole[:20]), ["not a valid .npy header"]),
        (write(tmp_path, "v3.npy", b"\x93NUMPY\x03\x00" + whole[8:]), ["format version 3.0"]),
    ]
    huge = bytearray(whole)
    at = huge.index(b"(10, 2)")
    huge[at : at + 7] = b"(99, 2)"  # a header that claims more rows than the file holds
    cases.append((write(tmp_path, "claims.npy", bytes(huge)), ["the header promises 1584 bytes"]))
    huge[at : at + 7] = b"(99999"  # a header cut in the middle of its shape
    cases.append((write(tmp_path, "broken.npy", bytes(huge)), ["not a valid .npy header"]))
    return cases


def test_bad_npy(tmp_path):
    for path, fragments in bad_npy_cases(tmp_path):
        message = refused((path, *fragments), load_dataset, path)
        assert message.startswith(path)


def test_npy_pickle_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = npy(tmp_path, "evil.npy", np.array([[Payload(marker)] * 2], dtype=object), allow_pickle=True)
    refused(("dtype object",), load_dataset, path)
    assert not marker.exists()
    np.load(path, allow_pickle=True)  # the payload is live: unpickling does run it
    assert marker.exists()


# ---------------------------------------------------------------------------
# .npz: judged from the zip directory and each .npy header before inflating


class Payload:
    """Unpickling this creates a marker file: proof that pickled code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def npz(tmp_path: pathlib.Path, name: str, compressed: bool = False, **arrays) -> str:
    path = tmp_path / name
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return str(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip_and_rows(tmp_path, compressed):
    X = np.arange(40, dtype=np.int32).reshape(20, 2)
    y = np.arange(20, dtype=np.uint8)
    path = npz(tmp_path, "d.npz", compressed, X=X, y=y)
    d = load_dataset(path)
    assert d.X.dtype == np.float64 and d.y.dtype == np.int64
    np.testing.assert_array_equal(d.X, X)
    d = load_dataset(path, rows=(4, 9))
    np.testing.assert_array_equal(d.X, X[4:9])
    assert d.y.tolist() == list(range(4, 9)) and d.where(0) == f"{path}: y[4]"
    F = npz(tmp_path, "f.npz", compressed, X=np.asfortranarray(X.astype(np.float32)), y=np.asfortranarray(y))
    np.testing.assert_array_equal(load_dataset(F, rows=(4, 9)).X, X[4:9])
    text = npz(tmp_path, "t.npz", compressed, X=X, y=np.array(list("ab") * 10))
    assert load_dataset(text).y.tolist()[:3] == ["a", "b", "a"]
    only_x = npz(tmp_path, "x.npz", compressed, X=X)
    assert load_features(only_x, n_features=2, rows=(0, 3)).shape == (3, 2)


def bad_npz_cases(tmp_path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(path, fragments) for every malformed .npz."""
    good_X, good_y = np.zeros((3, 2)), np.array([0, 1, 0])
    nan_X = good_X.copy()
    nan_X[1, 0] = np.nan
    cases = [
        (npz(tmp_path, "no_X.npz", features=good_X, y=good_y), ["no array 'X'", "found: features, y"]),
        (npz(tmp_path, "no_y.npz", X=good_X), ["no array 'y'", "found: X"]),
        (npz(tmp_path, "lengths.npz", X=good_X, y=good_y[:2]), ["X has 3 rows but y has 2"]),
        (npz(tmp_path, "flat.npz", X=np.zeros(3), y=good_y), ["array 'X'", "shape (3,)", "2-D"]),
        (npz(tmp_path, "no_rows.npz", X=np.zeros((0, 2)), y=np.zeros(0)), ["array 'X'", "shape (0, 2)"]),
        (npz(tmp_path, "y3d.npz", X=good_X, y=np.zeros((3, 1, 1))), ["array 'y'", "shape (3, 1, 1)"]),
        (npz(tmp_path, "text_X.npz", X=np.array([["a"], ["b"]]), y=good_y[:2]), ["array 'X'", "dtype <U1"]),
        (npz(tmp_path, "complex_y.npz", X=good_X, y=good_y + 1j), ["array 'y'", "dtype complex128"]),
        (npz(tmp_path, "nan_X.npz", X=nan_X, y=good_y), ["X[1, 0] is nan"]),
        (npz(tmp_path, "inf_y.npz", X=good_X, y=np.array([0.0, 1.0, np.inf])), ["y[2] is inf"]),
        (
            npz(tmp_path, "obj_X.npz", X=np.array([[1, None]], dtype=object), y=np.array([0])),
            ["array 'X'", "dtype object", "never loaded"],
        ),
        (write(tmp_path, "empty.npz", b""), ["the file is empty"]),
        (write(tmp_path, "text.npz", b"X,y\n1,2\n"), ["not a valid .npz file"]),
        (write(tmp_path, "cut.npz", pathlib.Path(npz(tmp_path, "ok.npz", X=good_X, y=good_y)).read_bytes()[:100]),
         ["not a valid .npz file"]),
    ]  # fmt: skip
    np.save(tmp_path / "single.npy", good_X)
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    cases.append((str(tmp_path / "single.npz"), ["single .npy array"]))
    data = bytearray(
        pathlib.Path(npz(tmp_path, "crc.npz", X=np.arange(200.0).reshape(100, 2), y=np.zeros(100))).read_bytes()
    )
    at = data.index(b"\x00\x00\x00\x00\x00\x00\xf0?")  # the float 1.0 inside X
    data[at + 7] = 0x40
    cases.append((write(tmp_path, "crc.npz", bytes(data)), ["array 'X'", "corrupt"]))
    with zipfile.ZipFile(tmp_path / "twice.npz", "w") as z:
        z.writestr("X.npy", b"")
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("X.npy", b"")
    cases.append((str(tmp_path / "twice.npz"), ["member 'X.npy' appears twice"]))
    return cases


def test_bad_npz(tmp_path):
    for path, fragments in bad_npz_cases(tmp_path):
        message = refused((path, *fragments), load_dataset, path)
        assert message.startswith(path)


@pytest.mark.parametrize("key", ["X", "y"])
def test_npz_pickle_payload_never_runs(tmp_path, key):
    marker = tmp_path / "pwned"
    arrays = {"X": np.zeros((1, 1)), "y": np.zeros(1)}
    arrays[key] = np.array([Payload(marker)] * arrays[key].size, dtype=object).reshape(arrays[key].shape)
    path = npz(tmp_path, "evil.npz", **arrays)
    refused((f"array {key!r}", "dtype object"), load_dataset, path)
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as unsafe:  # the payload is live: unpickling does run it
        unsafe[key]
    assert marker.exists()


def test_npz_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    """An archive whose directory says it inflates hundreds of times over is refused without inflating."""
    path = npz(tmp_path, "bomb.npz", True, X=np.zeros((1 << 17, 8)), y=np.zeros(1 << 17))  # 8 MiB of zeros
    monkeypatch.setattr(npz_file, "SMALL", 1 << 20)  # the test's bomb is small; the rule is the same
    inflated = []
    real_read = zipfile.ZipExtFile.read

    def counting(self, n=-1):
        data = real_read(self, n)
        inflated.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    refused((f"{path}: array 'X': would inflate", "refused as a zip bomb"), load_dataset, path)
    assert sum(inflated) < 4096  # the .npy header, not the data


def test_npz_that_needs_more_memory_than_there_is(tmp_path, monkeypatch):
    path = npz(tmp_path, "d.npz", X=np.zeros((1000, 10)), y=np.zeros(1000))
    monkeypatch.setattr(npz_file, "available_memory", lambda: 100_000)
    refused(("reading it needs about", "more than half the", "rows=(start, stop)"), load_dataset, path)
    assert load_dataset(path, rows=(0, 10)).X.shape == (10, 10)  # a small part fits


def test_npz_member_that_lies_about_its_size(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as z:
        for key, shape in (("X", (10**9, 2)), ("y", (10**9,))):
            with z.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
                member.write(b"\0" * 64)  # far less than the header promises
    refused(("array 'X'", "its header promises 16000000000 bytes of data"), load_dataset, str(path))


@pytest.mark.slow(reason="writes a real archive of a few MB that inflates to 4.8 GB (about 15 s)")
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS"), reason="needs RLIMIT_AS to cap the child's memory")
def test_real_zip_bomb_in_little_memory(tmp_path):
    path = tmp_path / "bomb.npz"
    rows = 300_000_000  # 8-byte floats: 2.4 GB each for X and y
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, shape in (("X", (rows, 1)), ("y", (rows,))):
            with z.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
                block = bytes(64 << 20)
                left = rows * 8
                while left:
                    member.write(block[: min(left, len(block))])
                    left -= min(left, len(block))
    assert path.stat().st_size < 30 << 20
    done = limited(REFUSE.format(path=str(path)), 1 << 30)
    assert done.returncode == 0, done.stderr
    assert "refused as a zip bomb" in done.stdout


def test_builtin_rows_shard():
    whole = load_dataset("xor", seed=1)
    part = load_dataset("xor", seed=1, rows=(10, 20))
    np.testing.assert_array_equal(part.X, whole.X[10:20])
    assert part.where(0) == "xor: sample 10"
    np.testing.assert_array_equal(load_features("xor", n_features=2, seed=1, rows=(10, 20)), whole.X[10:20])


@pytest.mark.parametrize("name", ["a[1].csv", "star*.csv", "s3:x.csv", "~tilde.csv", "sp ace.csv"])
def test_odd_file_names_are_names(tmp_path, engine, name, monkeypatch):
    (tmp_path / "a1.csv").write_text("a,y\n9,9\n")  # what a[1].csv would match as a pattern
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, name, "a,y\n1,0\n2,1\n")
    for given in (path, name):
        assert load_dataset(given).X[:, 0].tolist() == [1, 2]


@pytest.mark.skipif(not HAVE_POLARS, reason="polars is not installed: every file goes to the exact reader")
def test_a_well_formed_file_never_reaches_the_exact_reader(tmp_path, monkeypatch):
    """The fast reader must not quietly hand good files to the slow one (the benchmark would be the only witness)."""
    monkeypatch.setattr(csv_file, "_exact", lambda *a, **k: pytest.fail("the exact reader was used"))
    rows = "".join(f"{i * 0.5},{-i}.25,{i % 3}\r\n" for i in range(500))
    for target_cells in ("", "cat"):
        content = "\ufeffa,b,label\r\n" + rows.replace(",0\r\n", f",{target_cells or 0}\r\n") + "\r\n \n"
        d = load_dataset(write(tmp_path, "good.csv", content))
        assert d.X.shape == (500, 2)
    assert load_dataset(write(tmp_path, "f.csv", "a,y\n1,0.5\n2,1e3\n")).y.dtype == np.float64
    X = load_features(write(tmp_path, "p.csv", "b,label,a\n2,0,1\n4,1,3\n"), n_features=2, feature_names=["a", "b"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
