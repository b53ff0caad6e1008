"""The fit loop: convergence, determinism, devices, scikit-learn's stopping rules, divergence, one step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import TOLERANCES, Case
from sklearn.exceptions import ConvergenceWarning

import gpubp
from gpubp import SGD, FitHooks, MLPClassifier, MLPRegressor, MSELoss, Trainer, TrainingDiverged, mlp, train_step
from gpubp.backend import resolve, to_host
from gpubp.data import decide_task, load_dataset, split_indices


def split_data(name: str, seed: int = 0):
    """A built-in data set, its labels or values, and a stratified 80/20 split."""
    ds = load_dataset(name, seed=seed)
    task, y = decide_task(ds, "auto")
    split = split_indices(len(ds.X), validation_fraction=0.0, test_fraction=0.2, seed=seed,
                          y=y if task == "classify" else None)  # fmt: skip
    return ds.X, y, split, task


def fit(est, name: str, hooks: FitHooks | None = None):
    X, y, split, _ = split_data(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[split.train], y[split.train], hooks=hooks)
    return est.history_, X, y, split


def weights(est) -> list[np.ndarray]:
    return [np.array(to_host(p.data)) for p in est.network_.parameters()]


# -- convergence with small budgets -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "metric", "threshold"),
    [
        ("xor", {"hidden_layer_sizes": (16,), "max_iter": 50, "batch_size": 32, "learning_rate_init": 0.01},
         "accuracy", 0.95),
        ("spirals", {"hidden_layer_sizes": (32, 32), "learning_rate_init": 0.01, "batch_size": 32, "max_iter": 150,
                     "early_stopping": True, "n_iter_no_change": 30}, "accuracy", 0.9),
        ("sine", {"hidden_layer_sizes": (32, 32), "learning_rate_init": 0.01, "batch_size": 32, "max_iter": 200},
         "r2", 0.95),
        ("digits", {"hidden_layer_sizes": (64,), "max_iter": 30, "batch_size": 32, "standardize": True},
         "accuracy", 0.95),
    ],
)  # fmt: skip
def test_converges_on_builtin_data(name, settings, metric, threshold):
    Est = MLPRegressor if name == "sine" else MLPClassifier
    est = Est(backend="numpy", random_state=0, **settings)
    history, X, y, split = fit(est, name)
    test = est.evaluate(X[split.test], y[split.test])
    assert test[metric] >= threshold, f"{name}: test {metric} {test[metric]:.4f} after {len(history.epochs)} epochs"
    assert history.column("train_loss")[-1] < history.column("train_loss")[0]


# -- determinism ---------------------------------------------------------------------


def _train(seed: int):
    est = MLPClassifier((16, 8), max_iter=8, batch_size=32, early_stopping=True, random_state=seed, backend="numpy")
    fit(est, "spirals")
    return est


def test_same_seed_same_history_and_weights_bit_for_bit():
    a, b = _train(0), _train(0)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert a.history_.column(key) == b.history_.column(key), key
    assert a.history_.best_epoch == b.history_.best_epoch
    for wa, wb in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_different_seed_different_history():
    a, b = _train(0), _train(1)
    assert a.history_.column("train_loss") != b.history_.column("train_loss")
    assert any(not np.array_equal(wa, wb) for wa, wb in zip(weights(a), weights(b), strict=True))


# -- devices ----------------------------------------------------------------------


def test_trainer_on_a_non_default_device_keeps_everything_there():
    pytest.importorskip("array_api_strict")
    backend = resolve("array_api_strict", "device1")
    X, y, split, _ = split_data("xor")
    X_dev = backend.asarray(X[split.train], dtype=backend.xp.float32)
    y_dev = backend.asarray(y[split.train], dtype=backend.xp.int64)
    assert X_dev.device == backend.device and y_dev.device == backend.device
    net = mlp([2, 16, 2], backend=backend)
    trainer = Trainer(net, gpubp.CrossEntropyLoss(), gpubp.Adam(net.parameters(), lr=0.01), max_iter=5, rng=0)
    history = trainer.fit(X_dev, y_dev)
    assert len(history.epochs) == 5 and history.stopped == "max_epochs"
    assert all(np.isfinite(r["train_loss"]) for r in history.epochs)
    case = Case(backend, "float32")
    for p in net.parameters():
        case.assert_array(p.data, p.shape)  # namespace, device1, float32


def test_float64_on_device1_predicts_like_numpy():
    pytest.importorskip("array_api_strict")
    common = {
        "hidden_layer_sizes": (16,),
        "max_iter": 10,
        "dtype": "float64",
        "early_stopping": True,
        "random_state": 0,
    }
    reference = MLPClassifier(backend="numpy", **common)
    strict = MLPClassifier(backend="array_api_strict", device="device1", **common)
    _, X, _, split = fit(reference, "spirals")
    fit(strict, "spirals")
    rtol, atol = TOLERANCES["float64"]
    np.testing.assert_allclose(strict.history_.column("train_loss"), reference.history_.column("train_loss"), rtol=rtol)
    np.testing.assert_allclose(
        strict.predict_proba(X[split.test]), reference.predict_proba(X[split.test]), rtol=1e-9, atol=atol
    )
    np.testing.assert_array_equal(strict.predict(X[split.test]), reference.predict(X[split.test]))


@pytest.mark.parametrize("backend", [("array_api_strict", "device1"), ("torch", "cpu")], ids=lambda b: b[0])
def test_first_epoch_losses_agree_across_backends(backend):
    pytest.importorskip(backend[0])
    common = {"hidden_layer_sizes": (32,), "max_iter": 2, "early_stopping": True, "random_state": 0}
    reference = MLPClassifier(backend="numpy", **common)
    other = MLPClassifier(backend=backend[0], device=backend[1], **common)
    fit(reference, "digits")
    fit(other, "digits")
    rtol = 10 * TOLERANCES["float32"][0]  # two epochs of float32 sums in a different order
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(other.history_.column(key), reference.history_.column(key), rtol=rtol, err_msg=key)


# -- stopping rules (scikit-learn's) ----------------------------------------------------


def test_early_stopping_counts_more_than_n_iter_no_change_epochs_and_restores_the_best_weights():
    n = 3
    est = MLPRegressor(hidden_layer_sizes=(64, 64), learning_rate_init=0.05, batch_size=32, max_iter=300,
                       early_stopping=True, n_iter_no_change=n, random_state=0)  # fmt: skip
    history, *_ = fit(est, "sine")
    scores = history.column("val_score")
    assert history.stopped == "converged"
    best = history.best_epoch
    assert scores[best - 1] == max(scores) == est.best_validation_score_ == est.validation_scores_[best - 1]
    # stopped after n + 1 epochs in a row that did not beat the best score so far by more than tol
    last = len(scores)
    assert last >= n + 1
    for e in range(last - n, last + 1):
        assert scores[e - 1] < max(scores[: e - 1]) + est.tol
    assert scores[last - n - 2] >= max(scores[: last - n - 2], default=-np.inf) + est.tol or last == n + 1


def test_training_loss_rule_and_no_improvement_beyond_tol():
    seen = []
    est = MLPClassifier((8,), tol=1e6, n_iter_no_change=2, max_iter=50, random_state=0)
    history, *_ = fit(est, "xor", hooks=FitHooks(callbacks=[lambda record: seen.append(dict(record))]))
    # epoch 1 improves on infinity; epochs 2, 3, 4 do not improve by more than tol: 3 > 2, stop
    assert history.stopped == "converged"
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3, 4]
    assert seen == history.epochs  # the converging epoch is reported to callbacks too
    losses = history.column("train_loss")
    assert est.best_loss_ == min(losses) and history.best_epoch == losses.index(min(losses)) + 1


def test_max_iter_is_respected():
    est = MLPClassifier((8,), max_iter=3, n_iter_no_change=100)
    history, *_ = fit(est, "xor")
    assert history.stopped == "max_epochs" and history.column("epoch") == [1, 2, 3]


def test_a_callback_returning_true_stops_and_every_callback_sees_every_epoch():
    first, second = [], []

    def stop_at_two(record):
        first.append(record)
        return record["epoch"] == 2

    est = MLPClassifier((8,), max_iter=20, early_stopping=True, n_iter_no_change=100)
    history, *_ = fit(est, "xor", hooks=FitHooks(callbacks=[stop_at_two, second.append]))
    assert history.stopped == "callback" and history.column("epoch") == [1, 2]
    assert first == second == history.epochs
    for record in first:
        assert {"epoch", "train_loss", "val_loss", "val_accuracy", "val_score", "learning_rate", "seconds",
                "to_host", "to_device"} <= set(record)  # fmt: skip


def test_a_truthy_but_not_true_callback_result_does_not_stop():
    est = MLPClassifier((8,), max_iter=3, n_iter_no_change=100)
    history, *_ = fit(est, "xor", hooks=FitHooks(callbacks=[lambda record: 1]))
    assert history.stopped == "max_epochs"


# -- the host-sync budget -------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", [("numpy", None), ("array_api_strict", "device1"), ("torch", "cpu")], ids=lambda b: b[0]
)
def test_each_epoch_copies_one_permutation_up_and_one_stats_vector_down(backend):
    pytest.importorskip(backend[0])
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, n_iter_no_change=100, batch_size=32,
                       backend=backend[0], device=backend[1])  # fmt: skip
    history, *_ = fit(est, "sine")
    assert len(history.epochs) == 3
    for record in history.epochs:
        assert record["to_host"] == 1, record
        assert record["to_device"] == 1, record
        assert record["steps"] == -(-400 // 32)  # sine: 400 training rows


# -- divergence -----------------------------------------------------------------------


def test_a_huge_learning_rate_raises_training_diverged_naming_epoch_and_step():
    est = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, learning_rate_init=1e6, max_iter=5)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+") as info:
        fit(est, "sine")
    assert info.value.epoch == 1 and 1 <= info.value.step <= 2
    assert info.value.exit_code == 3
    history = est._trainer.history
    assert history.epochs == [] and history.best_epoch == 0 and history.stopped == "diverged"


def test_divergence_after_good_epochs_restores_the_best_weights():
    est = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=64,
                       max_iter=10, n_iter_no_change=100, random_state=0)  # fmt: skip

    def blow_up(record):
        if record["epoch"] == 2:
            est._trainer.optimizer.lr = 1e6

    with pytest.raises(TrainingDiverged) as info:
        fit(est, "sine", hooks=FitHooks(callbacks=[blow_up]))
    assert info.value.epoch == 3 and info.value.step >= 1
    history = est._trainer.history
    assert history.column("epoch") == [1, 2] and history.best_epoch in (1, 2)
    assert all(np.all(np.isfinite(w)) for w in weights(est))


# -- one step -------------------------------------------------------------------------


def _step_setup(lr: float = 0.1):
    rng = np.random.default_rng(0)
    net = mlp([3, 5, 2], activation_name="tanh", rng=1, backend="numpy")
    X = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    return net, SGD(net.parameters(), lr=lr), X, y


def test_train_step_is_forward_loss_backward_update():
    net, opt, X, y = _step_setup()
    loss = train_step(net, MSELoss(), opt, X, y)

    ref, ref_opt, _, _ = _step_setup()
    ref_opt.zero_grad()
    loss_fn = MSELoss()
    expected = loss_fn.forward(ref.forward(X), y)
    ref.backward(loss_fn.backward())
    ref_opt.step()

    assert loss.shape == () and float(loss) == float(expected)
    for (name, p), q in zip(net.named_parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


def test_the_l2_penalty_is_scikit_learns_on_weights_only():
    net, opt, X, y = _step_setup(lr=1.0)
    before = [np.array(p.data) for p in net.parameters()]
    train_step(net, MSELoss(), opt, X, y, alpha=0.5)
    ref, ref_opt, _, _ = _step_setup(lr=1.0)
    train_step(ref, MSELoss(), ref_opt, X, y)
    for (name, p), q, old in zip(net.named_parameters(), ref.parameters(), before, strict=True):
        expected = q.data - (0.5 / 8) * old if name.endswith("weight") else q.data  # grad += alpha W / n, W only
        np.testing.assert_allclose(p.data, expected, rtol=1e-6, atol=1e-7, err_msg=name)


def test_sample_weights_weigh_each_row_in_the_step():
    net, opt, X, y = _step_setup()
    w = np.array([2, 0, 1, 1, 3, 0, 1, 1], dtype=np.float32)
    train_step(net, MSELoss(), opt, X, y, weight=w)
    ref, ref_opt, _, _ = _step_setup()
    rows = np.repeat(np.arange(8), w.astype(int))
    train_step(ref, MSELoss(), ref_opt, X[rows], y[rows])  # integer weights = repeated rows
    for p, q in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_reduce_gradients_runs_between_backward_and_update():
    net, opt, X, y = _step_setup()
    before = [np.array(p.data) for p in net.parameters()]
    calls = []

    def halve(params, weight):
        calls.append((params, weight))
        for p, old in zip(params, before, strict=True):
            assert p.grad is not None and p.grad.shape == p.shape  # after backward
            np.testing.assert_array_equal(p.data, old)  # before the update
            p.grad = p.grad * 0.5
        return weight

    train_step(net, MSELoss(), opt, X, y, reduce_gradients=halve)
    assert len(calls) == 1 and calls[0][0] is opt.params and calls[0][1] == 8

    half, half_opt, _, _ = _step_setup(lr=0.05)
    train_step(half, MSELoss(), half_opt, X, y)
    for p, q in zip(net.parameters(), half.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)  # halved gradients = half the learning rate
