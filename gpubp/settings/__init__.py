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
from dataclasses import dataclass
from typing import Any

from ..backend import BACKENDS
from ..errors import ParameterError
from .constraints import (
    Boolean,
    Choice,
    Constant,
    Constraint,
    Device,
    Either,
    Integer,
    Invalid,
    LayerSizes,
    Real,
    Seed,
    Threads,
)

__all__ = [
    "BY_NAME",
    "POSITIONAL",
    "SETTINGS",
    "Boolean",
    "Choice",
    "Constant",
    "Constraint",
    "Device",
    "Either",
    "Integer",
    "Invalid",
    "LayerSizes",
    "Real",
    "Seed",
    "Setting",
    "Threads",
    "check",
    "parameters_doc",
    "settings_for",
    "signature",
    "validate",
]


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
