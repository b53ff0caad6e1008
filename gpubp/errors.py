"""The errors gpubp raises on purpose, each with the exit code the command maps it to."""

from __future__ import annotations


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


class DeviceMismatchError(GpubpError):
    """Arrays from different libraries or on different devices were combined."""


class BackendUnavailableError(GpubpError):
    """A backend that was asked for by name cannot run here; the message says why."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the command exits 3."""

    exit_code = 3

    def __init__(self, message: str, *, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
