"""The edge: backend flags resolve to (xp, device), arrays cross it counted, and only gpubp/backend/ names a library."""

from __future__ import annotations

import re
from pathlib import Path

import array_api_compat
import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import backend as B

GPUBP_DIR = Path(gpubp.__file__).parent


# -- resolving ----------------------------------------------------------------


def test_resolve_numpy():
    b = gpubp.resolve("numpy")
    assert (b.name, b.device, b.reason) == ("numpy", "cpu", None)
    assert b.xp is array_api_compat.array_namespace(np.zeros(1))
    assert b.describe() == "numpy on cpu"
    assert gpubp.resolve(b) is b


def test_resolve_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    default = gpubp.resolve("array_api_strict")
    assert default.xp is xp and default.device == xp.__array_namespace_info__().default_device()
    other = gpubp.resolve("array_api_strict", "device1")
    assert other.device == xp.Device("device1")
    assert other.describe() == "array_api_strict on device1"
    assert gpubp.resolve("array_api_strict", xp.Device("device1")).device == xp.Device("device1")
    assert gpubp.resolve(default, "device1").device == xp.Device("device1")


def test_resolve_torch():
    torch = pytest.importorskip("torch")
    b = gpubp.resolve("torch")
    assert b.name == "torch" and b.device == torch.device("cpu")
    assert b.xp is array_api_compat.array_namespace(torch.zeros(1))
    assert gpubp.resolve("torch", "cpu").device == torch.device("cpu")


def test_resolve_is_case_and_space_insensitive():
    assert gpubp.resolve("  NumPy ").name == "numpy"


def test_unknown_backend_names_the_choices():
    with pytest.raises(gpubp.GpubpError) as info:
        gpubp.resolve("jax")
    message = str(info.value)
    assert "jax" in message
    for choice in B.BACKENDS:
        assert choice in message


def test_env_var_picks_the_backend(monkeypatch):
    pytest.importorskip("array_api_strict")
    monkeypatch.setenv("GPUBP_BACKEND", "array_api_strict")
    assert gpubp.resolve().name == "array_api_strict"
    assert gpubp.resolve(None, "device1").device == gpubp.resolve("array_api_strict", "device1").device
    assert gpubp.resolve("numpy").name == "numpy"  # an explicit name wins
    monkeypatch.setenv("GPUBP_BACKEND", "nonsense")
    with pytest.raises(gpubp.GpubpError, match="nonsense"):
        gpubp.resolve()
    monkeypatch.delenv("GPUBP_BACKEND")
    assert gpubp.resolve().name == "numpy"


def test_unknown_devices_are_errors():
    pytest.importorskip("array_api_strict")
    with pytest.raises(gpubp.GpubpError, match="device9") as info:
        gpubp.resolve("array_api_strict", "device9")
    assert "device1" in str(info.value)  # the choices
    with pytest.raises(gpubp.GpubpError, match="cpu only"):
        gpubp.resolve("numpy", "cuda:0")


def test_torch_without_the_device_is_unavailable():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch has a CUDA device here")
    with pytest.raises(gpubp.BackendUnavailableError, match="cuda:0"):
        gpubp.resolve("torch", "cuda:0")


def test_dtypes():
    b = gpubp.resolve("numpy")
    assert b.dtype("float32") == b.xp.float32 and b.dtype("float64") == b.xp.float64
    with pytest.raises(gpubp.GpubpError, match="float16"):
        b.dtype("float16")


def test_a_device_without_float64_says_so():
    pytest.importorskip("array_api_strict")
    b = gpubp.resolve("array_api_strict", "no_float64")
    assert b.dtype("float32") is not None
    with pytest.raises(gpubp.GpubpError, match="float64"):
        b.dtype("float64")


# -- no GPU here --------------------------------------------------------------


def test_cupy_status_says_why_not():
    ok, reason = B.cupy_status()
    if ok:
        pytest.skip("a GPU is usable here")
    assert isinstance(reason, str) and reason.strip()
    assert "\n" not in reason
    assert B.cupy_status("nonsense") == (False, "'nonsense' is not a GPU index")


