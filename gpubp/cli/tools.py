"""``gpubp info``, ``gpubp parity`` and ``gpubp bench``: what is here, and how the backends compare."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from .. import __version__
from ..backend import backend_report, default_backend_name, library_version, thread_report
from ..errors import GpubpError
from .output import StandardOutput, emit

#: Exit code of ``gpubp parity`` when a difference exceeds the tolerance.
PARITY_FAILED = 4


def info(args: argparse.Namespace) -> int:
    """``gpubp info``: versions, backends (available or why not, how to install), devices and threads."""
    report = {
        "gpubp": __version__,
        "python": platform.python_version(),
        "numpy": library_version("numpy"),
        "default_backend": default_backend_name("auto"),
        "backends": backend_report(),
        "threads": thread_report("auto"),
    }
    if args.json:
        emit(json.dumps(report) + "\n")
        return 0
    lines = [f"gpubp {report['gpubp']} (python {report['python']}, numpy {report['numpy']})"]
    for entry in report["backends"]:
        if entry["available"]:
            devices = ", ".join(
                d["name"] + (f" ({d['gpu']}, {d['memory_gib']} GiB)" if "gpu" in d else "") for d in entry["devices"]
            )
            lines.append(f"  {entry['name']:<17} {entry['version'] or '':<12} available: {devices}")
        else:
            lines.append(f"  {entry['name']:<17} {entry['version'] or '-':<12} unavailable: {entry['reason']}")
            if entry.get("install"):
                lines.append(f"  {'':<17} {'':<12} to install: {entry['install']}")
    lines.append(_threads_line(report["threads"]))
    emit("".join(line + "\n" for line in lines))
    return 0


def _threads_line(threads: dict[str, Any]) -> str:
    """``threads: auto -> 1 while fitting and predicting (2 usable CPUs, ...); pools now: ...``."""
    env = ", ".join(f"{k}={v}" for k, v in threads["env"].items()) or "no OMP_NUM_THREADS set"
    pools = ", ".join(f"{p['library']} {p['api']} {p['threads']}" for p in threads["pools"])
    return (
        f"threads: auto -> {threads['chosen']} while fitting and predicting ({threads['usable_cpus']} usable CPUs, "
        f"{env}); pools now: {pools or 'none loaded'}"
    )


def parity(args: argparse.Namespace) -> int:
    """``gpubp parity``: same seed, same batches on each backend; per-layer differences."""
    from ..parity import run_parity

    specs = []
    for item in (part.strip() for part in args.backends.split(",")):
        if item:
            name, _, device = item.partition(":")
            specs.append((name, device or None))
    report = run_parity(specs, steps=args.steps, dtype=args.dtype, data=args.data, seed=args.seed)
    if args.json:
        emit(
            json.dumps(
                {
                    "ok": report.ok,
                    "reference": report.reference,
                    "dtype": report.dtype,
                    "steps": report.steps,
                    "tolerance": report.tol,
                    "rows": report.rows,
                }
            )
            + "\n"
        )
    else:
        emit(report.table() + "\n")
    return 0 if report.ok else PARITY_FAILED


def bench(args: argparse.Namespace) -> int:
    """``gpubp bench``: the table on stdout, progress on stderr, JSON and PNG where asked."""
    from ..bench import FULL, QUICK, Sweep, run_bench

    preset = QUICK if args.quick else FULL
    sweep = Sweep(
        batches=args.batches or preset["batches"],
        widths=args.widths or preset["widths"],
        depths=args.depths or preset["depths"],
        repeats=preset["repeats"] if args.repeats is None else args.repeats,
        warmup=preset["warmup"] if args.warmup is None else args.warmup,
        dtype=args.dtype,
        loss=args.loss,
        quick=args.quick,
        peak_n=args.peak_size,
        seed=args.seed,
    )
    json_path, report = args.json, StandardOutput()
    if json_path == "-":  # stdout carries the JSON alone: the table moves to stderr
        json_path, report = None, sys.stderr
    elif json_path == "":
        json_path = os.path.join(args.out or os.path.join("runs", time.strftime("bench-%Y%m%d-%H%M%S")), "bench.json")
    plot_path = args.plot
    if plot_path is None and json_path is not None:
        plot_path = os.path.splitext(json_path)[0] + ".png"
    for flag, path in (("--json", json_path), ("--plot", plot_path)):
        if path is not None and os.path.isdir(path):
            raise GpubpError(f"{flag} {path}: is a folder, expected a file name")
    doc = run_bench(backends=args.backends, sweep=sweep, json_path=json_path, plot_path=plot_path, report=report)
    if args.json == "-":
        emit(json.dumps(doc) + "\n")
    return 0
