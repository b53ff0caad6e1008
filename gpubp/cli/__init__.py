"""The ``gpubp`` command: train, evaluate, predict, info, parity, bench.

The command uses the library; nothing in the library imports the command.
Library errors name parameters (``max_iter=0: must be ...``); here they are
printed under the flag the user typed (``--epochs 0: must be ...``).

Exit codes: 0 done; 2 bad input or usage, or a file or stream that could not
be written (one line ``gpubp: error: ...`` on stderr, nothing half-written);
3 training diverged; 128 + the signal when stopped by one (130 Ctrl-C, 143
SIGTERM, 129 SIGHUP; see :mod:`gpubp.cli.stop`); 1 an unexpected internal
error (one line, and ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .. import __version__
from ..backend import BACKENDS
from ..bench import QUICK_HELP
from ..errors import GpubpError, ParameterError, one_line
from .flags import FLAG_OF, add_train_flags
from .stop import Interrupted, Stop


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line ``gpubp: error: ...`` and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --epoch is a typo, not --epochs
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see gpubp {self.prog.split()[-1]} --help)" if " " in self.prog else message)


def _fail(message: str) -> NoReturn:
    print(f"gpubp: error: {one_line(message)}", file=sys.stderr)
    raise SystemExit(2)


def _positive_ints(flag: str) -> Callable[[str], tuple[int, ...]]:
    def parse(text: str) -> tuple[int, ...]:
        try:
            sizes = tuple(int(p) for p in text.split(","))
        except ValueError:
            sizes = ()
        if not sizes or any(s <= 0 for s in sizes):
            raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like 16,64, got {text!r}")
        return sizes

    return parse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _backend_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, metavar="NAME", help=f"{', '.join(BACKENDS)} (default: $GPUBP_BACKEND, "
                   "else where the model was trained if that works here, else auto)")  # fmt: skip
    p.add_argument(
        "--device", default=None, metavar="D", help="cpu, a GPU index N or cuda:N, or an array-api-strict device"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gpubp`` command."""
    parser = _Parser(prog="gpubp", description="Neural networks trained by hand-written backpropagation.")
    parser.add_argument("--version", action="version", version=f"gpubp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train an MLP and save it (default: the bundled digits)")
    add_train_flags(t)
    t.add_argument("--out", default=None, metavar="DIR", help="run folder (default: runs/<timestamp>)")
    t.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar or summary lines")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    e = sub.add_parser("evaluate", help="metrics of a saved model on its test split or a data set")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--data", default=None, metavar="SOURCE", help="default: the source it was trained on")
    e.add_argument("--split", default="test", choices=("test", "all"))
    e.add_argument("--json", action="store_true")
    _backend_flags(e)

    p = sub.add_parser("predict", help="predictions of a saved model, one row per sample")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", required=True, metavar="SOURCE")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="default: standard output")
    _backend_flags(p)

    q = sub.add_parser("parity", help="train the same network on several backends and compare the weights")
    q.add_argument("--backends", default="numpy,array_api_strict,torch", metavar="LIST",
                   help="NAME or NAME:DEVICE, comma-separated; the first is the reference")  # fmt: skip
    q.add_argument("--steps", type=_integer, default=50)
    q.add_argument("--dtype", default="float32", help="float32 or float64")
    q.add_argument("--data", default="digits", metavar="SOURCE")
    q.add_argument("--seed", type=_integer, default=0)
    q.add_argument("--json", action="store_true")

    b = sub.add_parser("bench", help="time one training step per backend and device over batch x width x depth")
    b.add_argument("--quick", action="store_true", help=QUICK_HELP)
    b.add_argument("--backends", default=None, metavar="LIST",
                   help="comma-separated NAME or NAME:DEVICE from numpy, torch, cupy, array_api_strict "
                   "(default: numpy and torch on the CPU, CuPy on the current GPU, torch on cuda:0)")  # fmt: skip
    b.add_argument("--dtype", default="float32", help="float32 or float64")
    b.add_argument("--loss", default="mse", help="mse or ce")
    b.add_argument("--batches", type=_positive_ints("batches"), default=None, metavar="SIZES", help="e.g. 16,64,256")
    b.add_argument("--widths", type=_positive_ints("widths"), default=None, metavar="SIZES", help="e.g. 128,1024")
    b.add_argument(
        "--depths", type=_positive_ints("depths"), default=None, metavar="COUNTS", help="Linear layers, e.g. 2,4"
    )
    b.add_argument("--repeats", type=_integer, default=None, help="rounds (median and spread over them)")
    b.add_argument("--warmup", type=_integer, default=None, help="untimed steps per point first")
    b.add_argument("--peak-size", type=_integer, default=None, metavar="N", help="n of the n x n matmul")
    b.add_argument("--seed", type=_integer, default=0)
    b.add_argument("--json", nargs="?", const="", default=None, metavar="PATH",
                   help="JSON to PATH (alone: OUT/bench.json; '-': on stdout, the table on stderr)")  # fmt: skip
    b.add_argument("--plot", default=None, metavar="PATH", help="step time vs batch PNG (default: beside the JSON)")
    b.add_argument("--out", default=None, metavar="DIR", help="folder for --json alone (default: runs/bench-<time>)")

    x = sub.add_parser("export", help="a saved model as ONNX or as a PyTorch state dict, for serving")
    x.add_argument("model", metavar="MODEL")
    x.add_argument("--format", required=True, choices=("onnx", "torch"), help="onnx, or torch (nn.Sequential layout)")
    x.add_argument("--out", required=True, metavar="FILE", help="e.g. model.onnx or model_torch.safetensors")
    x.add_argument("--opset", type=_integer, default=None, help="ONNX opset (default: a recent one)")

    i = sub.add_parser("info", help="versions, backends and devices")
    i.add_argument("--json", action="store_true")
    return parser


