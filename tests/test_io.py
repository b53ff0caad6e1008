"""Model files: exact round trips, atomic writes, and one clean GpubpError for every bad file.

Nothing a model file holds is ever executed: the pickle tests carry payloads that
would create a marker folder if unpickled, and check the folder never appears.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from gpubp.errors import GpubpError
from gpubp.io import FORMAT, FORMAT_VERSION, load_model_file, save_model_file

REPO = Path(__file__).resolve().parents[1]

METADATA = {
    "config": {"type": "Sequential", "layers": [{"type": "Linear", "in_features": 2, "out_features": 3}]},
    "lr": 0.1,
    "epochs": 2**70,
    "note": 'héllo\n"quoted"',
    "flags": [True, False, None],
    "empty": {},
}


def tensors() -> dict[str, np.ndarray]:
    """One array of every kind a model holds, including awkward layouts."""
    rng = np.random.default_rng(0)
    return {
        "0.W": rng.standard_normal((3, 2)).astype(np.float32),
        "0.b": rng.standard_normal(3),
        "steps": np.arange(5, dtype=np.int64),
        "half": rng.standard_normal(4).astype(np.float16),
        "mask": np.array([True, False, True]),
        "bytes": np.arange(256, dtype=np.uint8),
        "complex": (rng.standard_normal(2) + 1j).astype(np.complex64),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
        "big_endian": np.arange(3, dtype=">f8"),
        "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),  # values are left alone
    }


def save(path: Path, t: dict | None = None, metadata: dict | None = None) -> Path:
    save_model_file(path, tensors() if t is None else t, METADATA if metadata is None else metadata)
    return path


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def refused(path: Path, *fragments: str) -> str:
    """Loading ``path`` raises exactly GpubpError: one line, naming the file and each fragment."""
    with pytest.raises(GpubpError) as info:
        load_model_file(path)
    assert type(info.value) is GpubpError
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def raw_file(header: dict, body: bytes = b"") -> bytes:
    """A safetensors file written out by hand: u64 header length, JSON header, data."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def gpubp_header(**overrides: str) -> dict[str, str]:
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "gpubp": json.dumps({"a": 1})}
    header.update(overrides)
    return {k: v for k, v in header.items() if v is not None}


# -- round trip -----------------------------------------------------------------------------


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    original = tensors()
    path = save(tmp_path / "model.safetensors", original)
    loaded, metadata = load_model_file(path)

    assert metadata == METADATA
    assert loaded.keys() == original.keys()
    for name, a in original.items():
        b = loaded[name]
        assert type(b) is np.ndarray and b.shape == a.shape, name
        assert b.dtype == a.dtype.newbyteorder("="), name
        assert b.astype(b.dtype.newbyteorder("<")).tobytes() == a.astype(a.dtype.newbyteorder("<")).tobytes(), name


def test_loaded_arrays_are_the_callers(tmp_path: Path) -> None:
    path = save(tmp_path / "model.safetensors")
    loaded, _ = load_model_file(path)
    for name, a in loaded.items():
        assert a.flags.writeable and a.flags.owndata and a.dtype.isnative, name
    loaded["0.W"][...] = 7
    again, _ = load_model_file(path)
    assert not np.any(again["0.W"] == 7)


def test_path_like_and_tuple_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model_file(str(path), {"x": np.ones(2)}, {"shape": (2, 3), "nested": [(1,), {"k": ()}]})
    loaded, metadata = load_model_file(path)  # a Path here, a str above
    assert metadata == {"shape": [2, 3], "nested": [[1], {"k": []}]}  # tuples come back as lists
    assert loaded["x"].tolist() == [1.0, 1.0]


