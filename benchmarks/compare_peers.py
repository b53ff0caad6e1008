"""One training step of gpubp against its peers and against baselines of our own, on the CPU.

For each shape (ReLU hidden layers, linear output, MSE, float32, plain SGD
with lr 1e-3) every method starts from the same weights (gpubp's He/Xavier
draw) and steps on the same batch:

- ``floor``: only the matrix products any hand-written backward must do --
  ``H W`` per layer forward, ``H^T dY`` per layer and ``dY W^T`` for every
  layer but the first (whose input needs no gradient) -- in NumPy, with
  nothing else: no bias, activation, loss or update.
- ``numpy loop``: a minimal hand-written NumPy training step (forward, MSE,
  backward, SGD in place), written plainly for these shapes.
- ``numpy in-place``: the same step with no temporary array at all (``out=``
  and in-place operators everywhere, the gradients scaled in place): about the
  least elementwise work any NumPy step can do. Not a target; it shows how
  close to the floor a NumPy implementation can get on the machine at hand.
- ``gpubp``: :func:`gpubp.train_step` on ``gpubp.mlp(sizes)`` with
  ``MSELoss`` and ``SGD``; the first layer's ``needs_input_grad`` is off, as
  ``gpubp.Model`` sets it.
- ``torch eager``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, autograd,
  ``F.mse_loss`` and ``torch.optim.SGD``; ``torch.set_num_threads`` equal to
  NumPy's BLAS threads.
- ``sklearn``: ``MLPRegressor(solver="sgd", momentum=0, alpha=0,
  batch_size=batch, shuffle=False).partial_fit`` on the one batch; it runs its
  own forward, loss (squared error / 2), backward and update per call, plus
  its input validation.

Methods are interleaved (order rotated every repeat), each timed in blocks of
at least ``--min-block`` seconds after a warm-up; the table gives medians and
the ratios the benchmark issue sets targets for: the ratio of the medians and,
less disturbed by a neighbour's load that comes and goes, the median over
repeats of the ratio of the two blocks timed side by side in that repeat.
Before timing, one step of ``numpy loop``, ``numpy in-place``, ``gpubp`` and ``torch eager`` from
the same weights is checked to give the same weights (sklearn scales its loss
differently).

Usage::

    python benchmarks/compare_peers.py [--repeats 9] [--json results.json] [--shapes 0,1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import warnings
from typing import Any

import numpy as np

import gpubp
from gpubp.bench.environment import blas_info
from gpubp.bench.report import write_json
from gpubp.bench.timing import Timed, interleaved
from gpubp.bench.workload import step_flops

#: (layer sizes, batch): the issue's shapes.
SHAPES: list[tuple[tuple[int, ...], int]] = [
    ((2, 16, 1), 32),
    ((64, 128, 10), 64),
    ((784, 256, 256, 10), 128),
    ((1024, 4096, 4096, 1024), 512),
]
LR = 1e-3
METHODS = ("floor", "numpy loop", "numpy in-place", "gpubp", "torch eager", "sklearn")

#: The issue's targets: (numerator, denominator, at most, shape indices).
TARGETS = [
    ("gpubp", "floor", 1.15, (2, 3)),
    ("gpubp", "numpy loop", 1.3, (0, 1)),
    ("gpubp", "torch eager", 1.0, (0, 1, 2, 3)),
    ("gpubp", "sklearn", 1.0, (0, 1, 2, 3)),
]
#: Not targets (no limit): how far above the floor the least NumPy elementwise work already is, on this machine.
REFERENCES = [("numpy in-place", "floor", None, (2, 3)), ("numpy loop", "floor", None, (2, 3))]


def shape_name(sizes: tuple[int, ...], batch: int) -> str:
    return "-".join(map(str, sizes)) + f"/{batch}"


# ---------------------------------------------------------------------------
# The baselines of our own


def floor_step(X: np.ndarray, Ws: list[np.ndarray], dY: np.ndarray) -> None:
    """The matrix products of one step and nothing else (the first layer's dX skipped)."""
    hs = [X]
    for W in Ws:
        hs.append(hs[-1] @ W)  # forward: H W
    d = dY
    for i in range(len(Ws) - 1, -1, -1):
        hs[i].T @ d  # dW = H^T dY
        if i > 0:
            d = d @ Ws[i].T  # dX = dY W^T


class NumpyLoop:
    """A minimal hand-written NumPy training step: ReLU MLP, MSE, SGD."""

    def __init__(self, Ws: list[np.ndarray], bs: list[np.ndarray], lr: float) -> None:
        self.Ws, self.bs, self.lr = [W.copy() for W in Ws], [b.copy() for b in bs], lr

    def step(self, X: np.ndarray, y: np.ndarray) -> float:
        hs = [X]
        for W, b in zip(self.Ws[:-1], self.bs[:-1], strict=True):
            hs.append(np.maximum(hs[-1] @ W + b, 0))
        out = hs[-1] @ self.Ws[-1] + self.bs[-1]
        loss = np.mean((out - y) ** 2)
        d = 2 * (out - y) / out.size
        for i in range(len(self.Ws) - 1, -1, -1):
            dW = hs[i].T @ d
            db = d.sum(axis=0)
            if i > 0:
                d = (d @ self.Ws[i].T) * (hs[i] > 0)
            self.Ws[i] -= self.lr * dW
            self.bs[i] -= self.lr * db
        return loss


class NumpyInPlace(NumpyLoop):
    """The NumPy step with no temporaries: every elementwise result is written over an array the step owns."""

    def step(self, X: np.ndarray, y: np.ndarray) -> None:
        lr, n = np.float32(self.lr), len(self.Ws)
        hs = [X]
        for i, (W, b) in enumerate(zip(self.Ws, self.bs, strict=True)):
            h = hs[-1] @ W
            h += b
            if i < n - 1:
                np.maximum(h, 0, out=h)
            hs.append(h)
        d = hs.pop()
        d -= y
        d *= np.float32(2 / d.size)  # dL/dout of the mean squared error, over out's own buffer
        for i in range(n - 1, -1, -1):
            dW = hs[i].T @ d
            db = d.sum(axis=0)
            if i > 0:
                d = d @ self.Ws[i].T
                np.multiply(d, hs[i] > 0, out=d)
            dW *= lr
            self.Ws[i] -= dW
            db *= lr
            self.bs[i] -= db


# ---------------------------------------------------------------------------
# The methods, all from the same weights and batch


def gpubp_net(sizes: tuple[int, ...]) -> tuple[gpubp.Sequential, list[np.ndarray], list[np.ndarray]]:
    """gpubp's MLP (seed 0) and host copies of its weights (in, out) and biases."""
    net = gpubp.mlp(list(sizes), rng=0, backend="numpy", dtype="float32")
    net.layers[0].needs_input_grad = False  # as gpubp.Model trains
    linears = [layer for layer in net.layers if isinstance(layer, gpubp.Linear)]
    return net, [lin.weight.data.copy() for lin in linears], [lin.bias.data.copy() for lin in linears]


def make_gpubp(sizes, X, y, Ws, bs):
    net, _, _ = gpubp_net(sizes)
    loss_fn, optimizer = gpubp.MSELoss(), gpubp.SGD(net.parameters(), lr=LR)
    return net, lambda: gpubp.train_step(net, loss_fn, optimizer, X, y)


def make_torch(sizes, X, y, Ws, bs):
    import torch

    layers: list[torch.nn.Module] = []
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))  # torch keeps (out, in)
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(Ws) - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(Xt), yt)
        loss.backward()
        optimizer.step()
        return loss

    return model, step