#: Subcommand -> (module, function); a module is imported only when its command runs (``info`` needs no scikit-learn).
_RUNNERS = {
    "train": ("train", "train"),
    "evaluate": ("use", "evaluate"),
    "predict": ("use", "predict"),
    "info": ("tools", "info"),
    "parity": ("tools", "parity"),
    "bench": ("tools", "bench"),
    "export": ("use", "export"),
}


def _runner(command: str) -> Callable[[argparse.Namespace], int]:
    import importlib

    module, name = _RUNNERS[command]
    return getattr(importlib.import_module(f".{module}", __name__), name)


def _typed(argv: Sequence[str], flag: str) -> str | None:
    """The text given for ``flag`` on the command line (``--flag X`` or ``--flag=X``), if any."""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


#: The parameters of the library functions each tool command calls -> the flags that set them.
TOOL_FLAGS: dict[str, dict[str, str]] = {
    "bench": {"backends": "--backends", "repeats": "--repeats", "warmup": "--warmup", "loss": "--loss",
              "dtype": "--dtype", "peak_n": "--peak-size"},
    "parity": {"backends": "--backends", "steps": "--steps", "dtype": "--dtype"},
    "export": {"opset": "--opset"},
}  # fmt: skip


def render(exc: GpubpError, argv: Sequence[str], flags: dict[str, str] | None = None) -> str:
    """A library error in the command's words: parameter names become the flags that set them.

    ``flags`` maps parameter names to flags (default: ``gpubp train``'s). A value
    that came from ``GPUBP_BACKEND`` (the flag not given, or ``auto``) is named as
    that variable, never as a flag the user did not type.
    """
    flags = FLAG_OF if flags is None else flags
    if not isinstance(exc, ParameterError) or not all(p in flags for p in exc.params):
        return one_line(exc)
    parts = []
    for i, param in enumerate(exc.params):
        flag = flags[param]
        typed = _typed(argv, flag)
        value = exc.values[i] if exc.values is not None else None
        if param == "backend" and _from_environment(typed, value):
            parts.append(f"GPUBP_BACKEND={os.environ['GPUBP_BACKEND']!r}")
            continue
        parts.append(flag if typed is None else f"{flag} {typed}")
    return one_line(f"{' '.join(parts)}: {exc.problem}")


def _from_environment(typed: str | None, value: Any) -> bool:
    """The backend named in an error came from ``GPUBP_BACKEND``: the flag was not typed (or was auto)."""
    env = os.environ.get("GPUBP_BACKEND", "").strip()
    if not env or (typed is not None and typed.strip().lower() != "auto"):
        return False
    return value is None or str(value).strip().lower() == env.lower()


def _wants_mpi() -> bool:
    """:func:`gpubp.distributed.wants_mpi`, imported only when asked (the environment alone; no MPI import)."""
    from ..distributed import wants_mpi

    return wants_mpi()


def _say(line: str) -> None:
    """A line on stderr; a stderr that cannot be written leaves nothing to tell."""
    if sys.stderr is None:  # started with stderr closed (2>&-): print would fall back to stdout
        return
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    process = argv is None  # the process's own command line: the process ends when main returns
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version", "--debug"):
        if argv and argv[0] in ("--json", "--quiet") and len(argv) > 1 and argv[1] in _RUNNERS:
            _fail(f"{argv[0]} before {argv[1]!r}: options go after the command (see gpubp {argv[1]} --help)")
        argv = ["train", *argv]  # `gpubp` alone trains on the bundled digits
    if argv == ["--debug"]:
        argv = ["--debug", "train"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*argv, "train"])
    runner = None
    try:
        # SIGTERM and SIGHUP stop the command as Ctrl-C does (train saves a checkpoint first). Under an MPI
        # launcher a signal to one process before the processes have met is deferred: a process leaving alone
        # then would leave the others waiting for it (in MPI_Init, or the first collective) for ever.
        deferred = args.command == "train" and _wants_mpi()
        with Stop(last=process) as stop, stop.deferred() if deferred else contextlib.nullcontext():
            runner = _runner(args.command)  # importing the command's modules takes a moment: a signal may come
            return runner(args)
    except GpubpError as exc:  # bad input (2) or divergence (3): one line
        _say(f"gpubp: error: {render(exc, argv, TOOL_FLAGS.get(args.command))}")
        return exc.exit_code
    except BrokenPipeError:  # e.g. `gpubp parity | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Interrupted as exc:
        if runner is None and args.command == "train":  # before the command began: say what is on disk
            from .runs import stopped_early

            _say(stopped_early(args, exc))
        else:
            _say(f"gpubp: {exc.what}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("gpubp: interrupted")
        return 130
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if args.debug:
            traceback.print_exc()
        else:
            _say(
                f"gpubp: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                "(rerun with --debug for the traceback)"
            )
        return 1
