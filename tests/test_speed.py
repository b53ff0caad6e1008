"""What the speed work changed, checked for meaning (never for time: speed targets live in benchmarks/).

- ReLU multiplies by a 0/1 mask instead of NumPy's slower ``maximum``: the same values and gradients.
- A Linear layer's bias gradient is a product with a row of ones: the batch's sum, also for a short last batch.
- The fit loop finds a diverged step once per epoch: the step it names is the first non-finite one.
- The NumPy backend reads a C-ordered float X where it is: no copy, and the caller's array is never written.
- benchmarks/time_to_accuracy.py runs end to end on a small problem and writes its table, JSON and PNG.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import assert_array
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp.estimators import inputs
from gpubp.train import _first_bad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_relu_is_max_with_zero_and_its_gradient_the_mask(case):
    x_host = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.5], [np.inf, -1e30, 7.0, -7.0, 0.25]])
    relu = gpubp.ReLU()
    y = relu.forward(case.asarray(x_host))
    assert_array(y, case, (2, 5))
    case.assert_close(y, np.maximum(x_host, 0.0))
    dx = relu.backward(case.asarray(np.full((2, 5), 3.0)))
    assert_array(dx, case, (2, 5))
    case.assert_close(dx, np.where(x_host > 0, 3.0, 0.0))


def test_relu_keeps_a_nan(case):
    y = gpubp.ReLU().forward(case.asarray(np.array([[np.nan, 1.0]])))
    assert np.isnan(gpubp.to_host(y)[0, 0])


@pytest.mark.parametrize("batches", [(8, 8, 3), (5, 2)])
def test_linear_bias_gradient_is_the_batch_sum_whatever_the_batch_size(case, batches):
    layer = gpubp.Linear(4, 3, rng=0, backend=case.backend, dtype=case.dtype)
    rng = np.random.default_rng(1)
    for n in batches:  # the kept row of ones must follow the batch size
        layer.bias.grad = None
        dout = rng.normal(size=(n, 3))
        layer.forward(case.asarray(rng.normal(size=(n, 4))))
        layer.backward(case.asarray(dout))
        assert_array(layer.bias.grad, case, (3,))
        case.assert_close(layer.bias.grad, dout.sum(axis=0))


def test_first_bad_names_the_first_non_finite_step():
    xp = gpubp.backend.resolve("numpy").xp
    unset = xp.asarray(-1.0)
    sums = [xp.asarray(v) for v in (1.0, 2.0, np.nan, np.nan, np.inf)]
    assert float(_first_bad(unset, sums, before=0)) == 3.0
    assert float(_first_bad(unset, sums, before=10)) == 13.0  # a resumed epoch counts its earlier steps
    assert float(_first_bad(xp.asarray(2.0), sums, before=0)) == 2.0  # found earlier: kept
    assert float(_first_bad(unset, [xp.asarray(1.0), xp.asarray(np.inf)], before=0)) == 2.0
    assert float(_first_bad(unset, sums[:2], before=0)) == -1.0
    assert _first_bad(unset, [], before=0) is unset


def test_a_diverging_fit_names_its_first_bad_step():
    X = np.array([[1e30, -1e30], [2e30, 1e30], [-1e30, 3e30], [1e30, 1e30]], dtype=np.float32)
    y = np.array([1e30, -1e30, 2e30, 0.0], dtype=np.float32)
    est = gpubp.MLPRegressor(hidden_layer_sizes=(4,), batch_size=1, max_iter=2, shuffle=False, random_state=0)
    with pytest.raises(gpubp.TrainingDiverged, match=r"at epoch 1, step 1$") as info:
        est.fit(X, y)
    assert info.value.step == 1


def test_numpy_reads_a_c_ordered_x_in_place_and_never_writes_it():
    X = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    backend = gpubp.backend.resolve("numpy")
    view = inputs.to_device(X, backend, backend.xp.float32)
    assert np.shares_memory(view, X) and not view.flags.writeable
    assert X.flags.writeable  # the caller's array is untouched
    assert not np.shares_memory(inputs.to_device(X, backend, backend.xp.float64), X)  # a cast copies
    assert not np.shares_memory(inputs.to_device(np.asfortranarray(X), backend, backend.xp.float32), X)
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = gpubp.MLPClassifier((8,), max_iter=3, standardize=True, early_stopping=True, random_state=0).fit(X, y)
    est.predict(X)
    est.evaluate(X, y)
    np.testing.assert_array_equal(X, before)


NEEDS = [m for m in ("torch", "matplotlib") if importlib.util.find_spec(m) is None]


@pytest.mark.slow
@pytest.mark.skipif(bool(NEEDS), reason=f"the benchmark's contenders need {', '.join(NEEDS)}")
def test_time_to_accuracy_benchmark_runs_small(tmp_path):
    out = tmp_path / "tta.json"
    cmd = [
        sys.executable, os.path.join(ROOT, "benchmarks", "time_to_accuracy.py"), "--rows", "3000", "--epochs", "2",
        "--repeats", "1", "--contenders", "gpubp numpy,gpubp cupy,sklearn,torch loop", "--json", str(out),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert (tmp_path / "tta.png").stat().st_size > 0
    assert set(doc["tasks"]) == {"classify", "regress"}
    for task, part in doc["tasks"].items():
        names = [row["contender"] for row in part["summary"]]
        assert names == ["gpubp numpy", "sklearn", "torch loop"] or ("gpubp cupy" in names and len(names) == 4)
        for row in part["summary"]:
            assert row["seconds"]["min"] <= row["seconds"]["median"] <= row["seconds"]["max"]
            assert row["reached_target"] == row["runs"] == 1  # the target is the lowest final score
            assert row["peak_mib"] >= row["extra_mib"] >= 0
        assert part["target"] == min(r["final_score"] for r in doc["runs"] if r["task"] == task)
    if "gpubp cupy" in doc["skipped"]:
        assert "no usable GPU" in doc["skipped"]["gpubp cupy"]
    assert "time to accuracy >=" in result.stdout and "time to R^2 >=" in result.stdout
