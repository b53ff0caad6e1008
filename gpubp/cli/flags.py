"""The command's flags, derived from the settings: each flag names a setting, never a new default or check.

Estimator settings come from :data:`gpubp.settings.SETTINGS`; the command's
own settings (data source, task, test split, run folder) are declared here with
the same :class:`~gpubp.settings.Setting`. A :class:`Flag` adds only the flag's
spelling and, where the command's default differs from the estimator's, that
default and why (shown in ``--help``). Parsing, ``--help``, the mapping of
parameter names to flags in error messages, and the ``--resume`` comparison
all read this one table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ..data import SOURCES, TASKS
from ..settings import BY_NAME, Boolean, Choice, Constraint, Invalid, Real, Setting


@dataclass(frozen=True)
class Text(Constraint):
    """Any non-empty text (a file name, a column name); None where the default is None."""

    metavar = "TEXT"

    def check(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value != ""):
            return value
        raise Invalid

    def describe(self) -> str:
        return "a non-empty text"


#: The command's own settings (not the estimator's).
COMMAND_SETTINGS: tuple[Setting, ...] = (
    Setting("data", "digits", Text(), f"training data: {', '.join(SOURCES)}, PATH.csv or PATH.npz"),
    Setting("target", None, Text(), "the CSV target column"),
    Setting("task", "auto", Choice(TASKS), "auto reads text, booleans and up to 50 whole numbers as class labels"),
    Setting("test_fraction", 0.2, Real(0.0, 1.0, "left"), "share of the data held out as the test split"),
    Setting(
        "loss",
        "auto",
        Choice(("auto", "ce", "bce", "mse", "poisson")),
        "auto: cross-entropy for classes, squared error for values; bce needs 2 classes, poisson values >= 0",
    ),
    Setting(
        "optimizer",
        "adam",
        Choice(("adam", "sgd", "momentum", "nesterov", "lbfgs")),
        "adam; sgd (plain); momentum or nesterov (SGD with momentum 0.9); lbfgs (whole-batch L-BFGS)",
    ),
)

#: Each --optimizer as the estimator settings it stands for (an explicit --lr or --momentum wins).
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "adam": {"solver": "adam", "learning_rate_init": 2e-3},
    "sgd": {"solver": "sgd", "momentum": 0.0, "nesterovs_momentum": False, "learning_rate_init": 0.1},
    "momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False, "learning_rate_init": 0.01},
    "nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True, "learning_rate_init": 0.01},
    "lbfgs": {"solver": "lbfgs"},
}

#: Each --loss as the estimator it needs ("classify" / "regress") and the regressor's loss.
LOSSES: dict[str, tuple[str | None, str | None]] = {
    "auto": (None, None),
    "ce": ("classify", None),
    "bce": ("classify", None),
    "mse": ("regress", "squared_error"),
    "poisson": ("regress", "poisson"),
}

_UNSET: Any = object()


@dataclass(frozen=True)
class Flag:
    """A setting as a ``gpubp train`` flag: its spelling, and the command's own default where it differs."""

    name: str
    flag: str
    default: Any = _UNSET
    why: str = ""

    @property
    def setting(self) -> Setting:
        """The command's own setting of that name, else the estimators' (the command's --loss is its own)."""
        return next((s for s in COMMAND_SETTINGS if s.name == self.name), None) or BY_NAME[self.name]

    @property
    def value(self) -> Any:
        """The default ``gpubp train`` uses."""
        return self.setting.default if self.default is _UNSET else self.default


