"""A checkpoint's training state, checked before it is trusted.

:meth:`gpubp.train.Trainer.load_state_dict` calls :func:`check_trainer_state`
before it changes anything. Every field of the JSON state and every tensor of
the optimizer, the best weights and a part-done epoch must be what
:meth:`~gpubp.train.Trainer.state_dict` writes -- the names, types and ranges,
the shapes, dtypes and finite values, the random generator's state, a step
count that fits the optimizer's buffers and the history -- so a damaged
checkpoint is refused with one line naming the field, and is never resumed
into a run that fails later (or quietly trains on garbage).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .backend import host
from .errors import GpubpError
from .optim import SGD, Adam, Optimizer

#: The fields of :meth:`Trainer.state_dict`'s JSON part.
FIELDS = (
    "history",
    "best_epoch",
    "best_loss",
    "best_score",
    "bad_epochs",
    "samples_seen",
    "learning_rate",
    "has_best",
    "optimizer_steps",
    "rng",
    "partial",
    "stopped",
)

#: How a checkpointed run may have ended ("" = not yet; an interrupted run is saved as "").
STOPPED = ("", "converged", "callback", "max_epochs")


def damaged(what: str, problem: str) -> GpubpError:
    """The one error of a damaged checkpoint: ``damaged checkpoint: <what> <problem>``."""
    return GpubpError(f"damaged checkpoint: {what} {problem}")


def check_trainer_state(trainer: Any, tensors: dict[str, Any], meta: Any) -> None:
    """Refuse a training state that :meth:`Trainer.state_dict` cannot have written.

    Parameters
    ----------
    trainer : Trainer
        What the state is for: its parameters (shapes and dtype), optimizer
        (which buffers it keeps), generator, stopping rule and schedule.
    tensors : dict of str -> numpy.ndarray
        The checkpoint's host tensors (the network's own are checked elsewhere).
    meta : dict
        The JSON part (``checkpoint`` in a model file's metadata).

    Raises
    ------
    GpubpError
        ``damaged checkpoint: ...``, naming the field or tensor.
    """
    params = trainer.net.parameters()
    shapes = [tuple(p.data.shape) for p in params]
    dtype = str(params[0].data.dtype).rsplit(".", 1)[-1]  # float32 or float64, whatever the library
    if not isinstance(meta, dict):
        raise damaged("'checkpoint'", "must be a JSON object")
    missing = [name for name in FIELDS if name not in meta]
    if missing:
        raise damaged(", ".join(repr(m) for m in missing), "missing")
    history = meta["history"]
    _check_history(history, trainer.early_stopping)
    best_epoch = _integer(meta, "best_epoch", high=len(history))
    _integer(meta, "bad_epochs", high=len(history))
    samples = _integer(meta, "samples_seen")
    steps = _integer(meta, "optimizer_steps")
    has_best = meta["has_best"]
    if not isinstance(has_best, bool) or has_best != (best_epoch > 0):
        raise damaged("'has_best'", f"{_shown(has_best)} does not fit best_epoch {best_epoch}")
    _check_best(meta, history, trainer.early_stopping)
    _check_learning_rate(meta["learning_rate"], trainer, samples)
    if meta["stopped"] not in STOPPED:
        allowed = ", ".join(repr(s) for s in STOPPED)
        raise damaged("'stopped'", f"must be one of {allowed}, not {_shown(meta['stopped'])}")
    _check_rng(meta["rng"], trainer.rng)
    partial = _check_partial(meta["partial"], tensors)
    if partial is not None and meta["stopped"]:
        raise damaged("'partial'", f"records a part-done epoch, but training had stopped ({meta['stopped']})")
    done = sum(r.get("steps", 0) for r in history) + (partial or 0)
    if steps > done and all("steps" in r for r in history):
        raise damaged("'optimizer_steps'", f"{steps} is more than the {done} steps the history records")
    n = len(shapes)
    _check_tensors(tensors, "optim.", _buffers(trainer.optimizer, n) if steps else {}, shapes, dtype)
    _check_tensors(tensors, "best.", {f"best.{i}": i for i in range(n)} if has_best else {}, shapes, dtype)


def _check_best(meta: dict[str, Any], history: list[dict[str, Any]], early_stopping: bool) -> None:
    """The best score (early stopping) or loss so far: the history's best, and its epoch; the other one null."""
    judged, other, key, pick = (
        ("best_score", "best_loss", "val_score", max)
        if early_stopping
        else ("best_loss", "best_score", "train_loss", min)
    )
    if meta[other] is not None:
        raise damaged(repr(other), f"must be null when training is judged by {judged}, not {_shown(meta[other])}")
    value = meta[judged]
    best = pick((r[key] for r in history), default=None)
    if value != best or (value is not None and not _finite(value)):
        raise damaged(repr(judged), f"is {_shown(value)}, but the history's best {key} is {_shown(best)}")
    epoch = meta["best_epoch"]
    if epoch and history[epoch - 1][key] != value:
        raise damaged("'best_epoch'", f"{epoch} is not an epoch with the best {key}")


def _check_learning_rate(lr: Any, trainer: Any, samples: int) -> None:
    """The step size the schedule gives: the initial one (constant), its inverse scaling, or a power of 1/5."""
    init = trainer.learning_rate_init
    if not _finite(lr) or lr <= 0:
        raise damaged("'learning_rate'", f"must be a finite number > 0, not {_shown(lr)}")
    if trainer.learning_rate == "invscaling" and samples:
        expected = [init / (samples + 1) ** trainer.power_t]
    elif trainer.learning_rate == "adaptive":
        expected = [init / 5.0**k for k in range(64)]
    else:
        expected = [init]
    if not any(math.isclose(lr, e, rel_tol=1e-9) for e in expected):
        raise damaged("'learning_rate'", f"{_shown(lr)} is not what the {trainer.learning_rate} schedule gives")


def _check_history(history: Any, early_stopping: bool) -> None:
    """One record per epoch, numbered from 1, every value a finite number, the keys training reads present."""
    if not isinstance(history, list):
        raise damaged("'history'", "must be a list of epoch records")
    need = ("train_loss", "val_loss", "val_score") if early_stopping else ("train_loss",)
    for i, record in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(record, dict):
            raise damaged(where, "must be a JSON object")
        if type(record.get("epoch")) is not int or record["epoch"] != i + 1:
            raise damaged(f"{where}['epoch']", f"must be {i + 1}, not {_shown(record.get('epoch'))}")
        for key in need:
            if key not in record:
                raise damaged(where, f"has no {key!r}")
        for key, value in record.items():
            if not _finite(value):
                raise damaged(f"{where}[{key!r}]", f"must be a finite number, not {_shown(value)}")
        if "steps" in record and (type(record["steps"]) is not int or record["steps"] < 0):
            raise damaged(f"{where}['steps']", f"must be an integer >= 0, not {_shown(record['steps'])}")


def _check_rng(state: Any, rng: Any) -> None:
    """The generator's state: exactly what ``bit_generator.state`` gives (a PCG64's 128-bit state, odd increment)."""
    kind = type(rng.bit_generator)
    ok = isinstance(state, dict) and state.get("bit_generator") == kind.__name__
    if ok and kind.__name__ == "PCG64":
        inner = state.get("state")
        ok = (
            set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and isinstance(inner, dict)
            and set(inner) == {"state", "inc"}
            and all(type(v) is int and 0 <= v < 2**128 for v in inner.values())
            and inner["inc"] % 2 == 1
            and state["has_uint32"] in (0, 1)
            and type(state["has_uint32"]) is int
            and type(state["uinteger"]) is int
            and 0 <= state["uinteger"] < 2**32
        )
    if ok:
        try:
            kind().state = state  # what loading will do, on a throwaway generator
        except (TypeError, ValueError, KeyError, OverflowError):
            ok = False
    if not ok:
        raise damaged("'rng'", f"is not the state of a {kind.__name__} random generator")


def _check_partial(partial: Any, tensors: dict[str, Any]) -> int | None:
    """A part-done epoch: its step count and loss so far, and the row order in ``partial.order``; its steps."""
    order = tensors.get("partial.order")
    if partial is None:
        if order is not None:
            raise damaged("tensor 'partial.order'", "is there, but no part-done epoch is recorded")
        return None
    if not isinstance(partial, dict) or set(partial) != {"steps", "loss_sum", "first_bad"}:
        raise damaged("'partial'", "must be null or an object with steps, loss_sum and first_bad")
    steps, first_bad, loss_sum = partial["steps"], partial["first_bad"], partial["loss_sum"]
    if type(steps) is not int or steps < 1:
        raise damaged("'partial' steps", f"must be an integer >= 1, not {_shown(steps)}")
    if not _finite(first_bad) or not (first_bad == -1 or (first_bad == int(first_bad) and 1 <= first_bad <= steps)):
        raise damaged("'partial' first_bad", f"must be -1 or a step from 1 to {steps}, not {_shown(first_bad)}")
    if not (_finite(loss_sum) or (loss_sum is None and first_bad >= 1)):
        raise damaged("'partial' loss_sum", f"must be a finite number, not {_shown(loss_sum)}")
    if order is None:
        raise damaged("tensor 'partial.order'", "is missing (the part-done epoch's order of rows)")
    check_rows("partial.order", order)
    return steps


def check_rows(name: str, rows: Any) -> None:
    """Row indices: a 1-D int64 tensor of distinct non-negative values."""
    if rows.ndim != 1 or rows.dtype != host.int64:
        raise damaged(f"tensor {name!r}", f"must be 1-D int64 row indices, not {rows.dtype} of shape {rows.shape}")
    if len(rows) and (int(rows.min()) < 0 or len(host.unique(rows)) != len(rows)):
        raise damaged(f"tensor {name!r}", "must hold distinct non-negative row indices")


def _buffers(optimizer: Optimizer, n: int) -> dict[str, int]:
    """The optimizer's state tensors once it has taken a step: name -> parameter index."""
    if isinstance(optimizer, Adam):
        kinds: tuple[str, ...] = ("m", "v")
    elif isinstance(optimizer, SGD) and optimizer.momentum > 0:
        kinds = ("velocity",)
    else:
        kinds = ()
    return {f"optim.{kind}.{i}": i for kind in kinds for i in range(n)}


def _check_tensors(
    tensors: dict[str, Any], prefix: str, expected: dict[str, int], shapes: Sequence[tuple[int, ...]], dtype: str
) -> None:
    """The tensors named ``prefix*``: exactly ``expected``, each shaped like its parameter, in the dtype, finite."""
    found = {name for name in tensors if name.startswith(prefix)}
    if found != set(expected):
        missing, extra = sorted(set(expected) - found), sorted(found - set(expected))
        what = "optimizer state" if prefix == "optim." else "best weights"
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []
        )
        raise damaged(f"{what}:", "; ".join(parts))
    for name, i in expected.items():
        value = tensors[name]
        if tuple(value.shape) != tuple(shapes[i]):
            raise damaged(f"tensor {name!r}", f"has shape {tuple(value.shape)}, its parameter {tuple(shapes[i])}")
        if value.dtype.name != dtype:
            raise damaged(f"tensor {name!r}", f"has dtype {value.dtype}, the model is {dtype}")
        if not host.all(host.isfinite(value)):
            raise damaged(f"tensor {name!r}", "holds NaN or infinite values")
        if name.startswith("optim.v.") and bool(host.any(value < 0)):
            raise damaged(f"tensor {name!r}", "holds negative values (Adam's second moments are squares)")


def _integer(meta: dict[str, Any], name: str, high: int | None = None) -> int:
    value = meta[name]
    if type(value) is not int or value < 0 or (high is not None and value > high):
        bound = f" and <= {high}" if high is not None else ""
        raise damaged(repr(name), f"must be an integer >= 0{bound}, not {_shown(value)}")
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