def make_sklearn(sizes, X, y, Ws, bs):
    from sklearn.neural_network import MLPRegressor

    reg = MLPRegressor(
        hidden_layer_sizes=sizes[1:-1],
        activation="relu",
        solver="sgd",
        learning_rate_init=LR,
        momentum=0,
        alpha=0,
        batch_size=X.shape[0],
        shuffle=False,  # one batch per call; the other methods do not shuffle either
        random_state=0,
    )
    target = y.ravel() if y.shape[1] == 1 else y  # a (n, 1) target makes sklearn warn
    reg.partial_fit(X, target)  # builds the layers and the optimizer ...
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        reg.coefs_[i][...] = W  # ... whose arrays we fill in place (the optimizer holds them)
        reg.intercepts_[i][...] = b
    return reg, lambda: reg.partial_fit(X, target)


def check_same_step(sizes, X, y, Ws, bs) -> dict[str, float]:
    """One step of numpy in-place, gpubp and torch from the same weights: max relative difference of W to numpy loop."""
    loop = NumpyLoop(Ws, bs, LR)
    loop.step(X, y)
    inplace = NumpyInPlace(Ws, bs, LR)
    inplace.step(X, y)
    net, step = make_gpubp(sizes, X, y, Ws, bs)
    step()
    model, tstep = make_torch(sizes, X, y, Ws, bs)
    tstep()
    linears = [layer for layer in net.layers if isinstance(layer, gpubp.Linear)]
    tlin = [m for m in model if hasattr(m, "weight")]

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))

    return {
        "gpubp vs numpy loop": max(rel(lin.weight.data, W) for lin, W in zip(linears, loop.Ws, strict=True)),
        "numpy in-place vs numpy loop": max(rel(a, W) for a, W in zip(inplace.Ws, loop.Ws, strict=True)),
        "torch vs numpy loop": max(rel(t.weight.detach().numpy().T, W) for t, W in zip(tlin, loop.Ws, strict=True)),
    }