#: ``gpubp train``'s flags, in --help order. Settings not listed (solver, nesterovs_momentum,
#: verbose, warm_start, the regressor's loss) are set through --optimizer, --loss or the command itself.
TRAIN_FLAGS: tuple[Flag, ...] = (
    Flag("data", "--data"),
    Flag("target", "--target", None, "the last column"),
    Flag("task", "--task"),
    Flag("hidden_layer_sizes", "--hidden", (128, 64), "wider than scikit-learn's (100,) for the digits"),
    Flag("activation", "--activation"),
    Flag("loss", "--loss"),
    Flag("optimizer", "--optimizer"),
    Flag("learning_rate_init", "--lr", None, "per --optimizer: adam 0.002, sgd 0.1, momentum and nesterov 0.01"),
    Flag("momentum", "--momentum", None, "per --optimizer: 0 for sgd, 0.9 for momentum and nesterov"),
    Flag("learning_rate", "--lr-schedule"),
    Flag("power_t", "--power-t"),
    Flag("alpha", "--alpha"),
    Flag("beta_1", "--beta-1"),
    Flag("beta_2", "--beta-2"),
    Flag("epsilon", "--epsilon"),
    Flag("max_iter", "--epochs"),
    Flag("batch_size", "--batch-size", 32, "smaller batches than 'auto' (200) train the digits faster"),
    Flag("shuffle", "--shuffle"),
    Flag("tol", "--tol"),
    Flag("n_iter_no_change", "--patience"),
    Flag("early_stopping", "--early-stopping", True, "the command holds out a validation split and keeps the best"),
    Flag("validation_fraction", "--val-fraction"),
    Flag("test_fraction", "--test-fraction"),
    Flag("max_fun", "--max-fun"),
    Flag("random_state", "--seed", 0, "a run repeats exactly; the seed also draws the test split and synthetic data"),
    Flag("dtype", "--dtype"),
    Flag("standardize", "--standardize", True, "features are scaled to mean 0 and standard deviation 1"),
    Flag("backend", "--backend"),
    Flag("device", "--device"),
    Flag("threads", "--threads"),
)

#: Setting name -> flag, for error messages.
FLAG_OF: dict[str, str] = {f.name: f.flag for f in TRAIN_FLAGS}

#: Flags that say how to run, not what to train: allowed with --resume.
RUN_ONLY = ("backend", "device", "threads")


def _parser_type(constraint: Constraint, flag: str) -> Any:
    """argparse ``type=``: the constraint's parse, with argparse's one-line error on bad text."""

    def parse(text: str) -> Any:
        try:
            return constraint.parse(text)
        except Invalid as exc:
            if str(exc):  # the text is not even the right kind: "not a number: '1e-3x'"
                what, _, hint = str(exc).partition("|")
                raise argparse.ArgumentTypeError(f"{what}: {text!r}{hint}") from None
            raise argparse.ArgumentTypeError(f"must be {constraint.describe()}, got {text!r}") from None

    parse.__name__ = flag.lstrip("-")
    return parse


def _help(f: Flag) -> str:
    s = f.setting
    if f.default is _UNSET:
        return f"{s.help} (default: {_shown(s.default)})"
    theirs = "" if s in COMMAND_SETTINGS else f"; the estimator's: {_shown(s.default)}"
    value = f.why if f.default is None else f"{_shown(f.default)}: {f.why}"
    return f"{s.help} (default: {value}{theirs})"


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """Every training flag of :data:`TRAIN_FLAGS`, with default ``SUPPRESS`` so given flags are known."""
    for f in TRAIN_FLAGS:
        valid = f.setting.valid
        if isinstance(valid, Boolean):
            p.add_argument(f.flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=_help(f))  # fmt: skip
        else:
            p.add_argument(f.flag, dest=f.name, type=_parser_type(valid, f.flag), default=argparse.SUPPRESS,
                           metavar=valid.metavar, help=_help(f))  # fmt: skip


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given on the command line (a flag at its default value counts as given)."""
    return {f.name: getattr(args, f.name) for f in TRAIN_FLAGS if hasattr(args, f.name)}


def settings_from(flags: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(estimator settings, command settings) from the given flags and the command's defaults.

    The --optimizer preset fills solver, momentum, Nesterov and the step size;
    an explicit --lr or --momentum wins. --loss picks the regressor's loss.
    """
    values = {f.name: flags.get(f.name, f.value) for f in TRAIN_FLAGS}
    command = {s.name: values.pop(s.name) for s in COMMAND_SETTINGS}
    preset = OPTIMIZERS[command["optimizer"]] if command["optimizer"] in OPTIMIZERS else {}
    for name, value in preset.items():
        if name not in flags:
            values[name] = value
    for name in ("learning_rate_init", "momentum"):
        if values.get(name) is None:
            values[name] = BY_NAME[name].default
    return values, command
