"""Which backends and devices the bench measures: ``backends`` parsed, or one device per library by default.

By default: NumPy on the CPU, PyTorch on the CPU, CuPy on the current GPU and
PyTorch on the first GPU -- one device per library, never every GPU the
machine has (``backends`` may still name more, e.g. ``cupy:1``).
array-api-strict is a conformance checker, not a speed backend: measured only
when named. A backend or device that cannot run here is skipped with its
reason; a malformed name is an error.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..backend import Backend, backend_report, cpu_threads, device_name, resolve
from ..errors import BackendUnavailableError, ParameterError

#: What ``backends`` accepts: a name, optionally ``:DEVICE``.
BENCH_BACKENDS = ("numpy", "torch", "cupy", "array_api_strict")


@dataclass
class Target:
    """One backend on one device.

    ``peak_gflops`` and ``peak_n`` are its device's matmul peak, set once the
    sweep has measured it (one value per device, shared by the targets on it).
    """

    backend: Backend
    gpu: bool
    threads: int | None = None
    peak_gflops: float | None = None
    peak_n: int | None = None

    @property
    def label(self) -> str:
        """``numpy cpu``, ``cupy cuda:1``: how tables and the JSON name it."""
        return f"{self.backend.name} {device_name(self.backend.device)}"

    @property
    def device(self) -> str:
        """The physical device: ``cuda:N`` for a GPU; ``cpu`` for every CPU library and emulated device."""
        return device_name(self.backend.device) if self.gpu else "cpu"

    def scope(self) -> AbstractContextManager[Any]:
        """A context with this target's device current, for making arrays and running steps."""
        return self.backend.activate()


def parse_backends(text: str | None) -> list[tuple[str, str | None]] | None:
    """``numpy,torch:cuda:0`` -> ``[('numpy', None), ('torch', 'cuda:0')]``; None (or ``all``) means the defaults."""
    if text is None or text.strip() in ("", "all"):
        return None
    specs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, device = item.partition(":")
        name = name.strip().lower()
        if name not in BENCH_BACKENDS:
            raise ParameterError("backends", f"unknown backend {name!r} (choose from {', '.join(BENCH_BACKENDS)})")
        specs.append((name, device.strip() or None))
    if not specs:
        raise ParameterError("backends", "name at least one backend, e.g. numpy,torch", text)
    return specs


def default_specs(report: list[dict[str, Any]] | None = None) -> tuple[list[tuple[str, str | None]], list[dict]]:
    """One device per library, and each library that cannot run here with its reason.

    Parameters
    ----------
    report : list of dict or None
        :func:`gpubp.backend.backend_report`'s entries (read here when None).

    Returns
    -------
    specs : list of (name, device)
        ``numpy``; ``torch`` on the CPU; ``cupy`` on the current GPU; ``torch``
        on ``cuda:0``; each where it can run.
    skipped : list of dict
        ``{"backend": ..., "reason": ...}`` for the others.
    """
    entries = {e["name"]: e for e in (backend_report() if report is None else report)}
    specs: list[tuple[str, str | None]] = [("numpy", None)]
    skipped: list[dict[str, str]] = []
    torch, cupy = entries.get("torch"), entries.get("cupy")
    if torch and torch["available"]:
        specs.append(("torch", None))
    else:
        skipped.append({"backend": "torch", "reason": (torch or {}).get("reason") or "unavailable"})
    if cupy and cupy["available"]:
        specs.append(("cupy", None))
    else:
        skipped.append({"backend": "cupy", "reason": (cupy or {}).get("reason") or "unavailable"})
    if torch and torch["available"]:
        if any(d["name"].startswith("cuda") for d in torch["devices"]):
            specs.append(("torch", "cuda:0"))
        else:
            skipped.append({"backend": "torch cuda", "reason": "torch sees no CUDA device"})
    return specs, skipped


def resolve_targets(text: str | None) -> tuple[list[Target], list[dict[str, str]]]:
    """The targets ``text`` names (default: one device per library), and those skipped with why.

    A backend or device that cannot run here (not installed, no such GPU) is
    skipped with its reason; an unknown or malformed name is an error, and so is
    a list in which nothing can run. A target named twice is measured once.
    """
    specs = parse_backends(text)
    skipped: list[dict[str, str]] = []
    if specs is None:
        specs, skipped = default_specs()
    targets: list[Target] = []
    for name, device in specs:
        try:
            backend = resolve(name, device)
        except BackendUnavailableError as exc:
            skipped.append({"backend": f"{name}:{device}" if device else name, "reason": str(exc)})
            continue
        gpu = device_name(backend.device).startswith("cuda")
        target = Target(backend, gpu, threads=cpu_threads(backend))
        if all(t.label != target.label for t in targets):
            targets.append(target)
    if not targets:
        reasons = "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped)
        raise ParameterError("backends", f"nothing can run here ({reasons})")
    return targets, skipped
