"""The errors gpubp raises on purpose, each with the exit code the command maps it to.

The library names its own parameters (``hidden_layer_sizes``, ``target``); only
the command speaks of flags. A :class:`ParameterError` keeps the parameter's
name, its value and the problem apart: the library says ``hidden_layer_sizes=(0,): must be ...``
and the command prints the same problem under the flag the user typed
(``--hidden 0: must be ...``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def one_line(message: object) -> str:
    """A message (or an exception's text) on one line; an exception with no text gives its type's name."""
    text = " ".join(str(message).split())
    if not text and isinstance(message, BaseException):
        return type(message).__name__
    return text


class GpubpError(ValueError):
    """Bad input or usage: the message names what is wrong and where.

    The command prints it as one line ``gpubp: error: <message>`` and exits 2.
    It subclasses ``ValueError`` so library users can catch it the usual way.
    """

    exit_code = 2


class InputTypeError(GpubpError, TypeError):
    """Input of the wrong kind (Python objects where numbers are needed, a sparse matrix): also a ``TypeError``."""


#: Marks a ParameterError raised without the offending value.
NO_VALUE: Any = object()


class ParameterError(GpubpError, TypeError):
    """A setting has a bad value: names the parameter(s), the value(s) and the problem.

    Parameters
    ----------
    params : str or sequence of str
        The parameter names, as the library spells them (``learning_rate_init``).
    problem : str
        What is wrong, phrased to stand after ``name=value:``, e.g. ``must be a number > 0``.
    values : object or sequence
        The offending value (one parameter) or values (several), if known.

    Like scikit-learn's ``InvalidParameterError`` it is both a ``ValueError``
    and a ``TypeError``.
    """

    def __init__(self, params: str | Sequence[str], problem: str, values: Any = NO_VALUE) -> None:
        self.params: tuple[str, ...] = (params,) if isinstance(params, str) else tuple(params)
        self.problem = problem
        if values is NO_VALUE:
            self.values: tuple[Any, ...] | None = None
        else:
            self.values = (values,) if len(self.params) == 1 else tuple(values)
        super().__init__(self._text())

    def _text(self) -> str:
        if self.values is None:
            return f"{', '.join(self.params)}: {self.problem}"
        named = ", ".join(f"{p}={v!r}" for p, v in zip(self.params, self.values, strict=True))
        return f"{named}: {self.problem}"


class DeviceMismatchError(GpubpError):
    """Arrays from different libraries or on different devices were combined."""


class BackendUnavailableError(ParameterError):
    """A backend (or device) that was asked for by name cannot run here; the message says why."""


class TrainingDiverged(GpubpError):
    """The loss became NaN or infinite; the command exits 3.

    A ``ValueError`` (through :class:`GpubpError`), as scikit-learn raises for
    non-finite weights; ``epoch`` and ``step`` say where it happened.
    """

    exit_code = 3

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
