"""Every setting of gpubp's estimators, declared once: name, default, valid values and help.

:data:`SETTINGS` is the one place. Derived from it:

* the estimators' signatures (:func:`signature`) -- the names, defaults and
  order of scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, plus gpubp's own;
* the "Parameters" section of their docstrings (:func:`parameters_doc`);
* the checks ``fit`` runs (:func:`validate`), which raise a
  :class:`~gpubp.errors.ParameterError` naming the parameter;
* the command's flags, ``--help`` text and defaults, the model file's recorded
  settings and the ``--resume`` comparison (in :mod:`gpubp.cli`).

A :class:`Constraint` knows how to check a Python value, describe what it
accepts, and parse the text a command-line flag gives.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backend import BACKENDS, host
from .errors import ParameterError


class Invalid(Exception):
    """Raised by a constraint's ``check`` or ``parse``; the caller names the parameter.

    From ``parse``, a message says what the text is not (``not a number``),
    optionally with a hint; from ``check`` there is none and the caller says
    what is accepted.
    """


class Constraint:
    """What values a setting accepts."""

    #: What the flag's value looks like in ``--help``.
    metavar = "X"

    def check(self, value: Any) -> Any:  # pragma: no cover - every constraint overrides
        """The value, normalised (e.g. a NumPy integer becomes an int); :class:`Invalid` if not accepted."""
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """The value a command-line flag's text stands for (then checked)."""
        return self.check(text)

    def describe(self) -> str:  # pragma: no cover - every constraint overrides
        """What is accepted, e.g. ``an integer >= 1``."""
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bound(low: float | None, high: float | None, closed: str) -> str:
    if high is None:
        return f">= {low:g}" if closed in ("left", "both") else f"> {low:g}"
    if low is None:
        return f"<= {high:g}" if closed in ("right", "both") else f"< {high:g}"
    left = "[" if closed in ("left", "both") else "("
    right = "]" if closed in ("right", "both") else ")"
    return f"in {left}{low:g}, {high:g}{right}"


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer (a bool is not one) with optional bounds, both included."""

    low: int | None = None
    high: int | None = None
    metavar = "N"

    def check(self, value: Any) -> int:
        if not _is_int(value):
            raise Invalid
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise Invalid
        return int(value)

    def parse(self, text: str) -> int:
        return self.check(_parse_int(text))

    def describe(self) -> str:
        return "an integer" + (
            f" {_bound(self.low, self.high, 'both')}" if (self.low, self.high) != (None, None) else ""
        )


def _parse_int(text: str) -> int:
    """The text as an int; :class:`Invalid` saying it is not one (and how to write 1e9) otherwise."""
    try:
        return int(text)
    except ValueError:
        raise Invalid("not an integer" + _integer_hint(text)) from None


def _integer_hint(text: str) -> str:
    """For '1e9': say how to write it as an integer (placed after the quoted text)."""
    try:
        if float(text).is_integer():
            return f"|, write it out: {int(float(text))}"
    except (ValueError, OverflowError):
        pass
    return ""


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number (a bool is not one) between bounds; ``closed`` says which bounds are included."""

    low: float | None = None
    high: float | None = None
    closed: str = "left"
    metavar = "X"

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise Invalid
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("left", "both"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("right", "both"))
        if not (low_ok and high_ok):
            raise Invalid
        return float(value)

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise Invalid("not a number") from None
        return self.check(value)

    def describe(self) -> str:
        return f"a finite number {_bound(self.low, self.high, self.closed)}"


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a few strings (or other constants)."""

    options: tuple[Any, ...]

    @property
    def metavar(self) -> str:  # type: ignore[override]
        return "{" + ",".join(str(o) for o in self.options) + "}"

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.options:
            return value
        raise Invalid

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Boolean(Constraint):
    """True or False (NumPy's bool too)."""

    def check(self, value: Any) -> bool:
        if isinstance(value, (bool, host.bool_)):
            return bool(value)
        raise Invalid

    def parse(self, text: str) -> bool:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.strip().lower() in words:
            return words[text.strip().lower()]
        raise Invalid

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Either(Constraint):
    """Any of several constraints, tried in order."""

    options: tuple[Constraint, ...]

    @property
    def metavar(self) -> str:  # type: ignore[override]
        return "|".join(c.metavar for c in self.options)

    def check(self, value: Any) -> Any:
        for option in self.options:
            try:
                return option.check(value)
            except Invalid:
                continue
        raise Invalid

    def parse(self, text: str) -> Any:
        for option in self.options:
            try:
                return option.parse(text)
            except Invalid:
                continue
        raise Invalid

    def describe(self) -> str:
        return " or ".join(option.describe() for option in self.options)


@dataclass(frozen=True)
class Constant(Constraint):
    """Exactly one value, e.g. ``inf`` for ``n_iter_no_change``."""

    value: Any
    text: str

    @property
    def metavar(self) -> str:  # type: ignore[override]
        return self.text

    def check(self, value: Any) -> Any:
        if value is self.value or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value == self.value
        ):
            return self.value
        raise Invalid

    def parse(self, text: str) -> Any:
        if text.strip().lower() == self.text:
            return self.value
        raise Invalid

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class LayerSizes(Constraint):
    """Widths of the hidden layers: a positive integer, or a sequence of them (it may be empty)."""

    metavar = "SIZES"

    def check(self, value: Any) -> tuple[int, ...]:
        if _is_int(value):
            value = (value,)
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, host.ndarray)):
            raise Invalid
        sizes = list(value.tolist() if isinstance(value, host.ndarray) else value)
        if any(not _is_int(s) or s < 1 for s in sizes):
            raise Invalid
        return tuple(int(s) for s in sizes)

    def parse(self, text: str) -> tuple[int, ...]:
        try:
            sizes = tuple(int(part) for part in text.split(","))
        except ValueError:
            raise Invalid("not comma-separated integers like 128,64") from None
        return self.check(sizes)

    def describe(self) -> str:
        return "positive integers, e.g. (128, 64) (on the command line: 128,64)"


