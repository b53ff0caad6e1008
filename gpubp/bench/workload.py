"""What the bench times: one training step of a square MLP, and the matmul that gives a device's peak.

A point of the sweep is an MLP of ``depth`` square Linear layers
(``width x width``, ReLU between, linear output) trained with MSE (or softmax
cross-entropy over ``width`` classes) and plain SGD on one device-resident
batch. One *step* is :func:`gpubp.step.train_step`: forward, loss, backward,
update.

The FLOP count is the usual one: the three matrix products of each layer
(forward ``X W``, backward ``X^T dY`` and ``dY W^T``) cost
``2 * batch * fan_in * fan_out`` each, so a step costs
``6 * batch * sum(fan_in * fan_out)`` (:func:`step_flops`). Training does not
compute the first layer's ``dX`` (nothing upstream learns), so the measured
step does ``2 * batch * fan_in_0 * fan_out_0`` fewer; the reported GFLOP/s
count only the work done (``input_grad=False``).

Every array is made on the target's device: data drawn on the host and copied
with :meth:`gpubp.backend.Backend.asarray` (which passes the device), and the
network built inside :meth:`gpubp.backend.Backend.activate`, so whatever a library
creates without honouring ``device=`` lands on the target's GPU too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backend import Backend, device_name, host_rng, synchronize
from ..losses import CrossEntropyLoss, MSELoss
from ..network import Sequential, mlp
from ..optim import SGD
from ..step import train_step
from .timing import Timed

#: Plain SGD's learning rate in every step.
LEARNING_RATE = 1e-3

#: Size n of the square matmul that measures a device's peak (CPU, GPU).
PEAK_N = {"cpu": 2048, "gpu": 8192}


def step_flops(sizes: Sequence[int], batch: int, *, input_grad: bool = True) -> int:
    """Floating-point operations of one training step of an MLP with layer widths ``sizes``.

    ``6 * batch * sum(fan_in * fan_out)``: three matrix products per layer
    (``X W``, ``X^T dY``, ``dY W^T``) of ``2 * batch * fan_in * fan_out`` each.
    Elementwise work (bias, activation, loss, update) is left out.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(784, 256, 256, 10)``.
    batch : int
    input_grad : bool
        False leaves out the first layer's ``dX = dY W^T``, which training skips.
    """
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    flops = 6 * batch * sum(n_in * n_out for n_in, n_out in layers)
    if not input_grad:
        flops -= 2 * batch * layers[0][0] * layers[0][1]
    return flops


def point_sizes(width: int, depth: int) -> list[int]:
    """Layer widths of a sweep point: ``depth`` square ``width x width`` Linear layers."""
    return [width] * (depth + 1)


def matmul_flops(n: int) -> int:
    """Floating-point operations of an ``n x n`` by ``n x n`` matrix product."""
    return 2 * n**3


def matmul(backend: Backend, dtype: str, n: int, seed: int = 0) -> Timed:
    """One ``n x n`` matmul with the backend's ``xp`` on its device, as a :class:`Timed`."""
    gen = host_rng(seed)
    dt = backend.dtype(dtype)
    with backend.activate():
        a = backend.asarray(gen.standard_normal((n, n)), dtype=dt)
        b = backend.asarray(gen.standard_normal((n, n)), dtype=dt)
    xp = backend.xp
    return Timed(lambda: xp.matmul(a, b), lambda: synchronize(backend), backend.activate, group=_group(backend))


def _group(backend: Backend) -> str:
    """Steps of one library on one device share thread pools: no untimed step between them."""
    return f"{backend.name} {device_name(backend.device)}"


