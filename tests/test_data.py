"""gpubp.data: built-in and user data sets, the task decision, one-line errors for bad input, splits."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from gpubp.data import (
    MAX_AUTO_CLASSES,
    SOURCES,
    Dataset,
    Split,
    decide_task,
    load_dataset,
    load_features,
    split_indices,
)
from gpubp.errors import GpubpError


def task_of(source, task="auto", **kwargs):
    """(task, labels or values, classes) as the command decides them for ``source``."""
    decided, y = decide_task(load_dataset(source, **kwargs), task)
    classes = np.unique(y).tolist() if decided == "classify" else []
    return decided, y, classes


def raises_one_line(*fragments: str, call, **kwargs) -> str:
    """Run ``call(**kwargs)``; it must raise GpubpError whose single-line message holds every fragment."""
    with pytest.raises(GpubpError) as info:
        call(**kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def write(tmp_path: pathlib.Path, name: str, content: str | bytes) -> str:
    """A file under ``tmp_path``; returns its path as a string."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return str(path)


# ---------------------------------------------------------------------------
# Built-in data sets

BUILTIN = {
    # name: (n, n_features, task, classes)
    "digits": (1797, 64, "classify", list(range(10))),
    "xor": (400, 2, "classify", [0, 1]),
    "spirals": (600, 2, "classify", [0, 1]),
    "sine": (500, 1, "regress", []),
}


def test_builtin_names_are_the_sources():
    assert set(BUILTIN) == set(SOURCES)


@pytest.mark.parametrize("name", SOURCES)
def test_builtin_shapes_dtypes_task(name):
    n, f, task, classes = BUILTIN[name]
    d = load_dataset(name)
    assert isinstance(d, Dataset)
    assert d.X.shape == (n, f) and d.X.dtype == np.float64
    assert d.y.shape == (n,)
    assert d.y.dtype == (np.int64 if task == "classify" else np.float64)
    decided, y, found = task_of(name)
    assert decided == task and found == classes
    assert len(d.feature_names) == f and all(isinstance(s, str) for s in d.feature_names)
    assert isinstance(d.target_name, str) and d.source == name
    assert np.isfinite(d.X).all() and np.isfinite(d.y).all()
    json.dumps(found)


