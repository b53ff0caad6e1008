"""``gpubp bench``: what it writes and how it fails -- never how fast anything is.

The sweeps here are tiny (one width, two batch sizes, one repeat, a 32 x 32
"peak" matmul) so the file runs in about a second; timings are only checked to
be positive numbers. Speed targets live in ``benchmarks/``.
"""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
from conftest import call

from gpubp.bench import (
    NO_GPU,
    QUICK,
    Spread,
    Sweep,
    Timed,
    busy_verdict,
    crossover,
    resolve_targets,
    run_bench,
    run_sweep,
    step_flops,
)
from gpubp.bench.environment import CpuSnapshot, cpu_snapshot, others_share
from gpubp.bench.targets import default_specs
from gpubp.bench.timing import rounds

TINY = ["--backends", "numpy", "--batches", "4,8", "--widths", "8", "--depths", "1", "--repeats", "1"]
TINY += ["--warmup", "1", "--peak-size", "32"]

ROW_KEYS = {
    "target",
    "backend",
    "device",
    "gpu",
    "depth",
    "width",
    "batch",
    "sizes",
    "flops_per_step",
    "median_s",
    "min_s",
    "samples_per_s",
    "gflops",
    "peak_share",
}


def test_step_flops_is_six_batch_sum_fan_in_fan_out():
    sizes, batch = (784, 256, 256, 10), 128
    assert step_flops(sizes, batch) == 6 * batch * (784 * 256 + 256 * 256 + 256 * 10)
    # training skips the first layer's dX = dY W^T: one product of 2 * batch * fan_in * fan_out
    assert step_flops(sizes, batch, input_grad=False) == step_flops(sizes, batch) - 2 * batch * 784 * 256
    assert step_flops((2, 1), 1) == 12


def test_tiny_sweep_writes_json_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "out" / "bench.json"
    code, out, err = call(["bench", *TINY, "--json", str(path)], capsys)
    assert code == 0, err
    doc = json.loads(path.read_text())
    assert {"gpubp", "environment", "sweep", "targets", "skipped", "gpu", "results", "crossover"} <= doc.keys()
    assert doc["sweep"]["batches"] == [4, 8] and doc["sweep"]["dtype"] == "float32"
    assert [t["target"] for t in doc["targets"]] == ["numpy cpu"]
    assert doc["targets"][0]["peak_gflops"] > 0 and doc["targets"][0]["peak_n"] == 32
    assert len(doc["results"]) == 2
    for row, batch in zip(doc["results"], (4, 8), strict=True):
        assert ROW_KEYS <= row.keys()
        assert (row["batch"], row["width"], row["depth"], row["sizes"]) == (batch, 8, 1, [8, 8])
        assert row["flops_per_step"] == step_flops([8, 8], batch, input_grad=False)
        assert row["median_s"] > 0 and row["samples_per_s"] > 0 and row["gflops"] > 0
    assert doc["gpu"] is False and doc["crossover"] is None
    png = path.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert NO_GPU in out  # said on the terminal as well
    assert f"json: {path}" in out and f"plot: {png}" in out
    assert "numpy cpu" in out.splitlines()[2]  # the table: header, rule, rows


