"""Choosing CuPy, or falling back to NumPy with the reason said, on a machine without a GPU.

Runs for real in both situations CI creates: CuPy not installed, and
``cupy-cuda12x`` installed on a machine with no usable GPU (import works, the
device does not). ``GPUBP_EXPECT_CUPY=missing|installed`` makes the test
assert which of the two it is in, so CI cannot silently test the same one
twice. The "not installed" path is also simulated by shadowing ``cupy`` with a
package that fails to import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import gpubp
from gpubp import backend as gb

CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None
GPU_USABLE = gb.cupy_status()[0]
pytestmark = pytest.mark.skipif(GPU_USABLE, reason="a GPU is usable here: the fallback paths do not apply")


@pytest.fixture
def fresh_status():
    gb._cupy_status.cache_clear()
    yield
    gb._cupy_status.cache_clear()


@pytest.fixture
def no_cupy(tmp_path, monkeypatch, fresh_status):
    """A ``cupy`` that cannot be imported, in this process and in subprocesses."""
    shadow = tmp_path / "shadow"
    (shadow / "cupy").mkdir(parents=True)
    (shadow / "cupy" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'cupy'\", name='cupy')\n")
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError here
    return {**os.environ, "PYTHONPATH": str(shadow)}


def run(args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gpubp", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_ci_environment_is_the_expected_one():
    expected = os.environ.get("GPUBP_EXPECT_CUPY")
    if expected is None:
        pytest.skip("GPUBP_EXPECT_CUPY is not set (CI sets it to missing or installed)")
    assert expected in ("missing", "installed")
    assert CUPY_INSTALLED == (expected == "installed")


def test_status_says_cupy_is_missing_without_an_install_hint(no_cupy):
    ok, reason = gb.cupy_status()
    assert not ok
    assert reason == "cupy is not installed"  # how to install it is said once, by gpubp info


def test_auto_falls_back_with_the_reason(no_cupy):
    backend = gb.resolve("auto")
    assert backend.name == "numpy"
    assert backend.reason == "cupy unavailable: cupy is not installed"


def test_explicit_cupy_fails_with_the_reason_and_how_to_install(no_cupy):
    expected = r"^backend='cupy': cupy unavailable: cupy is not installed \(pip install .*cupy-cuda12x\)$"
    with pytest.raises(gpubp.BackendUnavailableError, match=expected):
        gb.resolve("cupy")


@pytest.mark.parametrize(
    ("direct_url", "hint"),
    [
        (
            {"url": "file:///src/gpubp", "dir_info": {"editable": True}},
            "pip install -e '/src/gpubp[cuda12]' or pip install cupy-cuda12x",
        ),
        ({"url": "file:///src/gpubp", "dir_info": {}}, "pip install cupy-cuda12x"),
        ({"url": "file:///dl/gpubp-0.2.0-py3-none-any.whl", "archive_info": {}}, "pip install cupy-cuda12x"),
        (None, "pip install cupy-cuda12x"),
    ],
    ids=["editable", "folder", "wheel", "no-record"],
)
def test_the_install_hint_fits_how_gpubp_was_installed(monkeypatch, direct_url, hint):
    from importlib import metadata

    class Dist:
        def read_text(self, name):
            assert name == "direct_url.json"
            return None if direct_url is None else json.dumps(direct_url)

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    here = os.path.dirname(os.path.dirname(os.path.abspath(gpubp.__file__)))
    monkeypatch.setattr(os.path, "realpath", lambda p: here if p == "/src/gpubp" else p)  # that checkout is this one
    assert gb.install_hint("cuda12") == hint
    assert "gpubp[cuda12]" not in hint or hint.startswith("pip install -e ")  # never the extra of an index package


def test_a_checkout_run_from_pythonpath_gets_the_package(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    assert gb.installed_from()[0] == "source"
    assert gb.install_hint("cuda13") == "pip install cupy-cuda13x"


@pytest.mark.skipif(not CUPY_INSTALLED, reason="cupy is not installed: the installed-without-GPU path needs it")
def test_installed_cupy_without_gpu_reports_the_cuda_error(fresh_status):
    ok, reason = gb.cupy_status()
    assert not ok
    assert reason and "\n" not in reason
    assert "not installed" not in reason  # the import worked; the device did not
    with pytest.raises(gpubp.BackendUnavailableError) as err:
        gb.resolve("cupy")
    assert reason in str(err.value)
    assert gb.resolve("auto").reason == f"cupy unavailable: {reason}"


def test_gpu_index_out_of_range_or_bad_is_refused(fresh_status):
    with pytest.raises(gpubp.GpubpError, match="GPU is named by its index"):
        gb.resolve("cupy", "gpu-one")
    with pytest.raises(gpubp.GpubpError):
        gb.resolve("auto", "7")  # auto with a GPU device but no usable GPU


def _environments():
    yield pytest.param("missing", id="cupy-missing")
    yield pytest.param(
        "installed",
        id="cupy-installed",
        marks=pytest.mark.skipif(not CUPY_INSTALLED, reason="cupy is not installed here"),
    )


@pytest.fixture(params=list(_environments()))
def cli_env(request, tmp_path):
    if request.param == "missing":
        shadow = tmp_path / "shadow"
        (shadow / "cupy").mkdir(parents=True)
        (shadow / "cupy" / "__init__.py").write_text(
            "raise ModuleNotFoundError(\"No module named 'cupy'\", name='cupy')\n"
        )
        return request.param, {**os.environ, "PYTHONPATH": str(shadow)}
    return request.param, dict(os.environ)


def test_cli_cupy_exits_2_with_one_line(cli_env, tmp_path):
    kind, env = cli_env
    result = run(["train", "--backend", "cupy", "--epochs", "1", "--out", str(tmp_path / "run")], env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp: error: --backend cupy: cupy unavailable: ")
    assert ("not installed" in lines[0]) == (kind == "missing")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_cli_auto_trains_on_numpy_and_says_why(cli_env, tmp_path):
    kind, env = cli_env
    out = tmp_path / "run"
    result = run(["train", "--backend", "auto", "--epochs", "1", "--out", str(out)], env=env)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("using numpy on cpu (cupy unavailable: ")
    assert "pip install" not in result.stdout  # said by gpubp info, not on every run
    model = gpubp.load(out / "model.safetensors", backend="numpy")
    assert model.metadata_["trained_on"]["fallback_reason"] == first[len("using numpy on cpu (") : -1]


def test_cli_info_reports_cupy_unavailable(cli_env):
    kind, env = cli_env
    result = run(["info", "--json"], env=env)
    assert result.returncode == 0, result.stderr
    entry = {b["name"]: b for b in json.loads(result.stdout)["backends"]}["cupy"]
    assert entry["available"] is False
    assert entry["reason"]
    assert ("not installed" in entry["reason"]) == (kind == "missing")
    assert ("install" in entry) == (kind == "missing")
    if kind == "missing":
        assert entry["install"].startswith("pip install ") and "cupy-cuda12x" in entry["install"]
        text = run(["info"], env=env).stdout
        assert text.count(entry["install"]) == 1