@pytest.mark.parametrize("name", ["xor", "spirals", "sine"])
def test_synthetic_sets_are_seeded(name):
    a, b, c = load_dataset(name, seed=1), load_dataset(name, seed=1), load_dataset(name, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_xor_labels_follow_the_corners():
    d = load_dataset("xor")
    corner = (d.X > 0.5).astype(int)
    agree = np.mean((corner[:, 0] ^ corner[:, 1]) == d.y)
    assert agree > 0.95  # noise std 0.2 pushes a few points past the midline
    assert np.bincount(d.y).tolist() == [200, 200]


def test_sine_is_sin_plus_small_noise():
    d = load_dataset("sine")
    x = d.X[:, 0]
    assert x.min() >= -np.pi and x.max() <= np.pi
    assert np.std(d.y - np.sin(x)) < 0.1


def test_spirals_are_balanced_and_interleaved():
    d = load_dataset("spirals")
    assert np.bincount(d.y).tolist() == [300, 300]
    assert np.abs(d.X).max() < 1.5
    # the arms wind around each other: both classes appear at every radius band
    radius = np.hypot(d.X[:, 0], d.X[:, 1])
    for lo in (0.2, 0.4, 0.6, 0.8):
        band = (radius >= lo) & (radius < lo + 0.2)
        assert set(d.y[band]) == {0, 1}


def test_digits_values():
    d = load_dataset("digits")
    assert d.X.min() == 0 and d.X.max() == 16 and np.array_equal(d.X, np.round(d.X))
    assert np.bincount(d.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert d.feature_names[:2] == ["pixel_0_0", "pixel_0_1"] and d.feature_names[-1] == "pixel_7_7"


def test_digits_equals_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    X, y = datasets.load_digits(return_X_y=True)
    d = load_dataset("digits")
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_array_equal(d.y, y)


def test_bundled_file_is_small_and_plain():
    path = pathlib.Path(__file__).parents[1] / "gpubp" / "data" / "digits.npz"
    assert path.stat().st_size < 100_000
    with np.load(path, allow_pickle=False) as d:
        assert sorted(d.files) == ["X", "y"]
        assert d["X"].dtype == np.uint8 and d["X"].shape == (1797, 64)
        assert d["y"].dtype == np.uint8 and d["y"].shape == (1797,)


def test_loading_needs_no_scikit_learn():
    code = "import sys, gpubp.data as d; d.load_dataset('digits'); assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_name_no_array_library():
    for path in (pathlib.Path(__file__).parents[1] / "gpubp" / "data").glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            assert not (words[:1] in (["import"], ["from"]) and words[1].split(".")[0] in ("numpy", "cupy", "torch"))


@pytest.mark.parametrize("task", ["bogus", "", "Classify"])
def test_unknown_task(task):
    raises_one_line(f"task={task!r}", "must be one of auto, classify, regress", call=task_of, source="xor", task=task)


def test_target_on_a_builtin():
    raises_one_line("target='label'", "'digits'", call=load_dataset, source="digits", target="label")


def test_builtin_tasks_can_be_overridden():
    assert task_of("xor", "regress")[1].dtype == np.float64
    raises_one_line(
        "task='classify'", "sine: sample 0", "not a whole number", call=task_of, source="sine", task="classify"
    )


# ---------------------------------------------------------------------------
# CSV files


def test_csv_numeric_target_is_regression(tmp_path):
    path = write(tmp_path, "r.csv", "a,b,price\n1,2,3.5\n4,5,6.25\n7,8,-1\n")
    d = load_dataset(path)
    assert task_of(path)[0] == "regress"
    np.testing.assert_array_equal(d.X, [[1, 2], [4, 5], [7, 8]])
    np.testing.assert_array_equal(d.y, [3.5, 6.25, -1.0])
    assert d.y.dtype == np.float64 and d.X.dtype == np.float64
    assert d.feature_names == ["a", "b"] and d.target_name == "price" and d.source == path


def test_csv_integer_target_is_classification(tmp_path):
    path = write(tmp_path, "c.csv", "x,label\n0.5,3\n1.5,1\n2.5,3\n3.5,7.0\n")
    task, y, classes = task_of(path)
    assert task == "classify" and classes == [1, 3, 7]
    assert all(type(c) is int for c in classes)
    np.testing.assert_array_equal(y, [3, 1, 3, 7])
    assert y.dtype == np.int64
    whole = write(tmp_path, "w.csv", "x,label\n0.5,3\n1.5,1\n")
    assert load_dataset(whole).y.dtype == np.int64  # whole numbers written without a point are read as integers


def test_csv_string_target(tmp_path):
    path = write(tmp_path, "s.csv", 'x1,x2,animal\n1,2,dog\n3,4,"cat"\n5,6, dog \n7,8,emu\n')
    task, y, classes = task_of(path)
    assert task == "classify" and classes == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(y, ["dog", "cat", "dog", "emu"])
    json.dumps(classes)


def test_csv_target_column_selection(tmp_path):
    path = write(tmp_path, "t.csv", "y,a,b\n0,1.0,2.0\n1,3.0,4.0\n")
    d = load_dataset(path, target="y")
    assert d.feature_names == ["a", "b"] and d.target_name == "y"
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    d = load_dataset(path, target="a")
    assert d.feature_names == ["y", "b"]
    np.testing.assert_array_equal(d.X, [[0, 2], [1, 4]])


def test_csv_quoting_whitespace_crlf_bom_and_trailing_blank_lines(tmp_path):
    content = '\ufeff"a", " b,c ",y\r\n 1 , "2",0\r\n3,4,1\r\n\r\n\n   \n'
    d = load_dataset(write(tmp_path, "q.csv", content))
    assert d.feature_names == ["a", "b,c"]
    np.testing.assert_array_equal(d.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(d.y, [0, 1])
    assert d.where(1) == f"{tmp_path / 'q.csv'}: row 3, column 'y'"


def test_csv_auto_task_limit_and_overrides(tmp_path):
    many = "x,y\n" + "".join(f"{i},{i}\n" for i in range(MAX_AUTO_CLASSES + 1))
    path = write(tmp_path, "many.csv", many)
    assert task_of(path)[0] == "regress"
    assert task_of(path, "classify")[2] == list(range(MAX_AUTO_CLASSES + 1))
    two = write(tmp_path, "two.csv", "x,y\n1,0\n2,1\n")
    assert task_of(two, "regress")[1].dtype == np.float64


def test_csv_boolean_like_text_is_classified(tmp_path):
    task, y, classes = task_of(write(tmp_path, "b.csv", "x,ok\n1,true\n2,false\n"))
    assert task == "classify" and classes == ["false", "true"] and y.tolist() == ["true", "false"]


def test_csv_task_mismatches(tmp_path):
    frac = write(tmp_path, "frac.csv", "x,y\n1,0\n2,0.5\n3,1\n")
    raises_one_line("task='classify'", f"{frac}: row 3, column 'y'", "0.5", call=task_of, source=frac, task="classify")
    text = write(tmp_path, "text.csv", "x,y\n1,cat\n2,dog\n")
    raises_one_line("task='regress'", f"{text}: row 2, column 'y'", "'cat'", call=task_of, source=text, task="regress")
    single = write(tmp_path, "single.csv", "x,y\n1,a\n2,a\n")
    raises_one_line(f"the target 'y' of {single}", "single class ('a')", call=task_of, source=single)


def test_csv_mixed_numbers_and_text(tmp_path):
    path = write(tmp_path, "mixed.csv", "x,y\n1,0\n2,1\n3,oops\n")
    raises_one_line(
        f"{path}: row 4, column 'y'", "'oops' is not a number", "choose classify", call=task_of, source=path
    )
    assert task_of(path, "classify")[2] == ["0", "1", "oops"]


# Malformed CSV files, each wording, through both readers: test_data_files.py.


def test_csv_missing_target_column(tmp_path):
    path = write(tmp_path, "t.csv", "a,b,y\n1,2,3\n")
    raises_one_line("target='label'", path, "columns: a, b, y", call=load_dataset, source=path, target="label")


def test_first_bad_cell_in_reading_order(tmp_path):
    path = write(tmp_path, "two_bad.csv", "a,b,y\n1,2,0\n3,x,1\nz,4,0\n")
    raises_one_line("row 3, column 'b'", call=load_dataset, source=path)


# ---------------------------------------------------------------------------
# Sources that are not files, or not files we read


def test_unknown_source_lists_the_choices():
    raises_one_line("'mnist'", "digits, xor, spirals, sine", ".csv, .npz or .npy", call=load_dataset, source="mnist")


def test_missing_files(tmp_path):
    for name in ("nope.csv", "nope.npz"):
        path = str(tmp_path / name)
        raises_one_line(path, "no such file", call=load_dataset, source=path)


def test_directory_given_as_file(tmp_path):
    for name in ("folder.csv", "folder.npz", "folder"):
        (tmp_path / name).mkdir()
        path = str(tmp_path / name)
        raises_one_line(path, "is a directory", call=load_dataset, source=path)


def test_unsupported_extension(tmp_path):
    path = write(tmp_path, "data.txt", "a,y\n1,0\n")
    raises_one_line(path, "unsupported file type .txt", call=load_dataset, source=path)


def test_uppercase_extension_and_pathlike(tmp_path):
    path = write(tmp_path, "UP.CSV", "a,y\n1,0\n2,1\n")
    assert task_of(path)[0] == "classify"
    assert load_dataset(pathlib.Path(path)).source == path


# ---------------------------------------------------------------------------
# .npz files


def npz(tmp_path: pathlib.Path, name: str, **arrays) -> str:
    """An uncompressed .npz under ``tmp_path`` holding ``arrays``."""
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_npz_classification_and_regression(tmp_path):
    X = np.arange(12, dtype=np.int32).reshape(6, 2)
    path = npz(tmp_path, "c.npz", X=X, y=np.array([5, 2, 5, 2, 9, 9], dtype=np.uint8))
    task, y, classes = task_of(path)
    assert task == "classify" and classes == [2, 5, 9] and y.tolist() == [5, 2, 5, 2, 9, 9]
    d = load_dataset(path)
    assert d.X.dtype == np.float64 and d.feature_names == ["x0", "x1"] and d.target_name == "y"
    Y = np.linspace(0, 1, 12).reshape(6, 2)
    task, y, _ = task_of(npz(tmp_path, "r.npz", X=X, y=Y))
    assert task == "regress" and y.shape == (6, 2) and y.dtype == np.float64


def test_npz_text_and_bool_labels(tmp_path):
    X = np.zeros((4, 3))
    assert task_of(npz(tmp_path, "t.npz", X=X, y=np.array(["b", "a", "b", "c"])))[2] == ["a", "b", "c"]
    task, y, classes = task_of(npz(tmp_path, "b.npz", X=X, y=np.array([True, False, True, True])))
    assert task == "classify" and classes == [False, True] and y.tolist() == [True, False, True, True]
    json.dumps(classes)


def test_npz_one_column_labels(tmp_path):
    task, y, _ = task_of(npz(tmp_path, "col.npz", X=np.zeros((3, 1)), y=np.array([[1], [0], [1]])))
    assert task == "classify" and y.shape == (3,)


def test_npz_target_flag_refused(tmp_path):
    path = npz(tmp_path, "x.npz", X=np.zeros((2, 1)), y=np.array([0, 1]))
    raises_one_line("target='y'", path, call=load_dataset, source=path, target="y")


def test_npz_multi_column_cannot_be_classified(tmp_path):
    path = npz(tmp_path, "m.npz", X=np.zeros((3, 1)), y=np.zeros((3, 2)))
    raises_one_line(
        "task='classify'", f"the target 'y' of {path}", "(3, 2)", call=task_of, source=path, task="classify"
    )


def test_npz_text_cannot_be_regressed(tmp_path):
    path = npz(tmp_path, "t.npz", X=np.zeros((2, 1)), y=np.array(["a", "b"]))
    raises_one_line("task='regress'", f"{path}: y[0]", "'a'", call=task_of, source=path, task="regress")


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
        (npz(tmp_path, "cube.npz", X=np.zeros((3, 2, 2)), y=good_y), ["array 'X'", "shape (3, 2, 2)"]),
        (npz(tmp_path, "no_rows.npz", X=np.zeros((0, 2)), y=np.zeros(0)), ["array 'X'", "shape (0, 2)"]),
        (npz(tmp_path, "y3d.npz", X=good_X, y=np.zeros((3, 1, 1))), ["array 'y'", "shape (3, 1, 1)"]),
        (npz(tmp_path, "text_X.npz", X=np.array([["a"], ["b"]]), y=good_y[:2]), ["array 'X'", "dtype <U1"]),
        (npz(tmp_path, "complex_X.npz", X=good_X + 1j, y=good_y), ["array 'X'", "dtype complex128"]),
        (npz(tmp_path, "complex_y.npz", X=good_X, y=good_y + 1j), ["array 'y'", "dtype complex128"]),
        (npz(tmp_path, "nan_X.npz", X=nan_X, y=good_y), ["X[1, 0] is nan"]),
        (npz(tmp_path, "inf_y.npz", X=good_X, y=np.array([0.0, 1.0, np.inf])), ["y[2] is inf"]),
        (npz(tmp_path, "inf_Y.npz", X=good_X, y=np.array([[0.0, 1.0], [-np.inf, 0], [1, 1]])), ["y[1, 0] is -inf"]),
        (
            npz(tmp_path, "obj_X.npz", X=np.array([[1, None]], dtype=object), y=np.array([0])),
            ["array 'X'", "dtype object", "never loaded"],
        ),
        (npz(tmp_path, "obj_y.npz", X=good_X, y=np.array([0, "a", None], dtype=object)), ["array 'y'", "object"]),
        (write(tmp_path, "empty.npz", b""), ["empty"]),
        (write(tmp_path, "text.npz", b"X,y\n1,2\n"), ["not a valid .npz file"]),
        (
            write(
                tmp_path,
                "truncated.npz",
                (pathlib.Path(npz(tmp_path, "ok.npz", X=good_X, y=good_y)).read_bytes()[:100]),
            ),
            ["not a valid .npz file"],
        ),
    ]
    npy = tmp_path / "single.npz"
    np.save(tmp_path / "single.npy", good_X)
    (tmp_path / "single.npy").rename(npy)
    cases.append((str(npy), ["single .npy array"]))
    # damage X's data inside an otherwise valid archive: its CRC no longer matches
    data = bytearray(
        pathlib.Path(npz(tmp_path, "crc.npz", X=np.arange(200.0).reshape(100, 2), y=np.zeros(100))).read_bytes()
    )
    at = data.index(b"\x00\x00\x00\x00\x00\x00\xf0?")  # the float 1.0 inside X
    data[at + 7] = 0x40
    cases.append((write(tmp_path, "crc.npz", bytes(data)), ["array 'X'", "corrupt"]))
    return cases


def test_bad_npz(tmp_path):
    for path, fragments in bad_npz_cases(tmp_path):
        raises_one_line(path, *fragments, call=load_dataset, source=path)


class _Payload:
    """Unpickling this creates a marker file: proof that pickled code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("key", ["X", "y"])
def test_npz_pickle_payload_never_runs(tmp_path, key):
    marker = tmp_path / "pwned"
    arrays = {"X": np.zeros((1, 1)), "y": np.zeros(1)}
    arrays[key] = np.array([_Payload(marker)] * arrays[key].size, dtype=object).reshape(arrays[key].shape)
    path = npz(tmp_path, "evil.npz", **arrays)
    raises_one_line(path, f"array {key!r}", "dtype object", call=load_dataset, source=path)
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as unsafe:  # the payload is live: unpickling does run it
        unsafe[key]
    assert marker.exists()


# ---------------------------------------------------------------------------
# Splits


def test_split_is_a_seeded_partition():
    a = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_indices(100, validation_fraction=0.1, test_fraction=0.2, seed=4)
    assert (len(a.train), len(a.val), len(a.test)) == (70, 10, 20)
    for part in ("train", "val", "test"):
        x = getattr(a, part)
        assert x.dtype == np.int64 and x.ndim == 1
        assert np.all(np.diff(x) > 0)  # sorted, no repeats
        np.testing.assert_array_equal(x, getattr(b, part))
    np.testing.assert_array_equal(np.sort(np.concatenate([a.train, a.val, a.test])), np.arange(100))
    assert not np.array_equal(a.test, c.test)


def test_a_generator_seed_is_advanced():
    rng = np.random.default_rng(0)
    first = split_indices(50, validation_fraction=0.2, seed=rng)
    second = split_indices(50, validation_fraction=0.2, seed=rng)
    assert not np.array_equal(first.val, second.val)


def test_zero_fractions_give_empty_parts():
    s = split_indices(10, validation_fraction=0.0, test_fraction=0, seed=0)
    np.testing.assert_array_equal(s.train, np.arange(10))
    assert s.val.shape == (0,) and s.test.shape == (0,) and s.val.dtype == np.int64
    s = split_indices(10, validation_fraction=0.3, test_fraction=0, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (7, 3, 0)


def test_a_non_zero_fraction_gets_at_least_one_row():
    s = split_indices(6, validation_fraction=0.05, test_fraction=0.05, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (4, 1, 1)


def test_stratified_split_keeps_proportions():
    y = load_dataset("digits").y
    s = split_indices(len(y), validation_fraction=0.15, test_fraction=0.2, seed=0, y=y)
    plain = split_indices(len(y), validation_fraction=0.15, test_fraction=0.2, seed=0)
    assert [len(s.train), len(s.val), len(s.test)] == [len(plain.train), len(plain.val), len(plain.test)]
    np.testing.assert_array_equal(np.sort(np.concatenate([s.train, s.val, s.test])), np.arange(len(y)))
    counts = np.bincount(y)
    for part, fraction in ((s.val, 0.15), (s.test, 0.2)):
        assert np.all(np.abs(np.bincount(y[part], minlength=10) - counts * fraction) < 1)


def test_stratified_split_with_string_labels_and_a_rare_class():
    y = np.array(["a"] * 30 + ["b"] * 9 + ["rare"])
    for seed in range(5):
        s = split_indices(40, validation_fraction=0.2, test_fraction=0.2, seed=seed, y=y)
        assert "rare" in y[s.train]
        assert list(np.unique(y[s.test], return_counts=True)[1]) == [6, 2]
        assert list(np.unique(y[s.val], return_counts=True)[1]) == [6, 2]


def test_split_too_few_samples():
    raises_one_line(
        "too few samples: 3 rows cannot be split into train/validation/test parts of 1/1/1",
        "train needs at least 2 rows",
        call=split_indices,
        n=3,
        validation_fraction=0.1,
        test_fraction=0.2,
        seed=0,
    )
    raises_one_line("1 rows", call=split_indices, n=1, validation_fraction=0, test_fraction=0, seed=0)
    y = np.arange(6) % 3  # 3 classes of 2: train needs all 3 but gets only 2
    raises_one_line(
        "6 rows", "each of the 3 classes", call=split_indices, n=6, validation_fraction=0.34, test_fraction=0.34, y=y
    )


@pytest.mark.parametrize(
    ("val", "test", "fragment"),
    [
        (1.0, 0.0, "validation_fraction=1.0: must be a number at least 0 and below 1"),
        (-0.1, 0.0, "validation_fraction=-0.1"),
        (0.0, float("nan"), "test_fraction=nan"),
        (0.5, 0.5, "validation_fraction=0.5, test_fraction=0.5: together they must be below 1"),
        (True, 0.1, "validation_fraction=True"),
        ("0.1", 0.1, "validation_fraction='0.1'"),
    ],
)
def test_split_bad_fractions(val, test, fragment):
    raises_one_line(fragment, call=split_indices, n=100, validation_fraction=val, test_fraction=test, seed=0)


def test_split_labels_must_match_n():
    raises_one_line(
        "y has shape (3,)", call=split_indices, n=10, validation_fraction=0.1, test_fraction=0.1, y=np.zeros(3)
    )


def test_split_dict_round_trip():
    s = split_indices(50, validation_fraction=0.2, test_fraction=0.1, seed=1)
    d = json.loads(json.dumps(s.to_dict()))
    t = Split.from_dict(d)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(t, part), getattr(s, part))
        assert getattr(t, part).dtype == np.int64


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"train": [0], "val": []},
        {"train": [0, 1.5], "val": [], "test": []},
        {"train": [0, -1], "val": [], "test": []},
        {"train": [0, 1], "val": [1], "test": []},
        [1, 2],
    ],
)
def test_split_from_bad_dict(bad):
    raises_one_line("split metadata", call=Split.from_dict, d=bad)


# ---------------------------------------------------------------------------
# Hints for common mistakes (found by feeding messy files)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("a;b;label\n1;2;0\n3;4;1\n", "it looks separated by semicolons (';'): gpubp reads comma-separated files"),
        ("a\tb\tlabel\n1\t2\t0\n3\t4\t1\n", "it looks separated by tabs"),
        ("a,b,label,\n1,2,0,\n3,4,1,\n", "row 1 (header), column 4 has no name (a trailing comma?)"),
        ("a,b,label\n1,2,0,\n3,4,1,\n", "row 2 has 4 columns, expected 3 as in the header (a trailing comma?)"),
    ],
    ids=["semicolons", "tabs", "trailing-comma-header", "trailing-comma-rows"],
)
def test_csv_layout_mistakes_get_a_hint(tmp_path, content, fragment):
    raises_one_line(fragment, call=load_dataset, source=write(tmp_path, "d.csv", content))


def test_target_given_as_a_column_number(tmp_path):
    path = write(tmp_path, "d.csv", "a,b,label\n1,2,0\n3,4,1\n")
    raises_one_line(
        "target='2': ", "target takes a column name, e.g. 'label'", call=load_dataset, source=path, target="2"
    )


def test_fifo_and_symlink_loop(tmp_path):
    fifo = tmp_path / "p.npz"
    os.mkfifo(fifo)
    raises_one_line("not a regular file", call=load_dataset, source=str(fifo))  # used to block forever
    os.symlink("y.csv", tmp_path / "x.csv")
    os.symlink("x.csv", tmp_path / "y.csv")
    raises_one_line("x.csv: a symbolic link that leads nowhere", call=load_dataset, source=str(tmp_path / "x.csv"))


def test_load_features_by_name_and_without_y(tmp_path):
    path = write(tmp_path, "d.csv", "b,label,a\n2,0,1\n4,1,3\n")
    X = load_features(path, n_features=2, target="label", feature_names=["a", "b"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    raises_one_line("no column 'c'", call=load_features, source=path, n_features=3, feature_names=["a", "b", "c"])
    # Without names, the recorded target column is never taken as a feature, even when the count would fit.
    raises_one_line("has 2 feature columns", call=load_features, source=path, n_features=3, target="label")
    only_x = npz(tmp_path, "x.npz", X=np.ones((4, 2)))
    assert load_features(only_x, n_features=2).shape == (4, 2)
    raises_one_line("no array 'y'", call=load_dataset, source=only_x)  # training still needs y


def test_split_from_dict_checks_rows_against_n():
    d = {"train": [0, 1], "val": [], "test": [7]}
    assert Split.from_dict(d, n=8).test.tolist() == [7]
    raises_one_line("row 7 is past the 5 rows", call=Split.from_dict, d=d, n=5)