def test_numpy_scalar_is_a_0d_array(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model_file(path, {"s": np.float32(1.5)}, {})
    loaded, _ = load_model_file(path)
    assert loaded["s"].shape == () and loaded["s"].dtype == np.float32 and loaded["s"] == 1.5


def test_the_file_is_plain_safetensors(tmp_path: Path) -> None:
    path = save(tmp_path / "model.safetensors")
    with safetensors.safe_open(path, framework="numpy") as f:
        header = f.metadata()
    assert header == {"format": FORMAT, "format_version": "1", "gpubp": json.dumps(METADATA)}


# -- atomic writes ------------------------------------------------------------------------


def test_overwrite_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    path = save(tmp_path / "model.safetensors")
    os.chmod(path, 0o640)
    save_model_file(path, {"x": np.zeros(1)}, {"v": 2})
    loaded, metadata = load_model_file(path)
    assert list(loaded) == ["x"] and metadata == {"v": 2}
    assert path.stat().st_mode & 0o777 == 0o640
    assert temp_files(tmp_path) == []


def test_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = save(tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o640


BAD_METADATA = [
    ({"lr": np.float32(0.1)}, "metadata['lr'] is a float32"),
    ({"a": {"b": [1, float("nan")]}}, "metadata['a']['b'][1] is nan"),
    ({"loss": float("inf")}, "metadata['loss'] is inf"),
    ({1: "one"}, "metadata has the key 1"),
    ({"tags": {"x", "y"}}, "metadata['tags'] is a set"),
    ({"fn": print}, "metadata['fn'] is a builtin_function_or_method"),
    ({"w": np.zeros(2)}, "metadata['w'] is a ndarray"),
]


@pytest.mark.parametrize(("metadata", "message"), BAD_METADATA, ids=[m for _, m in BAD_METADATA])
def test_unencodable_metadata_leaves_old_file(tmp_path: Path, metadata: dict, message: str) -> None:
    path = save(tmp_path / "model.safetensors")
    before = path.read_bytes()
    with pytest.raises(GpubpError, match="cannot write model file") as info:
        save_model_file(path, tensors(), metadata)
    assert type(info.value) is GpubpError and message in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before and temp_files(tmp_path) == []


def test_cyclic_metadata_is_refused(tmp_path: Path) -> None:
    cyclic: dict = {"a": []}
    cyclic["a"].append(cyclic)
    with pytest.raises(GpubpError, match=r"metadata\['a'\]\[0\] contains itself"):
        save_model_file(tmp_path / "m.safetensors", {}, cyclic)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"x": np.array([object()])}, "tensor 'x' has dtype object"),
        ({"x": np.zeros(2, dtype=np.complex128)}, "dtype complex128"),
        ({"x": np.array(["a"])}, "dtype <U1"),
        ({"x": [1.0, 2.0]}, "tensor 'x' is a list, not a host NumPy array"),
        ({"__metadata__": np.zeros(1)}, "'__metadata__' cannot name a tensor"),
        ({3: np.zeros(1)}, "3 cannot name a tensor"),
    ],
)
def test_bad_tensors_leave_old_file(tmp_path: Path, bad: dict, message: str) -> None:
    path = save(tmp_path / "model.safetensors")
    before = path.read_bytes()
    with pytest.raises(GpubpError) as info:
        save_model_file(path, bad, {})
    assert type(info.value) is GpubpError and message in str(info.value)
    assert path.read_bytes() == before and temp_files(tmp_path) == []


@pytest.mark.parametrize("failing", ["replace", "fsync", "chmod"])
def test_failing_write_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    path = save(tmp_path / "model.safetensors")
    before = path.read_bytes()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(GpubpError) as info:
        save_model_file(path, {"x": np.zeros(3)}, {"v": 2})
    monkeypatch.undo()
    assert type(info.value) is GpubpError
    assert str(info.value) == f"cannot write model file {path}: No space left on device"
    assert path.read_bytes() == before and temp_files(tmp_path) == []


def test_interrupted_write_reraises_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path / "model.safetensors")
    before = path.read_bytes()

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_model_file(path, {"x": np.zeros(3)}, {})
    monkeypatch.undo()
    assert path.read_bytes() == before and temp_files(tmp_path) == []


def test_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "model.safetensors"
    with pytest.raises(GpubpError) as info:
        save_model_file(path, {}, {})
    assert str(info.value) == f"cannot write model file {path}: folder {path.parent} does not exist"


def test_target_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").mkdir()
    with pytest.raises(GpubpError, match="cannot write model file .*model.safetensors: "):
        save_model_file(tmp_path / "model.safetensors", {}, {})
    assert (tmp_path / "model.safetensors").is_dir() and temp_files(tmp_path) == []


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # root ignores chmod, so simulate the refusal
    with pytest.raises(GpubpError) as info:
        save_model_file(tmp_path / "m.safetensors", {}, {})
    assert str(info.value) == f"cannot write model file {tmp_path / 'm.safetensors'}: Permission denied"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(GpubpError, match="Permission denied"):
            save_model_file(folder / "m.safetensors", {}, {})
    finally:
        folder.chmod(0o700)