def run_shape(sizes: tuple[int, ...], batch: int, repeats: int, min_block: float, methods: list[str]) -> dict[str, Any]:
    gen = np.random.default_rng(1)
    X = gen.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = gen.standard_normal((batch, sizes[-1]), dtype=np.float32)
    _, Ws, bs = gpubp_net(sizes)
    check = check_same_step(sizes, X, y, Ws, bs)
    dY = gen.standard_normal((batch, sizes[-1]), dtype=np.float32)
    makers = {
        "floor": lambda: (None, lambda: floor_step(X, Ws, dY)),
        "numpy loop": lambda: (loop := NumpyLoop(Ws, bs, LR), lambda: loop.step(X, y)),
        "numpy in-place": lambda: (best := NumpyInPlace(Ws, bs, LR), lambda: best.step(X, y)),
        "gpubp": lambda: make_gpubp(sizes, X, y, Ws, bs),
        "torch eager": lambda: make_torch(sizes, X, y, Ws, bs),
        "sklearn": lambda: make_sklearn(sizes, X, y, Ws, bs),
    }
    keep, timed = [], {}
    for name in methods:
        owner, step = makers[name]()
        keep.append(owner)
        timed[name] = Timed(step)
    samples = interleaved(timed, repeats=repeats, warmup=3, min_block_s=min_block)
    medians = {name: statistics.median(s) for name, s in samples.items()}
    return {
        "shape": shape_name(sizes, batch),
        "sizes": list(sizes),
        "batch": batch,
        "flops_per_step": step_flops(sizes, batch, input_grad=False),
        "median_s": medians,
        "min_s": {name: min(s) for name, s in samples.items()},
        "samples_s": samples,
        "steps_per_block": {name: t.inner for name, t in timed.items()},
        "check_max_rel_diff": check,
    }


def ratio_table(results: list[dict[str, Any]], methods: list[str]) -> str:
    def col(name: str) -> int:
        return max(13, len(name) + 3)

    head = f"{'shape':<26}" + "".join(f"{m:>{col(m)}}" for m in methods)
    lines = ["median step time (ms):", head]
    for r in results:
        lines.append(f"{r['shape']:<26}" + "".join(f"{r['median_s'][m] * 1e3:>{col(m)}.4g}" for m in methods))
    lines.append("")
    lines.append("ratios (gpubp time / other time; < 1 means gpubp is faster):")
    others = [m for m in methods if m != "gpubp"]
    lines.append(f"{'shape':<26}" + "".join(f"{'/' + m:>{col(m) + 1}}" for m in others))
    for r in results:
        g = r["median_s"]["gpubp"]
        lines.append(f"{r['shape']:<26}" + "".join(f"{g / r['median_s'][m]:>{col(m) + 1}.3f}" for m in others))
    return "\n".join(lines)


