"""The one place that generates the test matrix: backend x device x dtype.

Every test that takes the ``case`` fixture runs once per entry of :data:`CASES`
(``case64``: its float64 half):

    numpy-cpu-float32             numpy-cpu-float64
    array_api_strict-default-*    array-api-strict on its default device
    array_api_strict-device1-*    ... and on a non-default device (catches lost ``device=``)
    torch-cpu-*                   when torch is installed
    cupy-cuda0-*                  when a CUDA GPU is usable (marked ``gpu``)

A backend that cannot run here is still listed, as a skipped param whose reason
says why. Tolerances come from the dtype. Helpers for the tests:

* ``case.asarray(np_array)`` -- a host array on the case's backend, in its dtype;
* ``assert_array(x, case, shape)`` -- namespace, device, dtype and shape of ``x``;
* ``case.assert_close(actual, expected)`` -- values against a host reference.
"""

from __future__ import annotations

import importlib.util
import signal
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest

from gpubp.backend import Backend, cupy_status, resolve, to_host


def pytest_configure(config: pytest.Config) -> None:
    """The stop signals start with their usual meaning, whoever launched the tests.

    A shell without job control starts a background job (``... &``) with SIGINT
    ignored, and ``nohup`` ignores SIGHUP; gpubp keeps an ignored signal ignored
    (as it promises), so the tests that stop a run with one would see it pass
    by. Children started by the tests inherit these dispositions too.
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGXCPU", "SIGUSR1", "SIGUSR2"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL)


#: dtype -> (rtol, atol) for comparing a backend's result with a float64 host reference.
TOLERANCES = {"float32": (2e-5, 1e-6), "float64": (1e-10, 1e-12)}

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Case:
    """One point of the matrix: a resolved backend and a dtype name."""

    backend: Backend
    dtype: str

    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def xp_dtype(self) -> Any:
        return self.backend.dtype(self.dtype)

    @property
    def device(self) -> Any:
        return self.backend.device

    @property
    def rtol(self) -> float:
        return TOLERANCES[self.dtype][0]

    @property
    def atol(self) -> float:
        return TOLERANCES[self.dtype][1]

    @property
    def name(self) -> str:
        return self.backend.name

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """A host array (or nested list) on this case's device, in the case dtype unless ``dtype``."""
        return self.backend.asarray(np.asarray(a), dtype=self.xp_dtype if dtype is None else dtype)

    def to_host(self, x: Any) -> np.ndarray:
        """A host float64 copy of ``x`` for comparisons."""
        return np.array(to_host(x), dtype=np.float64)  # always a copy

    def assert_close(self, actual: Any, expected: Any, *, rtol: float | None = None, atol: float | None = None) -> None:
        """``actual`` (any backend) equals the host reference ``expected`` within the dtype's tolerance."""
        np.testing.assert_allclose(
            self.to_host(actual),
            np.asarray(expected, dtype=np.float64),
            rtol=self.rtol if rtol is None else rtol,
            atol=self.atol if atol is None else atol,
        )

    def assert_array(self, x: Any, shape: tuple[int, ...]) -> None:
        assert_array(x, self, shape)


def assert_array(x: Any, case: Case, shape: tuple[int, ...], dtype: Any = None) -> None:
    """``x`` is an array of the case's namespace, on its device, of its dtype (or ``dtype``) and ``shape``."""
    xp = array_api_compat.array_namespace(x)
    assert xp is case.xp, f"namespace {xp.__name__} is not the case's {case.xp.__name__}"
    assert array_api_compat.device(x) == case.device, f"device {array_api_compat.device(x)} != {case.device}"
    want = case.xp_dtype if dtype is None else dtype
    assert x.dtype == want, f"dtype {x.dtype} != {want}"
    assert tuple(x.shape) == tuple(shape), f"shape {tuple(x.shape)} != {tuple(shape)}"


# ---------------------------------------------------------------------------
# The matrix


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _backend_specs() -> list[tuple[str, Any, str, list[Any]]]:
    """(backend name, device, device label, marks) for every backend x device we test."""
    specs: list[tuple[str, Any, str, list[Any]]] = [("numpy", None, "cpu", [])]
    if _installed("array_api_strict"):
        strict_marks: list[Any] = []
    else:
        strict_marks = [pytest.mark.skip(reason="array_api_strict is not installed (pip install array-api-strict)")]
    specs.append(("array_api_strict", None, "default", strict_marks))
    specs.append(("array_api_strict", "device1", "device1", strict_marks))
    if _installed("torch"):
        torch_marks: list[Any] = []
    else:
        torch_marks = [pytest.mark.skip(reason="torch is not installed (pip install 'gpubp[torch]')")]
    specs.append(("torch", "cpu", "cpu", torch_marks))
    ok, reason = cupy_status()
    cupy_marks: list[Any] = [pytest.mark.gpu]
    if not ok:
        cupy_marks.append(pytest.mark.skip(reason=f"cupy unavailable: {reason}"))
    specs.append(("cupy", None, "cuda0", cupy_marks))
    return specs


BACKEND_SPECS = _backend_specs()

#: The matrix as pytest params; values are (backend name, device, dtype).
CASES = [
    pytest.param((name, device, dtype), id=f"{name}-{label}-{dtype}", marks=marks)
    for name, device, label, marks in BACKEND_SPECS
    for dtype in DTYPES
]


#: The float64 half of the matrix, for checks against float64 oracles (PyTorch autograd).
CASES_FLOAT64 = [param for param in CASES if param.values[0][2] == "float64"]


def _make_case(request: pytest.FixtureRequest) -> Case:
    name, device, dtype = request.param
    return Case(resolve(name, device), dtype)


@pytest.fixture(params=CASES, scope="session")
def case(request: pytest.FixtureRequest) -> Case:
    """One backend x device x dtype of the matrix (session-scoped: it is immutable)."""
    return _make_case(request)


@pytest.fixture(params=CASES_FLOAT64, scope="session")
def case64(request: pytest.FixtureRequest) -> Case:
    """One backend x device of the matrix, in float64."""
    return _make_case(request)


def call(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``gpubp.cli.main(args)`` in-process: (exit code, stdout, stderr); argparse's exits become codes."""
    from gpubp.cli import main

    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str, exit_code: int = 2) -> None:
    """The command's bad-input contract: ``exit_code`` and one line ``gpubp: error: ...`` holding every needle."""
    assert code == exit_code, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gpubp: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