CHILD = """
import sys
import numpy as np
from gpubp.io import save_model_file
path = sys.argv[1]
versions = [({"w": np.full((512, 512), float(v)), "v": np.array([v] * 1000)}, {"version": v}) for v in (0, 1)]
print("ready", flush=True)
i = 0
while True:
    save_model_file(path, *versions[i % 2])
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_mid_write_leaves_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_model_file(path, {"w": np.full((512, 512), 0.0), "v": np.array([0] * 1000)}, {"version": 0})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    rng = np.random.default_rng(1234)
    for _ in range(10):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.005, 0.05))
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        loaded, metadata = load_model_file(path)
        version = metadata["version"]
        assert version in (0, 1)
        assert np.all(loaded["w"] == version) and loaded["w"].shape == (512, 512)
        assert np.all(loaded["v"] == version) and loaded["v"].shape == (1000,)
        for leftover in temp_files(tmp_path):  # a killed writer cannot clean up; the target is still whole
            (tmp_path / leftover).unlink()


# -- refusing bad files ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nope.safetensors", "no such model file")


def test_folder(tmp_path: Path) -> None:
    refused(tmp_path, "is a folder")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_file_is_not_read() -> None:
    refused(Path("/dev/zero"), "not a regular file")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"")
    refused(path, "empty file")


def test_every_truncation_is_refused(tmp_path: Path) -> None:
    whole = save(tmp_path / "whole.safetensors").read_bytes()
    header_end = 8 + int.from_bytes(whole[:8], "little")
    cuts = sorted({*range(1, header_end + 16), *range(header_end, len(whole), 7)})
    path = tmp_path / "cut.safetensors"
    for cut in cuts:
        path.write_bytes(whole[:cut])
        refused(path, "not a safetensors file (truncated: ")


def test_garbage_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    path = tmp_path / "m.safetensors"
    for size in (1, 7, 8, 9, 64, 1000, 100_000):
        path.write_bytes(rng.bytes(size))
        refused(path, "not a safetensors file")
    path.write_bytes(b"hello, this is a text file\n" * 10)
    refused(path, "not a safetensors file")


def test_corrupted_header(tmp_path: Path) -> None:
    whole = save(tmp_path / "m.safetensors").read_bytes()
    path = tmp_path / "bad.safetensors"
    for start, replacement in [(8, b"["), (9, b"\xff\xfe"), (0, b"\x01"), (0, (2**63).to_bytes(8, "little"))]:
        path.write_bytes(whole[:start] + replacement + whole[start + len(replacement) :])
        refused(path, "not a safetensors file")
    path.write_bytes(raw_file({"x": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, b"abcd"))
    refused(path, "not a safetensors file")


def test_random_byte_flips_never_leak_other_errors(tmp_path: Path) -> None:
    """A flipped byte in the data is a valid file with other values; anywhere else, a GpubpError."""
    whole = bytearray(save(tmp_path / "m.safetensors").read_bytes())
    header_end = 8 + int.from_bytes(whole[:8], "little")
    rng = np.random.default_rng(7)
    path = tmp_path / "flipped.safetensors"
    for _ in range(400):
        at = int(rng.integers(0, header_end)) if rng.random() < 0.8 else int(rng.integers(0, len(whole)))
        flipped = bytearray(whole)
        flipped[at] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(flipped))
        try:
            load_model_file(path)
        except GpubpError as e:
            assert type(e) is GpubpError and str(path) in str(e) and "\n" not in str(e)


def test_plain_safetensors_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"x": np.zeros(2)}, path)
    refused(path, "a safetensors file, but not a gpubp model (no 'format' in its metadata)")
    safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata={"format": "pt"})
    refused(path, "not a gpubp model (format 'pt')")


def test_other_format_version(tmp_path: Path) -> None:
    path = tmp_path / "future.safetensors"
    safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata=gpubp_header(format_version="7"))
    assert refused(path) == f"{path}: model file format version 7, this gpubp reads version 1"
    for odd in ("one", "", None):
        safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata=gpubp_header(format_version=odd))
        refused(path, "model file format version", "this gpubp reads version 1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "model metadata is not valid JSON"),
        ('{"lr": NaN}', "model metadata is not valid JSON (NaN is not valid JSON"),
        ('{"a": 1} trailing', "model metadata is not valid JSON"),
        ("[1, 2]", "model metadata is a JSON list, not an object"),
        ("[" * 100_000, "model metadata is not valid JSON"),
    ],
)
def test_bad_metadata_json(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.safetensors"
    safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata=gpubp_header(gpubp=text))
    refused(path, message)


def test_missing_gpubp_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata=gpubp_header(gpubp=None))
    refused(path, "without its 'gpubp' metadata")


def test_unsupported_tensor_dtype(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    header = {"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}, "__metadata__": gpubp_header()}
    path.write_bytes(raw_file(header, b"\0\0\0\0"))
    refused(path, "tensor 'x' has dtype BF16")


# -- never executing a file --------------------------------------------------------------


class Plant:
    """Unpickling this calls os.mkdir(marker): proof that a file was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.marker,))