def test_json_dash_puts_only_json_on_stdout(tmp_path, capsys):
    code, out, err = call(["bench", *TINY, "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)  # nothing else on stdout
    assert len(doc["results"]) == 2
    assert "numpy cpu" in err  # the table went to stderr
    assert not list(tmp_path.iterdir())


def test_json_alone_writes_into_out(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, err = call(["bench", *TINY, "--json", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "bench.json").read_text())["results"]
    assert (tmp_path / "bench.png").is_file()
    assert f"json: {tmp_path / 'bench.json'}" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        # the library names its parameters; the command prints them as the flags the user typed
        (["--backends", "foo"], "--backends foo: unknown backend 'foo'"),
        (["--batches", "0,4"], "batches"),
        (["--widths", "x"], "widths"),
        (["--repeats", "0"], "--repeats 0: must be at least 1"),
        (["--loss", "hinge"], "--loss hinge"),
        (["--dtype", "float16"], "--dtype float16"),
        (["--repeats", "two"], "repeats"),
    ],
)
def test_bad_flags_are_one_line_errors(args, needle, capsys):
    code, out, err = call(["bench", *args], capsys)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp: error: "), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err and out == ""


def _row(target: str, gpu: bool, width: int, batch: int, seconds: float) -> dict:
    return {"target": target, "gpu": gpu, "depth": 2, "width": width, "batch": batch, "median_s": seconds}


def test_crossover_is_the_smallest_width_and_batch_where_a_gpu_wins():
    rows = []
    for width, batch, cpu, gpu in [
        (128, 16, 1.0, 2.0),
        (128, 256, 1.0, 1.5),  # the GPU never wins at width 128
        (1024, 16, 1.0, 1.2),
        (1024, 64, 2.0, 1.0),  # ... wins from batch 64 at width 1024
        (1024, 256, 8.0, 1.0),
    ]:
        rows += [_row("numpy cpu", False, width, batch, cpu), _row("torch cpu", False, width, batch, cpu * 1.1)]
        rows.append(_row("cupy cuda:0", True, width, batch, gpu))
    found = crossover(rows)
    assert found == [{"target": "cupy cuda:0", "depth": 2, "width": 1024, "batch": 64, "speedup": 2.0}]
    assert crossover([r for r in rows if not r["gpu"]]) == []


def test_plot_marks_the_crossover(tmp_path):
    pytest.importorskip("matplotlib")
    from gpubp.bench.plot import plot_bench

    rows = []
    for batch, cpu, gpu in [(16, 1.0, 2.0), (64, 2.0, 1.0), (256, 8.0, 1.0)]:
        rows += [
            {**_row("numpy cpu", False, 1024, batch, cpu), "peak_share": 0.5},
            {**_row("cupy cuda:0", True, 1024, batch, gpu), "peak_share": 0.1},
        ]
    doc = {
        "targets": [{"target": "numpy cpu"}, {"target": "cupy cuda:0"}],
        "results": rows,
        "gpu": True,
        "crossover": crossover(rows),
        "sweep": {"dtype": "float32", "loss": "mse"},
    }
    assert plot_bench(doc, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def _compare_peers():
    """benchmarks/compare_peers.py as a module (benchmarks/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_peers.py"
    spec = importlib.util.spec_from_file_location("compare_peers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_peers_baselines_take_the_same_step_as_gpubp():
    # A baseline that skipped work would look fast: each must land on gpubp's weights.
    pytest.importorskip("torch", reason="compare_peers' one-step check includes torch eager")
    import numpy as np

    cp = _compare_peers()
    sizes = (6, 8, 8, 3)
    gen = np.random.default_rng(0)
    X = gen.standard_normal((5, 6), dtype=np.float32)
    y = gen.standard_normal((5, 3), dtype=np.float32)
    _, Ws, bs = cp.gpubp_net(sizes)
    diffs = cp.check_same_step(sizes, X, y, Ws, bs)
    assert set(diffs) == {"gpubp vs numpy loop", "numpy in-place vs numpy loop", "torch vs numpy loop"}
    assert all(d <= 1e-6 for d in diffs.values()), diffs
    moved = cp.NumpyInPlace(Ws, bs, cp.LR)
    moved.step(X, y)
    assert any(not np.array_equal(a, W) for a, W in zip(moved.Ws, Ws, strict=True))  # it did step


# ---------------------------------------------------------------------------
# Timing: spread, interleaved rounds, one peak per device, the busy warning.
# A fake clock moves only when read, so every figure below is fixed in advance.


class FakeClock:
    """Each read moves the clock by ``tick`` times the next of ``noise`` (cycled): steady or scripted noise."""

    def __init__(self, tick: float = 1e-3, noise: tuple[float, ...] = (1.0,)) -> None:
        self.t, self.tick, self.noise = 0.0, tick, itertools.cycle(noise)

    def __call__(self) -> float:
        self.t += self.tick * next(self.noise)
        return self.t


#: Scripted noise of a busy machine: every read slowed by its own factor (fixed: a seeded draw).
BUSY = tuple(float(x) for x in np.random.default_rng(1).lognormal(0.0, 1.0, size=997))


def test_spread_is_min_quartiles_median_max():
    s = Spread.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.min, s.q1, s.median, s.q3, s.max, s.n) == (1.0, 2.0, 3.0, 4.0, 5.0, 5)
    assert s.iqr == pytest.approx(2.0 / 3.0) and s.slowdown == pytest.approx(2.0)
    one = Spread.of([0.25])
    assert (one.min, one.q1, one.median, one.q3, one.max, one.iqr, one.slowdown) == (0.25,) * 5 + (0.0, 0.0)
    # a few slow rounds leave the median, and the slowdown, alone; most slow rounds do not
    assert Spread.of([1.0, 1.0, 1.1, 1.0, 5.0, 1.05, 9.0]).slowdown == pytest.approx(0.05)
    assert Spread.of([1.0, 2.0, 2.2, 1.9, 5.0]).slowdown == pytest.approx(1.0)
    with pytest.raises(ValueError):
        Spread.of([])


def _counting(log: list[str], name: str, group: str | None) -> Timed:
    return Timed(lambda: log.append(name), group=group)


def test_rounds_visit_every_method_once_per_round_in_changing_orders():
    calls: list[str] = []
    methods = {n: _counting(calls, n, g) for n, g in [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("b2", "B")]}
    on_round = lambda r, seconds: calls.append("|")  # noqa: E731
    samples = rounds(methods, repeats=4, shuffle=np.random.default_rng(0), on_round=on_round, clock=FakeClock())
    assert {n: len(s) for n, s in samples.items()} == dict.fromkeys(methods, 4)
    per_round = " ".join(calls).split("|")[:-1]
    leaders, orders, presteps = [], set(), 0
    for text in per_round:
        names = text.split()
        assert set(names) == set(methods)  # every method in every round, ...
        presteps += len(names) - len(methods)  # ... once, plus an untimed step where the library changed
        leaders.append(names[0][0])
        orders.add(tuple(dict.fromkeys(n for n in names if n.startswith("a"))))
    assert leaders == ["a", "b", "a", "b"]  # the libraries take turns leading a round
    assert presteps == 2 + 1 + 1 + 1  # a round begins with the library the one before ended on
    assert len(orders) > 1  # a library's methods are not timed in one fixed order


def test_rounds_without_groups_rotate_and_always_take_an_untimed_step():
    calls: list[str] = []
    methods = {n: _counting(calls, n, None) for n in "xyz"}
    rounds(methods, repeats=3, clock=FakeClock())
    assert calls == ["x", "x", "y", "y", "z", "z", "y", "y", "z", "z", "x", "x", "z", "z", "x", "x", "y", "y"]


def test_rounds_stop_at_the_deadline_but_not_before_three():
    clock = FakeClock(tick=1.0)
    methods = {n: Timed(lambda: None) for n in "ab"}
    samples = rounds(methods, repeats=10, deadline=clock.t + 1.0, min_repeats=3, clock=clock)
    assert [len(s) for s in samples.values()] == [3, 3]  # the deadline had passed: the minimum
    clock = FakeClock(tick=1.0)
    samples = rounds(methods, repeats=10, deadline=clock.t + 30.0, min_repeats=3, clock=clock)
    assert 3 < len(samples["a"]) < 10


def test_a_method_that_fails_mid_run_is_dropped_with_its_reason():
    calls = itertools.count()

    def flaky() -> None:
        if next(calls) == 4:
            raise RuntimeError("out of memory\n  on device")

    methods = {"ok": Timed(lambda: None), "flaky": Timed(flaky)}
    failures: dict[str, str] = {}
    samples = rounds(methods, repeats=5, failures=failures, clock=FakeClock())
    assert failures == {"flaky": "out of memory on device"}
    assert list(samples) == ["ok"] and len(samples["ok"]) == 5
    with pytest.raises(ZeroDivisionError):  # without a place for failures, they propagate
        rounds({"flaky": Timed(lambda: 1 / 0)}, repeats=1, clock=FakeClock())


def test_busy_verdict_counts_unsteady_measurements_and_other_work():
    steady = {f"m{i}": 0.05 for i in range(8)}
    assert busy_verdict(steady) is None
    assert busy_verdict(steady | {"m0": 0.9, "m1": 0.4}) is None  # two of eight: a hiccup, not a busy machine
    verdict = busy_verdict(steady | {"m0": 0.9, "m1": 0.4, "m2": 0.3})
    assert (
        verdict is not None and verdict.startswith("in 3 of 8 measurements the median") and "worst m0: 90%" in verdict
    )
    assert "worst m0: >999%" in busy_verdict(steady | {"m0": 12.0, "m1": 0.4, "m2": 0.3})
    assert busy_verdict({}) is None
    # a steady load slows everything alike: small spreads, but other processes took the CPUs
    assert busy_verdict(steady, others=0.2) is None
    assert busy_verdict(steady, others=0.5) == "other processes used 50% of the CPUs meanwhile"
    both = busy_verdict(steady | {"m0": 0.9, "m1": 0.4, "m2": 0.3}, others=0.6)
    assert both.startswith("other processes used 60% of the CPUs meanwhile; in 3 of 8 measurements")


def test_others_share_is_busy_time_not_ours_over_capacity():
    start = CpuSnapshot(wall_s=100.0, busy_s=50.0, own_s=1.0, cpus=2)
    end = CpuSnapshot(wall_s=110.0, busy_s=66.0, own_s=7.0, cpus=2)
    assert others_share(start, end) == pytest.approx((16.0 - 6.0) / (2 * 10.0))
    assert others_share(start, None) is None and others_share(start, start) is None
    assert others_share(start, CpuSnapshot(110.0, 50.0, 7.0, 2)) == 0.0  # never below nothing
    here = cpu_snapshot()  # Linux: a reading; elsewhere None
    assert here is None or (here.cpus >= 1 and here.busy_s >= 0 and here.own_s > 0)


def test_a_steady_load_from_other_processes_is_warned_about():
    readings = iter([CpuSnapshot(0.0, 0.0, 0.0, 2), CpuSnapshot(10.0, 16.0, 6.0, 2)])
    report = io.StringIO()
    doc = _bench("numpy", Sweep(**TINY_SWEEP), FakeClock(), report, cpu_meter=lambda: next(readings))
    assert doc["environment"]["others_cpu_share"] == pytest.approx(0.5)
    assert doc["busy"] and doc["busy_reason"] == "other processes used 50% of the CPUs meanwhile"
    assert report.getvalue().count("warning: the machine was busy") == 1


TINY_SWEEP = {"batches": (4, 8), "widths": (8,), "depths": (1,), "repeats": 5, "warmup": 1, "peak_n": 16}


def _bench(backends: str, sweep: Sweep, clock: FakeClock, report: io.StringIO, log: io.StringIO | None = None, **kw):
    """run_bench with no files, a fake clock and (unless ``cpu_meter`` is given) no reading of the machine's load."""
    kw.setdefault("cpu_meter", lambda: None)
    log = io.StringIO() if log is None else log
    return run_bench(
        backends=backends, sweep=sweep, json_path=None, plot_path=None, report=report, log=log, clock=clock, **kw
    )


def test_one_peak_per_device_printed_and_stored_once(capsys):
    report = io.StringIO()
    log = io.StringIO()
    # two libraries on one device, the CPU
    doc = _bench("numpy,array_api_strict", Sweep(**TINY_SWEEP), FakeClock(), report, log)
    assert [d["device"] for d in doc["devices"]] == ["cpu"]
    peak = doc["devices"][0]["peak_gflops"]
    assert peak > 0 and doc["devices"][0]["peak_backend"] in ("numpy", "array_api_strict")
    assert [t["peak_gflops"] for t in doc["targets"]] == [peak, peak]
    text = report.getvalue() + log.getvalue()
    assert text.count("matmul peak") == 1 and text.count("GFLOP/s (") == 1
    assert f"cpu {peak:.1f} GFLOP/s" in text
    for row in doc["results"]:
        assert row["peak_share"] == pytest.approx(row["gflops"] / peak)


def test_peak_is_the_fastest_block_of_any_library_on_the_device():
    from gpubp.bench.sweep import _peaks

    targets, _ = resolve_targets("numpy,array_api_strict")
    n = 10
    samples = {"peak numpy cpu": [2.0, 1.0, 4.0], f"peak {targets[1].label}": [0.5, 8.0, 8.0]}
    (device,) = _peaks(targets, {t.label: n for t in targets}, samples)
    assert device["peak_gflops"] == pytest.approx(2 * n**3 / 0.5 / 1e9)
    assert device["peak_backend"] == "array_api_strict" and device["peak_n"] == n
    assert targets[0].peak_gflops == targets[1].peak_gflops == device["peak_gflops"]


@pytest.mark.parametrize("noise, busy", [((1.0,), False), (BUSY, True)])
def test_spread_in_table_and_json_and_the_busy_warning(noise, busy):
    report = io.StringIO()
    doc = _bench("numpy", Sweep(**TINY_SWEEP), FakeClock(noise=noise), report)
    assert doc["sweep"]["rounds"] == 5 and doc["sweep"]["repeats"] == 5
    for row in doc["results"]:
        assert ROW_KEYS | {"q1_s", "q3_s", "max_s", "iqr", "slowdown", "samples_s"} <= row.keys()
        assert len(row["samples_s"]) == 5
        assert row["min_s"] <= row["q1_s"] <= row["median_s"] <= row["q3_s"] <= row["max_s"]
        assert (row["max_s"] > row["min_s"]) is busy
    assert doc["busy"] is busy and (doc["busy_reason"] is not None) is busy
    text = report.getvalue()
    header = text.splitlines()[0].split()
    assert header[4:8] == ["step", "min", "max", "iqr"]
    warnings = [line for line in text.splitlines() if line.startswith("warning:")]
    assert len(warnings) == (1 if busy else 0)
    if busy:
        assert "busy" in warnings[0] and doc["busy_reason"] in warnings[0]


def test_quick_sweep_has_a_budget_and_says_when_it_ran_fewer_rounds():
    sweep = Sweep(**TINY_SWEEP | {"repeats": 50}, quick=True)
    assert sweep.budget_s == QUICK["budget_s"]
    report = io.StringIO()
    clock = FakeClock(tick=0.5)  # every read half a second: the budget runs out
    doc = _bench("numpy", sweep, clock, report)
    assert 2 <= doc["sweep"]["rounds"] < 50
    assert "of 50 rounds" in report.getvalue() and "budget" in report.getvalue()
    assert Sweep(**TINY_SWEEP).budget_s is None


# ---------------------------------------------------------------------------
# Targets: one device per library by default; what cannot run is skipped with why.


def _entry(name: str, devices: list[str], reason: str | None = None) -> dict:
    return {"name": name, "available": reason is None, "devices": [{"name": d} for d in devices], "reason": reason}


def test_default_targets_are_one_device_per_library_not_every_gpu():
    two_gpus = [
        _entry("numpy", ["cpu"]),
        _entry("cupy", ["cuda:0", "cuda:1"]),
        _entry("torch", ["cpu", "cuda:0", "cuda:1"]),
        _entry("array_api_strict", ["CPU_DEVICE", "device1"]),
    ]
    specs, skipped = default_specs(two_gpus)
    assert specs == [("numpy", None), ("torch", None), ("cupy", None), ("torch", "cuda:0")]
    assert skipped == []
    no_gpu = [
        _entry("numpy", ["cpu"]),
        _entry("cupy", [], reason="cupy is not installed"),
        _entry("torch", ["cpu"]),
        _entry("array_api_strict", ["CPU_DEVICE", "device1"]),
    ]
    specs, skipped = default_specs(no_gpu)
    assert specs == [("numpy", None), ("torch", None)]
    assert skipped == [
        {"backend": "cupy", "reason": "cupy is not installed"},
        {"backend": "torch cuda", "reason": "torch sees no CUDA device"},
    ]
    specs, skipped = default_specs([_entry("numpy", ["cpu"]), _entry("torch", [], reason="torch is not installed")])
    assert specs == [("numpy", None)] and {"backend": "torch", "reason": "torch is not installed"} in skipped


def test_default_targets_here_leave_out_array_api_strict():
    targets, skipped = resolve_targets(None)
    labels = [t.label for t in targets]
    assert labels[0] == "numpy cpu" and all(not label.startswith("array_api_strict") for label in labels)
    assert {t.device for t in targets} == {"cpu"} or any(t.gpu for t in targets)
    for s in skipped:
        assert s["reason"]


def test_a_device_that_cannot_run_is_skipped_with_its_reason(capsys, tmp_path):
    args = ["--batches", "4", "--widths", "8", "--depths", "1", "--repeats", "1", "--warmup", "1", "--peak-size", "32"]
    path = tmp_path / "b.json"
    code, out, err = call(["bench", "--backends", "numpy,cupy:7,torch:cuda:7", *args, "--json", str(path)], capsys)
    assert code == 0, err
    doc = json.loads(path.read_text())
    assert [t["target"] for t in doc["targets"]] == ["numpy cpu"]
    skipped = {s["backend"]: s["reason"] for s in doc["skipped"]}
    assert "cupy:7" in skipped and skipped["cupy:7"]
    assert "cupy:7" in err and "Traceback" not in err
    code, out, err = call(["bench", "--backends", "cupy:7", *args], capsys)
    assert code == 2 and "nothing can run here" in err and "cupy:7" in err


def test_a_measurement_that_fails_is_skipped_and_the_rest_measured(monkeypatch):
    from gpubp.bench import workload

    real = workload.Steps.step

    def step(self, depth, width, batch):
        if batch == 8:
            raise MemoryError("out of memory allocating 1 GiB")
        return real(self, depth, width, batch)

    monkeypatch.setattr(workload.Steps, "step", step)
    targets, _ = resolve_targets("numpy")
    measured = run_sweep(targets, Sweep(**TINY_SWEEP), clock=FakeClock())
    assert [r["batch"] for r in measured.rows] == [4]
    assert measured.skipped == [
        {"backend": "numpy cpu", "point": "depth 1 width 8 batch 8", "reason": "out of memory allocating 1 GiB"}
    ]


def test_every_array_is_made_on_the_targets_device():
    # array-api-strict's device1 is not its default device: anything made without device= lands elsewhere
    pytest.importorskip("array_api_strict")
    from gpubp.backend import device_of, resolve
    from gpubp.bench.workload import Steps, matmul

    backend = resolve("array_api_strict", "device1")
    steps = Steps(backend, dtype="float32", loss="ce")
    timed = steps.step(2, 8, 4)
    timed.step()
    for net, _, _ in steps._nets.values():
        assert {device_of(p.data) for p in net.parameters()} == {backend.device}
    for X, y in steps._batches.values():
        assert device_of(X) == device_of(y) == backend.device
    assert device_of(matmul(backend, "float32", 8).step()) == backend.device
    targets, _ = resolve_targets("array_api_strict:device1")
    measured = run_sweep(targets, Sweep(**TINY_SWEEP | {"repeats": 1}, loss="ce"), clock=FakeClock())
    assert measured.skipped == [] and len(measured.rows) == 2


def test_a_peak_that_fails_leaves_the_steps_measured_without_a_share(monkeypatch):
    from gpubp.bench import sweep as sweep_module

    def matmul(*args, **kwargs):
        raise RuntimeError("out of memory: 8192 x 8192")

    monkeypatch.setattr(sweep_module, "matmul", matmul)
    report = io.StringIO()
    doc = _bench("numpy", Sweep(**TINY_SWEEP), FakeClock(), report)
    assert doc["skipped"] == [{"backend": "numpy cpu", "point": "matmul peak", "reason": "out of memory: 8192 x 8192"}]
    assert doc["devices"] == [{"device": "cpu", "peak_gflops": None, "peak_n": None}]
    assert len(doc["results"]) == 2 and all(r["peak_share"] is None for r in doc["results"])
    text = report.getvalue()
    assert "matmul peak: cpu not measured" in text
    assert "skipped: numpy cpu matmul peak: out of memory: 8192 x 8192" in text
