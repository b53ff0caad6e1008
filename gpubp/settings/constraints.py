"""What a setting accepts: a :class:`Constraint` checks a Python value, describes it, and parses a flag's text.

One small class per kind of value (integers and reals with bounds, choices,
booleans, layer sizes, scikit-learn's ``random_state``, devices, thread
counts), so a setting's declaration in :mod:`gpubp.settings` reads as what it
accepts. A constraint raises :class:`Invalid`; the caller names the parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..backend import host


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