def test_live_payloads_would_run(tmp_path: Path) -> None:
    """The payloads below are live: unpickling them does create the marker."""
    pickle.loads(pickle.dumps(Plant(tmp_path / "probe1")))
    path = tmp_path / "probe.npy"
    np.save(path, np.array([Plant(tmp_path / "probe2")], dtype=object), allow_pickle=True)
    np.load(path, allow_pickle=True)
    assert (tmp_path / "probe1").is_dir() and (tmp_path / "probe2").is_dir()


def test_pickle_is_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "model.safetensors"
    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        with open(path, "wb") as f:
            pickle.dump({"weights": [1.0], "evil": Plant(marker)}, f, protocol=protocol)
        refused(path, "not a safetensors file")
    assert refused(path).endswith("(it looks like a Python pickle, which gpubp never loads)")
    assert not marker.exists()


def test_npy_and_npz_are_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    payload = np.array([Plant(marker)], dtype=object)
    npy, npz = tmp_path / "a.npy", tmp_path / "b.npz"
    np.save(npy, payload, allow_pickle=True)
    np.savez(npz, w=np.zeros(3), evil=payload)
    path = tmp_path / "model.safetensors"
    path.write_bytes(npy.read_bytes())
    refused(path, "not a safetensors file (it looks like a NumPy .npy file")
    path.write_bytes(npz.read_bytes())
    refused(path, "not a safetensors file (it looks like a zip archive")
    assert not marker.exists()


def test_torch_save_is_refused_unexecuted(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(3), "evil": Plant(marker)}, path)
    refused(path, "not a safetensors file (it looks like a zip archive")
    torch.save({"w": torch.zeros(3), "evil": Plant(marker)}, path, _use_new_zipfile_serialization=False)
    refused(path, "not a safetensors file")
    assert not marker.exists()


# -- judged from the header before anything is read ---------------------------------------


def test_read_header_reads_no_tensor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gpubp import io as gpubp_io

    path = save(tmp_path / "m.safetensors")
    monkeypatch.setattr(gpubp_io.read, "_read_tensor", lambda *a: pytest.fail("read_header read a tensor"))
    infos, metadata = gpubp_io.read_header(path)
    assert metadata == METADATA
    assert infos["0.W"] == ("float32", (3, 2), 24) and infos["steps"].dtype == "int64"
    assert infos["scalar"] == ("float64", (), 8) and infos["empty"].nbytes == 0
    assert set(infos) == set(tensors())


def test_allowed_dtypes_refuse_rather_than_cast(tmp_path: Path) -> None:
    path = save(tmp_path / "m.safetensors", {"w": np.zeros(2, np.float32), "steps": np.arange(3)})
    with pytest.raises(GpubpError, match="tensor 'steps' has dtype int64; expected float32, float64"):
        load_model_file(path, allowed_dtypes={"float32", "float64"})
    loaded, _ = load_model_file(path, allowed_dtypes=["float32", "int64"])
    assert loaded["steps"].dtype == np.int64


def test_duplicate_tensor_names_are_refused(tmp_path: Path) -> None:
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    text = f'{{"x": {entry}, "x": {entry}, "__metadata__": {json.dumps(gpubp_header())}}}'.encode()
    text += b" " * (-len(text) % 8)
    path = tmp_path / "dup.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"\0" * 4)
    refused(path, "not a safetensors file (the name 'x' appears twice in the header, which the format forbids)")


