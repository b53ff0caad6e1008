"""Timing: calibrated blocks of steps, rounds that interleave everything, and the spread of the samples.

A *method* is something to time (:class:`Timed`): ``step()`` queues one unit of
work and ``sync()`` waits until the device has done it. A *block* is ``inner``
timed steps (after one untimed step where the library changes); its seconds per
step are one sample. A *round* times one block of every method, in an order
that changes from round to round, so each method's samples are spread over the
whole run and a busy phase of a shared machine hits every method alike. The samples' spread
(:class:`Spread`) then says how steady the machine was while they were taken.

Every function takes the clock as a parameter (default :func:`time.perf_counter`)
so the tests can drive it with a fake one.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import one_line

#: A clock in seconds, as :func:`time.perf_counter`.
Clock = Callable[[], float]


class Shuffler(Protocol):
    """Draws orders: a host random generator (:func:`gpubp.backend.host_rng`) is one."""

    def permutation(self, n: int) -> Sequence[int]:
        """The numbers ``0 .. n-1`` in a random order."""


def _nothing() -> None:
    """No device work to wait for (the CPU runs each call to the end)."""


@dataclass
class Timed:
    """Something to time: ``step()`` queues one unit of work, ``sync()`` waits for it.

    ``scope()`` is entered around every block (e.g. to make a GPU current);
    ``group`` names the library and device it runs on (None: a group of its
    own); ``inner`` is the number of timed steps per block, set by :func:`calibrate`.
    """

    step: Callable[[], Any]
    sync: Callable[[], None] = _nothing
    scope: Callable[[], AbstractContextManager[Any]] = nullcontext
    group: str | None = None
    inner: int = 1


def time_block(timed: Timed, clock: Clock = time.perf_counter, *, prestep: bool = True) -> float:
    """Seconds per step over one block of ``timed.inner`` steps, device work included.

    One untimed step first (``prestep``): the first step after another library
    ran pays for handing the cores from that library's thread pool to this
    one's (up to tens of milliseconds on a busy two-core machine), which is not
    this method's cost.
    """
    with timed.scope():
        if prestep:
            timed.step()
            timed.sync()
        t0 = clock()
        for _ in range(timed.inner):
            timed.step()
        timed.sync()
        return (clock() - t0) / timed.inner


def calibrate(
    timed: Timed, *, warmup: int, min_block_s: float, max_inner: int = 1000, clock: Clock = time.perf_counter
) -> None:
    """Run ``warmup`` steps (compilation, caches, allocator), then set ``inner`` so a block lasts ``min_block_s``.

    The last warm-up step is timed: a step that long needs no more (one step a
    block); a shorter one is looked at again in two blocks, as the warm-up may
    still have paid first-use costs or met a hiccup.
    """
    timed.inner = 1
    with timed.scope():
        for _ in range(warmup):
            t0 = clock()
            timed.step()
            timed.sync()
            one = clock() - t0
    if one < 2 * min_block_s:
        one = min(one, time_block(timed, clock, prestep=False), time_block(timed, clock, prestep=False))
    timed.inner = max(1, min(max_inner, math.ceil(min_block_s / max(one, 1e-9))))


def rounds(
    methods: dict[str, Timed],
    *,
    repeats: int,
    shuffle: Shuffler | None = None,
    deadline: float | None = None,
    min_repeats: int = 2,
    failures: dict[str, str] | None = None,
    on_round: Callable[[int, float], None] | None = None,
    clock: Clock = time.perf_counter,
) -> dict[str, list[float]]:
    """Up to ``repeats`` rounds of one block per method; each method's per-step seconds, one per round.

    A block starts with an untimed step unless the block before it was of the
    same :attr:`Timed.group` (same library and device: no thread pools to hand over).

    Parameters
    ----------
    methods : dict of str to Timed
        Calibrated methods, timed in this order in round 0.
    repeats : int
        Rounds to run.
    shuffle : Shuffler or None
        None rotates the order by one method per round. Given, each round takes
        the groups in turn (rotated by one group per round) and a group's
        methods in an order drawn afresh from it.
    deadline : float or None
        A time on ``clock``: once ``min_repeats`` rounds are done, no round is
        begun that would end after it (judged by the mean round so far).
    failures : dict or None
        Where given, a method whose step raises is dropped (samples and all)
        and its one-line reason stored here; else the exception propagates.
    on_round : callable or None
        Called after each round with the number of rounds done and their seconds.
    """
    names = list(methods)
    samples: dict[str, list[float]] = {name: [] for name in names}
    start = clock()
    last_group: str | None = None
    for r in range(repeats):
        if deadline is not None and r >= min_repeats:
            now = clock()
            if now + (now - start) / r > deadline:  # the next round, as long as the mean one, would end late
                break
        for name in _order(methods, [n for n in names if n in samples], r, shuffle):
            timed = methods[name]
            try:
                prestep = timed.group is None or timed.group != last_group
                last_group = timed.group
                samples[name].append(time_block(timed, clock, prestep=prestep))
            except Exception as exc:
                if failures is None:
                    raise
                failures[name] = one_line(exc)
                del samples[name]
                last_group = None
        if on_round is not None:
            on_round(r + 1, clock() - start)
    return samples


def _order(methods: dict[str, Timed], names: list[str], r: int, shuffle: Shuffler | None) -> list[str]:
    """Round ``r``'s order: ``names`` rotated by ``r``, or groups rotated and each shuffled."""
    if shuffle is None:
        shift = r % max(1, len(names))
        return names[shift:] + names[:shift]
    groups: dict[object, list[str]] = {}
    for name in names:
        groups.setdefault(methods[name].group or name, []).append(name)
    keys = list(groups)
    shift = r % max(1, len(keys))
    order: list[str] = []
    for key in keys[shift:] + keys[:shift]:
        group = groups[key]
        order += [group[i] for i in shuffle.permutation(len(group))]
    return order


def interleaved(
    methods: dict[str, Timed], *, repeats: int, warmup: int = 2, min_block_s: float = 0.005, max_inner: int = 1000
) -> dict[str, list[float]]:
    """Per-step seconds of each method, one sample per repeat, methods interleaved (for benchmarks/).

    Each method is first calibrated (:func:`calibrate`); each repeat then times
    one block of every method in an order rotated per repeat.
    """
    for timed in methods.values():
        calibrate(timed, warmup=warmup, min_block_s=min_block_s, max_inner=max_inner)
    return rounds(methods, repeats=repeats)


@dataclass(frozen=True)
class Spread:
    """The five-number summary of one method's samples (seconds per step, or any positive figure).

    Quartiles by :func:`statistics.quantiles` (``method="inclusive"``), so with
    three samples ``q1`` and ``q3`` lie halfway between the median and the extremes.
    """

    min: float
    q1: float
    median: float
    q3: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        """The summary of ``samples`` (at least one)."""
        s = sorted(samples)
        if not s:
            raise ValueError("samples: need at least one")
        q1, _, q3 = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else (s[0], s[0], s[0])
        return cls(s[0], q1, statistics.median(s), q3, s[-1], len(s))

    @property
    def iqr(self) -> float:
        """The interquartile range relative to the median: 0.1 means the middle half lies within 10 %."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else math.inf

    @property
    def slowdown(self) -> float:
        """How much longer the median took than the fastest (for times): 0.3 means 30 % longer.

        Large when most samples were slowed, so the median itself is suspect;
        a few slow samples leave it small.
        """
        return self.median / self.min - 1 if self.min > 0 else math.inf
