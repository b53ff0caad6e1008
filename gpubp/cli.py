"""The ``gpubp`` command: train, evaluate, predict, parity, bench, info.

Exit codes: 0 done; 2 bad input or usage (one line ``gpubp: error: ...`` on
stderr, nothing half-written); 3 training diverged; 130 interrupted; 1 an
unexpected internal error (one line, and ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .backend import BACKENDS
from .errors import GpubpError, TrainingDiverged, one_line


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


def _add_backend(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument(
        "--backend",
        default=default,
        metavar="NAME",
        help=f"array library: {', '.join(BACKENDS)} (default: $GPUBP_BACKEND or auto)",
    )
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
    t.add_argument(
        "--data", default="digits", metavar="SOURCE", help="digits, xor, spirals, sine, PATH.csv or PATH.npz"
    )
    t.add_argument("--target", default=None, metavar="COL", help="CSV target column (default: the last)")
    t.add_argument("--task", default="auto", help="auto, classify or regress")
    t.add_argument("--hidden", default="128,64", metavar="SIZES", help="hidden layer widths, e.g. 128,64")
    t.add_argument("--activation", default="relu", help="relu, leaky_relu, sigmoid or tanh")
    t.add_argument("--loss", default="auto", help="auto, ce, bce or mse")
    t.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov or adam")
    t.add_argument("--lr", type=_number("lr"), default=None, help="learning rate (default: per optimizer)")
    t.add_argument("--weight-decay", type=_number("weight-decay"), default=0.0)
    t.add_argument("--epochs", type=_integer("epochs"), default=200, help="maximum number of epochs")
    t.add_argument("--batch-size", type=_integer("batch-size"), default=32)
    t.add_argument("--tol", type=_number("tol"), default=1e-4)
    t.add_argument("--patience", type=_integer("patience"), default=10)
    t.add_argument("--val-fraction", type=_number("val-fraction"), default=0.1)
    t.add_argument("--test-fraction", type=_number("test-fraction"), default=0.2)
    t.add_argument("--seed", type=_integer("seed"), default=0)
    t.add_argument("--dtype", default="float32", help="float32 or float64")
    _add_backend(t)
    t.add_argument("--out", default=None, metavar="DIR", help="run folder (default: runs/<timestamp>)")
    t.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run in DIR from its checkpoint (its other training flags are reused)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar or summary lines")
    t.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    e = sub.add_parser("evaluate", help="metrics of a saved model on its test split or a data set")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--data", default=None, metavar="SOURCE", help="default: the source it was trained on")
    e.add_argument("--split", default="test", choices=("test", "all"))
    e.add_argument("--json", action="store_true")
    _add_backend(e)

    p = sub.add_parser("predict", help="predictions of a saved model, one row per sample")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", required=True, metavar="SOURCE")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="default: standard output")
    _add_backend(p)

    q = sub.add_parser("parity", help="train the same network on several backends and compare the weights")
    q.add_argument(
        "--backends",
        default="numpy,array_api_strict,torch",
        metavar="LIST",
        help="comma-separated NAME or NAME:DEVICE, the first is the reference (e.g. numpy,cupy:0)",
    )
    q.add_argument("--steps", type=_integer("steps"), default=50)
    q.add_argument("--dtype", default="float32", help="float32 or float64")
    q.add_argument("--data", default="digits", metavar="SOURCE")
    q.add_argument("--seed", type=_integer("seed"), default=0)
    q.add_argument("--json", action="store_true")

    b = sub.add_parser("bench", help="time one training step per backend and device over batch x width x depth")
    b.add_argument("--quick", action="store_true", help="a small sweep (under a minute on two CPU cores)")
    b.add_argument(
        "--backends",
        default=None,
        metavar="LIST",
        help="comma-separated NAME or NAME:DEVICE from numpy, torch, cupy, array_api_strict "
        "(default: every available backend and device)",
    )
    b.add_argument("--dtype", default="float32", help="float32 or float64")
    b.add_argument("--loss", default="mse", help="mse or ce")
    b.add_argument("--batches", default=None, metavar="SIZES", help="batch sizes, e.g. 16,64,256")
    b.add_argument("--widths", default=None, metavar="SIZES", help="layer widths, e.g. 128,1024")
    b.add_argument("--depths", default=None, metavar="COUNTS", help="numbers of Linear layers, e.g. 2,4")
    b.add_argument("--repeats", type=_integer("repeats"), default=None, help="timed blocks per point (median)")
    b.add_argument("--warmup", type=_integer("warmup"), default=None, help="untimed steps per point first")
    b.add_argument("--peak-size", type=_integer("peak-size"), default=None, metavar="N", help="n of the n x n matmul")
    b.add_argument("--seed", type=_integer("seed"), default=0)
    b.add_argument(
        "--json",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write the results as JSON to PATH (alone: OUT/bench.json; '-': on stdout, the table on stderr)",
    )
    b.add_argument("--plot", default=None, metavar="PATH", help="step time vs batch PNG (default: beside the JSON)")
    b.add_argument("--out", default=None, metavar="DIR", help="folder for --json alone (default: runs/bench-<time>)")

    i = sub.add_parser("info", help="versions, backends and devices")
    i.add_argument("--json", action="store_true")
    return parser


def _number(flag: str) -> Any:
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:  # argparse puts "argument --flag: " in front
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None

    return parse


def _integer(flag: str) -> Any:
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:  # argparse puts "argument --flag: " in front
            hint = ""
            try:
                if float(text).is_integer():  # 1e9: say how to write it
                    hint = f", write it out: {int(float(text))}"
            except (ValueError, OverflowError):
                pass
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}{hint}") from None

    return parse


#: The subcommands, to tell ``gpubp --json train`` (a misplaced flag) from ``gpubp --json`` (train).
_COMMAND_NAMES = ("train", "evaluate", "predict", "parity", "bench", "info")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version", "--debug"):
        if argv[0] in ("--json", "--quiet") and len(argv) > 1 and argv[1] in _COMMAND_NAMES:
            _fail(f"{argv[0]} before {argv[1]!r}: options go after the command (see gpubp {argv[1]} --help)")
        argv = ["train", *argv]  # `gpubp` alone trains on the bundled digits
    if argv == ["--debug"]:
        argv = ["--debug", "train"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*argv, "train"])
    from .commands import COMMANDS

    previous = signal.getsignal(signal.SIGINT)
    try:
        return COMMANDS[args.command](args)
    except (GpubpError, TrainingDiverged) as exc:  # bad input (2) or divergence (3): one line
        print(f"gpubp: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `gpubp parity | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("gpubp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"gpubp: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                "(rerun with --debug for the traceback)",
                file=sys.stderr,
            )
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