def training_step(backend: Backend, sizes: Sequence[int], batch: int, *, dtype: str, loss: str, seed: int = 0) -> Timed:
    """One :func:`train_step` of ``mlp(sizes)`` with plain SGD on a fixed device batch, as a :class:`Timed`.

    Parameters
    ----------
    backend : Backend
    sizes : sequence of int
        Layer widths from input to output.
    batch : int
    dtype : {'float32', 'float64'}
    loss : {'mse', 'ce'}
        MSE against random targets, or softmax cross-entropy over ``sizes[-1]`` classes.
    seed : int
        Seeds the weights (``seed``) and the batch (``seed + 1``), drawn on the host.
    """
    with backend.activate():
        net = _network(backend, sizes, dtype=dtype, loss=loss, seed=seed)
        data = _batch(backend, sizes[0], sizes[-1], batch, dtype=dtype, loss=loss, seed=seed)
    return _timed(backend, net, data)


def _network(
    backend: Backend, sizes: Sequence[int], *, dtype: str, loss: str, seed: int
) -> tuple[Sequential, Any, SGD]:
    """The network (first layer without ``dX``, as training runs it), its loss and plain SGD."""
    net = mlp(sizes, rng=seed, backend=backend, dtype=dtype)
    net.layers[0].needs_input_grad = False  # as training does: nothing upstream of the first layer learns
    loss_fn: Any = CrossEntropyLoss() if loss == "ce" else MSELoss()
    return net, loss_fn, SGD(net.parameters(), lr=LEARNING_RATE)


def _batch(backend: Backend, n_in: int, n_out: int, batch: int, *, dtype: str, loss: str, seed: int) -> tuple[Any, Any]:
    """Inputs ``(batch, n_in)`` and targets (``(batch, n_out)``, or ``(batch,)`` class indices for ce)."""
    gen = host_rng(seed + 1)
    dt = backend.dtype(dtype)
    X = backend.asarray(gen.standard_normal((batch, n_in)), dtype=dt)
    if loss == "ce":
        return X, backend.asarray(gen.integers(0, n_out, size=batch), dtype=backend.xp.int64)
    return X, backend.asarray(gen.standard_normal((batch, n_out)), dtype=dt)


def _timed(backend: Backend, network: tuple[Sequential, Any, SGD], data: tuple[Any, Any]) -> Timed:
    """A :class:`Timed` of one training step of ``network`` on ``data``, with the backend's GPU current."""
    net, loss_fn, optimizer = network
    X, y = data
    return Timed(
        lambda: train_step(net, loss_fn, optimizer, X, y),
        lambda: synchronize(backend),
        backend.activate,
        group=_group(backend),
    )


class Steps:
    """Training steps for one backend: one network per (depth, width), one batch per (width, batch).

    Sharing keeps memory to what the largest points need (a full sweep would
    otherwise hold a network per batch size); the timings do not depend on the
    weights' values.

    Parameters
    ----------
    backend : Backend
    dtype : {'float32', 'float64'}
    loss : {'mse', 'ce'}
    seed : int
        Seeds the weights (``seed``) and the batches (``seed + 1``), drawn on the host.
    """

    def __init__(self, backend: Backend, *, dtype: str, loss: str, seed: int = 0) -> None:
        self.backend, self.dtype, self.loss, self.seed = backend, dtype, loss, seed
        self._nets: dict[tuple[int, int], tuple[Sequential, Any, SGD]] = {}
        self._batches: dict[tuple[int, int], tuple[Any, Any]] = {}

    def step(self, depth: int, width: int, batch: int) -> Timed:
        """One :func:`train_step` of ``mlp(point_sizes(width, depth))`` with plain SGD on a fixed device batch."""
        opts = {"dtype": self.dtype, "loss": self.loss, "seed": self.seed}
        with self.backend.activate():
            if (depth, width) not in self._nets:
                self._nets[depth, width] = _network(self.backend, point_sizes(width, depth), **opts)
            if (width, batch) not in self._batches:
                self._batches[width, batch] = _batch(self.backend, width, width, batch, **opts)
        return _timed(self.backend, self._nets[depth, width], self._batches[width, batch])