@dataclass(frozen=True)
class Seed(Constraint):
    """scikit-learn's ``random_state``: None, an integer in [0, 2**32), a RandomState or a Generator."""

    metavar = "SEED"

    def check(self, value: Any) -> Any:
        if value is None or isinstance(value, (host.random.RandomState, host.random.Generator)):
            return value
        if _is_int(value) and 0 <= value < 2**32:
            return int(value)
        raise Invalid

    def parse(self, text: str) -> Any:
        if text.strip().lower() == "none":
            return None
        return self.check(_parse_int(text))

    def describe(self) -> str:
        return "None, an integer in [0, 2**32), a numpy RandomState or Generator"


@dataclass(frozen=True)
class Device(Constraint):
    """None (the backend's default), a GPU index, or a device name such as 'cpu', 'cuda:1', 'device1'."""

    metavar = "D"

    def check(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip()) or (_is_int(value) and value >= 0):
            return value
        if type(value).__module__.split(".")[0] in ("torch", "cupy", "array_api_strict"):  # a device object
            return value
        raise Invalid

    def describe(self) -> str:
        return "None, a GPU index, or a device name (cpu, cuda:N, device1)"


@dataclass(frozen=True)
class Threads(Constraint):
    """'auto', a thread count >= 1, or None (leave the thread pools alone; 'none' on the command line)."""

    metavar = "auto|N|none"

    def check(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value == "auto"):
            return value
        if _is_int(value) and value >= 1:
            return int(value)
        raise Invalid

    def parse(self, text: str) -> Any:
        word = text.strip().lower()
        if word in ("auto", "none"):
            return None if word == "none" else "auto"
        try:
            value = int(word)
        except ValueError:
            raise Invalid("not 'auto', 'none' or an integer") from None
        return self.check(value)

    def describe(self) -> str:
        return "'auto', an integer >= 1, or None"


@dataclass(frozen=True)
class Setting:
    """One setting: its name, default, accepted values and help text.

    ``only`` limits it to the ``classifier`` or the ``regressor``.
    """

    name: str
    default: Any
    valid: Constraint
    help: str
    only: str | None = None


_POSITIVE = Real(0.0, None, "neither")
_NON_NEGATIVE = Real(0.0, None, "left")

