"""``gpubp bench``: what it writes and how it fails -- never how fast anything is.

The sweeps here are tiny (one width, two batch sizes, one repeat, a 32 x 32
"peak" matmul) so the file runs in about a second; timings are only checked to
be positive numbers. Speed targets live in ``benchmarks/``.
"""

from __future__ import annotations

import json

import pytest
from conftest import call

from gpubp.bench import NO_GPU, crossover, step_flops

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
        (["--backends", "foo"], "--backends: unknown backend 'foo'"),
        (["--batches", "0,4"], "--batches"),
        (["--widths", "x"], "--widths"),
        (["--repeats", "0"], "--repeats"),
        (["--loss", "hinge"], "--loss"),
        (["--dtype", "float16"], "--dtype"),
        (["--repeats", "two"], "--repeats"),
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
    from gpubp.plot import plot_bench

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