def verdicts(results: list[dict[str, Any]], targets: list[tuple] = TARGETS) -> list[dict[str, Any]]:
    """Each target's ratio of medians, its median per-repeat ratio and whether it holds (limit None: reference)."""
    out = []
    for num, den, limit, shapes in targets:
        for i in shapes:
            r = next((r for r in results if r["shape"] == shape_name(*SHAPES[i])), None)
            if r is None or num not in r["median_s"] or den not in r["median_s"]:
                continue
            ratio = r["median_s"][num] / r["median_s"][den]
            ok = None if limit is None else ratio <= limit if limit != 1.0 else ratio < 1.0
            pairs = zip(r["samples_s"][num], r["samples_s"][den], strict=True)  # timed side by side
            paired = statistics.median(a / b for a, b in pairs)
            out.append(
                {
                    "shape": r["shape"],
                    "target": f"{num} / {den}",
                    "limit": limit,
                    "ratio": ratio,
                    "paired_ratio": paired,
                    "met": ok,
                }
            )
    return out


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "gpubp": gpubp.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }
    try:
        import torch

        env["torch"], env["torch_threads"] = torch.__version__, torch.get_num_threads()
    except ImportError:
        pass
    try:
        import sklearn

        env["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    env["blas"] = blas_info()
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed blocks per method and shape (median)")
    parser.add_argument("--min-block", type=float, default=0.05, help="shortest timed block, seconds")
    parser.add_argument("--shapes", default=None, help="indices into the shape list, e.g. 0,1 (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    parser.add_argument("--json", metavar="PATH", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "gpubp" not in methods or any(m not in METHODS for m in methods):
        parser.error(f"--methods: choose from {', '.join(METHODS)} and include gpubp")
    shapes = SHAPES if args.shapes is None else [SHAPES[int(i)] for i in args.shapes.split(",")]

    try:
        import torch

        from gpubp.backend import cpu_threads, resolve

        torch.set_num_threads(cpu_threads(resolve("numpy")) or os.cpu_count() or 1)
    except ImportError:
        methods = [m for m in methods if m != "torch eager"]
        print("torch is not installed: no torch eager column", file=sys.stderr)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        methods = [m for m in methods if m != "sklearn"]
        print("scikit-learn is not installed: no sklearn column", file=sys.stderr)

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning after every one-epoch partial_fit
        for sizes, batch in shapes:
            r = run_shape(sizes, batch, args.repeats, args.min_block, methods)
            results.append(r)
            print(
                f"{r['shape']}: " + ", ".join(f"{m} {r['median_s'][m] * 1e3:.4g} ms" for m in methods),
                f"(one-step check: {', '.join(f'{k} {v:.1e}' for k, v in r['check_max_rel_diff'].items())})",
                file=sys.stderr,
                flush=True,
            )
    print(ratio_table(results, methods))
    print()
    found = verdicts(results)
    references = verdicts(results, REFERENCES)
    for v in references:
        print(
            f"reference {v['target']} on {v['shape']}: {v['ratio']:.3f} "
            f"(median of the per-repeat ratios {v['paired_ratio']:.3f})"
        )
    for v in found:
        op = "<=" if v["limit"] != 1.0 else "<"
        state = "met" if v["met"] else "MISSED"
        print(
            f"target {v['target']} {op} {v['limit']:g} on {v['shape']}: {v['ratio']:.3f} {state} "
            f"(median of the per-repeat ratios {v['paired_ratio']:.3f})"
        )
    if args.json:
        doc = {
            "environment": environment(),
            "lr": LR,
            "dtype": "float32",
            "results": results,
            "targets": found,
            "references": references,
        }
        write_json(args.json, doc)
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