#: Every estimator setting: scikit-learn's MLP parameters in its order, then gpubp's own.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "loss",
        "squared_error",
        Choice(("squared_error", "poisson")),
        "Loss to minimise: half the squared error, or half the Poisson deviance (outputs are then exp of the "
        "network, targets must be >= 0).",
        only="regressor",
    ),
    Setting("hidden_layer_sizes", (100,), LayerSizes(), "Widths of the hidden layers, from input to output."),
    Setting(
        "activation",
        "relu",
        Choice(("identity", "logistic", "tanh", "relu", "leaky_relu", "sigmoid")),
        "Activation of the hidden layers ('sigmoid' is 'logistic'; 'leaky_relu' is gpubp's own).",
    ),
    Setting(
        "solver",
        "adam",
        Choice(("lbfgs", "sgd", "adam")),
        "Optimiser: Adam, stochastic gradient descent (with momentum), or L-BFGS on the whole set.",
    ),
    Setting("alpha", 1e-4, _NON_NEGATIVE, "L2 penalty on the weights (not the biases), divided by the batch size."),
    Setting(
        "batch_size",
        "auto",
        Either((Choice(("auto",)), Integer(1))),
        "Rows per minibatch; 'auto' is min(200, n_samples). Not used by lbfgs.",
    ),
    Setting(
        "learning_rate",
        "constant",
        Choice(("constant", "invscaling", "adaptive")),
        "Step-size schedule for solver 'sgd': constant, learning_rate_init / t**power_t, or divided by 5 "
        "whenever n_iter_no_change epochs bring no improvement.",
    ),
    Setting("learning_rate_init", 1e-3, _POSITIVE, "Initial step size (solvers sgd and adam)."),
    Setting("power_t", 0.5, _NON_NEGATIVE, "Exponent of the 'invscaling' schedule."),
    Setting("max_iter", 200, Integer(1), "Maximum number of epochs (lbfgs: iterations)."),
    Setting("shuffle", True, Boolean(), "Shuffle the rows every epoch (solvers sgd and adam)."),
    Setting(
        "random_state",
        None,
        Seed(),
        "Seeds the weights, the validation split and the shuffling; an int makes fit repeat exactly.",
    ),
    Setting(
        "tol",
        1e-4,
        _NON_NEGATIVE,
        "An epoch improves when the training loss falls (or the validation score rises) by more than tol.",
    ),
    Setting("verbose", False, Either((Boolean(), Integer(0))), "Print the loss after every epoch."),
    Setting("warm_start", False, Boolean(), "Continue from the previous fit's weights instead of starting anew."),
    Setting("momentum", 0.9, Real(0.0, 1.0, "both"), "Momentum of solver 'sgd'."),
    Setting("nesterovs_momentum", True, Boolean(), "Nesterov's momentum for solver 'sgd' (when momentum > 0)."),
    Setting(
        "early_stopping",
        False,
        Boolean(),
        "Hold out validation_fraction of the data and stop when the validation score stops improving; the best "
        "weights are kept.",
    ),
    Setting("validation_fraction", 0.1, Real(0.0, 1.0, "neither"), "Share held out for early stopping."),
    Setting("beta_1", 0.9, Real(0.0, 1.0, "left"), "Adam's decay of the first moment."),
    Setting("beta_2", 0.999, Real(0.0, 1.0, "left"), "Adam's decay of the second moment."),
    Setting("epsilon", 1e-8, _POSITIVE, "Adam's term for numerical stability."),
    Setting(
        "n_iter_no_change",
        10,
        Either((Integer(1), Constant(math.inf, "inf"))),
        "Stop after this many epochs in a row without improvement (more than tol); inf never stops early.",
    ),
    Setting("max_fun", 15000, Integer(1), "Maximum number of loss evaluations (solver lbfgs)."),
    Setting(
        "backend",
        "auto",
        Choice(BACKENDS),
        "Array library to train on: 'auto' is CuPy where a GPU is usable, else NumPy (and says why). An "
        "array of another library given to fit (a torch tensor, a CuPy array) is trained on where it is.",
    ),
    Setting("device", None, Device(), "Device of the backend: a GPU index or 'cuda:N', 'cpu', 'device1'."),
    Setting("dtype", "float32", Choice(("float32", "float64")), "Floating dtype of the weights and the arithmetic."),
    Setting(
        "threads",
        "auto",
        Threads(),
        "CPU threads of the matrix products (BLAS, OpenMP, torch) while fitting and predicting, restored "
        "afterwards: 'auto' is one fewer than the CPUs this process may use (at least 1, at most 8, at most an "
        "OMP_NUM_THREADS set); None leaves the thread pools as they are.",
    ),
    Setting(
        "standardize",
        False,
        Boolean(),
        "Shift and scale each feature to mean 0, standard deviation 1 (learned in fit) before the network.",
    ),
)

#: Name -> setting.
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

#: The positional parameters of each estimator, in scikit-learn's order; the rest are keyword-only.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "classifier": ("hidden_layer_sizes", "activation"),
    "regressor": ("loss", "hidden_layer_sizes", "activation"),
}


def settings_for(kind: str) -> list[Setting]:
    """The settings of the ``classifier`` or the ``regressor``, positional ones first, in declaration order."""
    own = [s for s in SETTINGS if s.only in (None, kind)]
    first = [BY_NAME[name] for name in POSITIONAL[kind]]
    return first + [s for s in own if s.name not in POSITIONAL[kind]]


def signature(kind: str) -> inspect.Signature:
    """The ``__init__`` signature of the ``classifier`` or ``regressor``: (self, <positional>, *, <the rest>)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for s in settings_for(kind):
        kind_ = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD if s.name in POSITIONAL[kind] else inspect.Parameter.KEYWORD_ONLY
        )
        params.append(inspect.Parameter(s.name, kind_, default=s.default))
    return inspect.Signature(params)


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check every setting in ``params``; returns them normalised (the estimator's stored values are untouched).

    Raises
    ------
    ParameterError
        Naming the first parameter whose value is not accepted, what it accepts, and the value.
    """
    checked = {}
    for name, value in params.items():
        checked[name] = check(name, value)
    return checked


def check(name: str, value: Any) -> Any:
    """One setting's value, normalised; a ParameterError naming it if not accepted."""
    valid = BY_NAME[name].valid
    try:
        return valid.check(value)
    except Invalid:
        raise ParameterError(name, f"must be {valid.describe()}", value) from None


def parameters_doc(kind: str) -> str:
    """The numpy-style "Parameters" section for the ``classifier`` or ``regressor`` docstring."""
    lines = ["Parameters", "----------"]
    for s in settings_for(kind):
        lines.append(f"{s.name} : {s.valid.describe()}, default={s.default!r}")
        lines.append(f"    {s.help}")
    return "\n".join(lines)