def test_cupy_is_unavailable_and_auto_falls_back():
    ok, reason = B.cupy_status()
    if ok:
        pytest.skip("a GPU is usable here")
    with pytest.raises(gpubp.BackendUnavailableError, match="cupy unavailable"):
        gpubp.resolve("cupy")
    auto = gpubp.resolve("auto")
    assert auto.name == "numpy" and auto.device == "cpu"
    assert auto.reason.startswith("cupy unavailable:")
    assert reason in auto.reason
    with pytest.raises(gpubp.BackendUnavailableError, match="no usable GPU"):
        gpubp.resolve("auto", "cuda:0")


# -- arrays across the edge ---------------------------------------------------


def test_to_backend_and_to_host_round_trip(case):
    host = np.random.default_rng(0).standard_normal((3, 4))
    x = gpubp.to_backend(host, case.backend, dtype=case.dtype)
    assert_array(x, case, (3, 4))
    back = gpubp.to_host(x)
    assert isinstance(back, np.ndarray) and back.dtype == np.dtype(case.dtype)
    np.testing.assert_array_equal(back, host.astype(case.dtype))
    again = gpubp.to_backend(x, case.backend)  # device -> device, via the host
    assert_array(again, case, (3, 4))
    np.testing.assert_array_equal(gpubp.to_host(again), back)


def test_to_host_copy_never_aliases(case):
    x = case.asarray(np.arange(6.0).reshape(2, 3))
    copy = gpubp.to_host(x, copy=True)
    copy[...] = -1.0
    np.testing.assert_array_equal(gpubp.to_host(x), np.arange(6.0).reshape(2, 3))


def test_to_backend_moves_between_devices():
    pytest.importorskip("array_api_strict")
    d1 = gpubp.resolve("array_api_strict", "device1")
    x = d1.asarray(np.ones((2, 2)))
    y = gpubp.to_backend(x, "numpy")
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    z = gpubp.to_backend(y, d1, dtype="float32")
    assert B.device_of(z) == d1.device and z.dtype == d1.xp.float32


def test_transfer_counts_increment(case):
    before = B.transfer_counts()
    x = case.asarray(np.ones(3))
    middle = B.transfer_counts()
    assert middle["to_device"] == before["to_device"] + 1
    gpubp.to_host(x)
    after = B.transfer_counts()
    assert after["to_host"] == middle["to_host"] + 1 and after["to_device"] == middle["to_device"]
    after["to_host"] = -5  # a copy, not the counters
    assert B.transfer_counts()["to_host"] == middle["to_host"] + 1


def test_backend_of_and_device_name(case):
    x = case.asarray(np.zeros(2))
    b = B.backend_of(x)
    assert (b.name, b.xp, b.device) == (case.name, case.xp, case.device)
    name = B.device_name(case.device)
    assert name and " " not in name


def test_namespace_refuses_mixed_libraries():
    torch = pytest.importorskip("torch")
    with pytest.raises(gpubp.DeviceMismatchError) as info:
        B.namespace(np.zeros(1), torch.zeros(1))
    assert "numpy" in str(info.value) and "torch" in str(info.value)
    with pytest.raises(gpubp.GpubpError, match="not an Array-API array"):
        B.namespace([1.0, 2.0])


def test_check_same_device_names_both_devices():
    pytest.importorskip("array_api_strict")
    a = gpubp.resolve("array_api_strict").asarray(np.zeros(1))
    b = gpubp.resolve("array_api_strict", "device1").asarray(np.zeros(1))
    B.check_same_device(a, a)
    with pytest.raises(gpubp.DeviceMismatchError, match=r"input is on \S+ but parameters are on device1"):
        B.check_same_device(a, b)


# -- only gpubp/backend/ names an array library -------------------------------

IMPORT = re.compile(r"^\s*(import|from)\s+(numpy|cupy|torch)", re.MULTILINE)  # grep -rnE, line by line


def test_only_backend_imports_an_array_library():
    naming = [path for path in GPUBP_DIR.rglob("*.py") if IMPORT.search(path.read_text(encoding="utf-8"))]
    edge = GPUBP_DIR / "backend"  # the package's own files, not a folder of that name elsewhere
    offenders = sorted(str(path.relative_to(GPUBP_DIR.parent)) for path in naming if path.parent != edge)
    assert offenders == []
    assert edge / "arrays.py" in naming  # the pattern does find the edge's own imports


def test_a_backend_that_is_not_a_name_is_a_clear_error():
    with pytest.raises(gpubp.ParameterError, match="backend=42: must be a name"):
        gpubp.resolve(42)