@pytest.mark.parametrize(
    ("entries", "body", "message"),
    [
        ({"a": ("F32", [2], [0, 8]), "b": ("F32", [2], [4, 12])}, 12, "tensor 'b' overlaps the tensor before it"),
        ({"a": ("F32", [1], [0, 4]), "b": ("F32", [1], [8, 12])}, 12, "tensor 'b' leaves a gap before byte 8"),
        ({"a": ("F32", [1], [4, 8])}, 8, "tensor 'a' leaves a gap before byte 4"),
        ({"a": ("F32", [3], [0, 8])}, 8, "shape [3] of F32 needs 12 bytes, its data_offsets span 8"),
        ({"a": ("F64", [10**9, 10**9], [0, 8])}, 8, "needs 8000000000000000000 bytes"),
        ({"a": ("F32", [-1], [0, 0])}, 0, "shape [-1] is not a list of sizes"),
        ({"a": ("F32", [True], [0, 4])}, 4, "is not a list of sizes"),
        ({"a": ("F32", [1], [4, 0])}, 4, "is not a byte range"),
        ({"a": ("F32", [1], [0, 4.0])}, 4, "is not a pair of byte offsets"),
        ({"a": ("XX", [1], [0, 4])}, 4, "tensor 'a': unknown dtype 'XX'"),
        ({"a": ("F32", [1], [0, 4])}, 12, "8 bytes after the last tensor"),
        ({"a": ("F32", [1], [0, 4])}, 2, "truncated: "),
    ],
)
def test_byte_ranges_are_checked(tmp_path: Path, entries: dict, body: int, message: str) -> None:
    header = {name: {"dtype": d, "shape": s, "data_offsets": o} for name, (d, s, o) in entries.items()}
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw_file({**header, "__metadata__": gpubp_header()}, b"\0" * body))
    refused(path, "not a safetensors file (", message)


def test_a_multi_gigabyte_file_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    rows = 5 * 2**30 // 8
    head = raw_file(
        {"w": {"dtype": "F64", "shape": [rows], "data_offsets": [0, rows * 8]}, "__metadata__": gpubp_header()}
    )
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + rows * 8)  # sparse: 5 GiB that take no disk
    assert refused(path, "GiB of tensors, more than the").endswith("GiB a model file may take here (max_bytes)")
    small = save(tmp_path / "m.safetensors")
    with pytest.raises(GpubpError, match="more than the 0.00 GiB a model file may take here"):
        load_model_file(small, max_bytes=100)


@pytest.mark.parametrize(
    "header_text",
    [
        b"[" * 200_000 + b"]" * 200_000,  # nested too deep for json: RecursionError
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
        b'{"__metadata__": {"format": "gpubp-model", "format_version": "1", "gpubp": "' + b"[" * 100_000 + b'"}}',
    ],
    ids=["deep-list", "deep-object", "deep-metadata"],
)
def test_deeply_nested_json_is_a_gpubp_error(tmp_path: Path, header_text: bytes) -> None:
    header_text += b" " * (-len(header_text) % 8)
    path = tmp_path / "deep.safetensors"
    path.write_bytes(len(header_text).to_bytes(8, "little") + header_text)
    with pytest.raises(GpubpError) as info:
        load_model_file(path)
    assert type(info.value) is GpubpError and str(path) in str(info.value)


def test_header_larger_than_the_cap_is_not_read(tmp_path: Path) -> None:
    from gpubp.io import MAX_HEADER_BYTES

    path = tmp_path / "big-header.safetensors"
    with open(path, "wb") as f:
        f.write((MAX_HEADER_BYTES + 8).to_bytes(8, "little"))
        f.truncate(MAX_HEADER_BYTES + 64)
    refused(path, f"a header of {MAX_HEADER_BYTES + 8} bytes; a model file's is at most {MAX_HEADER_BYTES}")


def test_duplicate_keys_in_gpubp_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    safetensors.numpy.save_file({"x": np.zeros(2)}, path, metadata=gpubp_header(gpubp='{"a": 1, "a": 2}'))
    refused(path, "model metadata names 'a' twice")
