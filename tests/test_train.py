"""The fit loop: convergence, determinism, devices, stopping rules, the sync budget, divergence, one step."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TOLERANCES, Case

import gpubp
from gpubp import SGD, MSELoss, Trainer, TrainingDiverged, mlp, train_step
from gpubp.backend import resolve, to_host
from gpubp.datasets import Standardizer, load_dataset, split_indices
from gpubp.train import evaluate_sums


def split_data(name: str, seed: int = 0):
    """A built-in data set with original labels, split 70/10/20 (stratified for classes)."""
    ds = load_dataset(name, seed=seed)
    classify = ds.task == "classify"
    split = split_indices(len(ds.X), val_fraction=0.1, test_fraction=0.2, seed=seed, y=ds.y if classify else None)
    labels = np.asarray(ds.classes)[ds.y] if classify else ds.y
    return ds.X, labels, split


def fit(model: gpubp.Model, name: str, **kwargs):
    X, y, split = split_data(name)
    history = model.fit(X[split.train], y[split.train], X_val=X[split.val], y_val=y[split.val], **kwargs)
    return history, X, y, split


def weights(model: gpubp.Model) -> list[np.ndarray]:
    return [np.array(to_host(p.data)) for p in model.net.parameters()]


# -- convergence with small budgets -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "settings", "metric", "threshold"),
    [
        ("xor", {"hidden": (16,), "max_epochs": 50}, "accuracy", 0.95),
        ("spirals", {"hidden": (32, 32), "lr": 0.01, "max_epochs": 150, "patience": 30}, "accuracy", 0.9),
        ("sine", {"hidden": (32, 32), "lr": 0.01, "max_epochs": 200, "patience": 20}, "r2", 0.95),
        ("digits", {"hidden": (64,), "max_epochs": 30}, "accuracy", 0.95),
    ],
)
def test_converges_on_builtin_data(name, settings, metric, threshold):
    model = gpubp.Model(backend="numpy", **settings)
    history, X, y, split = fit(model, name)
    test = model.evaluate(X[split.test], y[split.test])
    assert test[metric] >= threshold, f"{name}: test {metric} {test[metric]:.4f} after {len(history.epochs)} epochs"
    assert history.column("train_loss")[-1] < history.column("train_loss")[0]


# -- determinism ---------------------------------------------------------------------


def _train(seed: int) -> gpubp.Model:
    model = gpubp.Model(hidden=(16, 8), max_epochs=8, patience=100, seed=seed, backend="numpy")
    fit(model, "spirals")
    return model


def test_same_seed_same_history_and_weights_bit_for_bit():
    a, b = _train(0), _train(0)
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert a.history.column(key) == b.history.column(key), key
    assert a.history.best_epoch == b.history.best_epoch
    for wa, wb in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_different_seed_different_history():
    a, b = _train(0), _train(1)
    assert a.history.column("train_loss") != b.history.column("train_loss")
    assert any(not np.array_equal(wa, wb) for wa, wb in zip(weights(a), weights(b), strict=True))


# -- devices ----------------------------------------------------------------------


def test_trainer_on_a_non_default_device_keeps_everything_there():
    pytest.importorskip("array_api_strict")
    backend = resolve("array_api_strict", "device1")
    X, y, split = split_data("xor")
    scaler = Standardizer().fit(X[split.train])
    labels = (y == 1).astype(np.int64)
    X_dev = backend.asarray(scaler.transform(X[split.train]), dtype=backend.xp.float32)
    y_dev = backend.asarray(labels[split.train], dtype=backend.xp.int64)
    X_val = backend.asarray(scaler.transform(X[split.val]), dtype=backend.xp.float32)
    y_val = backend.asarray(labels[split.val], dtype=backend.xp.int64)
    assert X_dev.device == backend.device and y_dev.device == backend.device
    net = mlp([2, 16, 2], backend=backend)
    trainer = Trainer(net, gpubp.CrossEntropyLoss(), gpubp.Adam(net.parameters(), lr=0.01), "classify", max_epochs=5)
    history = trainer.fit(X_dev, y_dev, X_val, y_val)
    assert len(history.epochs) == 5
    assert all(np.isfinite(r["train_loss"]) and 0 <= r["val_accuracy"] <= 1 for r in history.epochs)
    case = Case(backend, "float32")
    for p in net.parameters():
        case.assert_array(p.data, p.shape)  # namespace, device1, float32


def test_float64_on_device1_predicts_like_numpy():
    pytest.importorskip("array_api_strict")
    common = {"hidden": (16,), "max_epochs": 10, "patience": 100, "dtype": "float64"}
    reference = gpubp.Model(backend="numpy", **common)
    strict = gpubp.Model(backend="array_api_strict", device="device1", **common)
    _, X, _, split = fit(reference, "spirals")
    fit(strict, "spirals")
    rtol, atol = TOLERANCES["float32"]
    np.testing.assert_allclose(strict.history.column("train_loss"), reference.history.column("train_loss"), rtol=rtol)
    np.testing.assert_allclose(
        strict.predict_proba(X[split.test]), reference.predict_proba(X[split.test]), rtol=rtol, atol=atol
    )
    np.testing.assert_array_equal(strict.predict(X[split.test]), reference.predict(X[split.test]))


@pytest.mark.parametrize("backend", [("array_api_strict", "device1"), ("torch", "cpu")], ids=lambda b: b[0])
def test_first_epoch_losses_agree_across_backends(backend):
    pytest.importorskip(backend[0])
    common = {"hidden": (32,), "max_epochs": 2, "patience": 100}
    reference = gpubp.Model(backend="numpy", **common)
    other = gpubp.Model(backend=backend[0], device=backend[1], **common)
    fit(reference, "digits")
    fit(other, "digits")
    rtol = 10 * TOLERANCES["float32"][0]  # two epochs of float32 sums in a different order
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(other.history.column(key), reference.history.column(key), rtol=rtol, err_msg=key)


# -- stopping rules -------------------------------------------------------------------


def test_early_stopping_waits_patience_epochs_and_restores_the_best_weights():
    patience = 3
    model = gpubp.Model(hidden=(64, 64), lr=0.05, max_epochs=300, patience=patience, backend="numpy")
    history, X, y, split = fit(model, "sine")
    val = history.column("val_loss")
    assert history.stopped == "converged"
    assert len(history.epochs) == history.best_epoch + patience < 300
    best = val[history.best_epoch - 1]
    assert best == min(val)
    assert all(v >= best - model.tol for v in val[history.best_epoch :])
    assert val[-1] != best  # restoring mattered
    assert model.evaluate(X[split.val], y[split.val])["loss"] == pytest.approx(best, rel=1e-12)


def test_no_improvement_beyond_tol_stops_after_patience_with_the_first_epoch_weights():
    seen = []
    model = gpubp.Model(hidden=(8,), tol=1e6, patience=2, max_epochs=50, backend="numpy")
    history, X, y, split = fit(model, "xor", callbacks=[lambda record: seen.append(dict(record))])
    assert history.stopped == "converged" and history.best_epoch == 1
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3]
    assert seen == history.epochs  # the converging epoch is reported to callbacks too
    assert model.evaluate(X[split.val], y[split.val])["loss"] == pytest.approx(history.epochs[0]["val_loss"], rel=1e-12)


def test_max_epochs_is_respected():
    model = gpubp.Model(hidden=(8,), max_epochs=3, patience=100, backend="numpy")
    history, *_ = fit(model, "xor")
    assert history.stopped == "max_epochs"
    assert history.column("epoch") == [1, 2, 3]


def test_a_callback_returning_true_stops_and_every_callback_sees_every_epoch():
    first, second = [], []

    def stop_at_two(record):
        first.append(record)
        return record["epoch"] == 2

    model = gpubp.Model(hidden=(8,), max_epochs=20, patience=100, backend="numpy")
    history, *_ = fit(model, "xor", callbacks=[stop_at_two, second.append])
    assert history.stopped == "callback"
    assert history.column("epoch") == [1, 2]
    assert first == second == history.epochs
    for record in first:
        assert {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds", "to_host", "to_device"} <= set(record)


def test_a_truthy_but_not_true_callback_result_does_not_stop():
    model = gpubp.Model(hidden=(8,), max_epochs=3, patience=100, backend="numpy")
    history, *_ = fit(model, "xor", callbacks=[lambda record: 1])
    assert history.stopped == "max_epochs"


def test_validation_accuracy_reads_index_one_hot_and_column_targets_alike():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=50)
    net = mlp([3, 8, 3], backend="numpy")
    expected = np.sum(np.argmax(net.forward(X), axis=1) == labels)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    assert evaluate_sums(net, gpubp.CrossEntropyLoss(), X, labels, "classify")[1] == expected
    assert evaluate_sums(net, MSELoss(), X, one_hot, "classify")[1] == expected  # the mse loss's targets
    binary = mlp([3, 8, 1], backend="numpy")
    hits = np.sum((binary.forward(X)[:, 0] > 0) == (labels == 1))
    column = (labels == 1).astype(np.float32)[:, None]  # (n, 1), like the logits
    assert evaluate_sums(binary, gpubp.BCEWithLogitsLoss(), X, column, "classify")[1] == hits


# -- the host-sync budget -------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", [("numpy", None), ("array_api_strict", "device1"), ("torch", "cpu")], ids=lambda b: b[0]
)
def test_each_epoch_copies_one_permutation_up_and_one_stats_vector_down(backend):
    pytest.importorskip(backend[0])
    model = gpubp.Model(hidden=(8,), max_epochs=3, patience=100, batch_size=32, backend=backend[0], device=backend[1])
    history, *_ = fit(model, "sine")
    assert len(history.epochs) == 3
    for record in history.epochs:
        assert record["to_host"] == 1, record
        assert record["to_device"] == 1, record
        assert record["steps"] == -(-350 // 32)  # sine: 350 training rows


# -- divergence -----------------------------------------------------------------------


def test_a_huge_learning_rate_raises_training_diverged_naming_epoch_and_step():
    model = gpubp.Model(hidden=(16,), optimizer="sgd", lr=1e6, max_epochs=5, backend="numpy")
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+") as info:
        fit(model, "sine")
    assert info.value.epoch == 1
    assert 1 <= info.value.step <= -(-350 // 64)
    assert info.value.exit_code == 3
    assert model.history.epochs == [] and model.history.best_epoch == 0
    assert model.history.stopped == "diverged"


def test_divergence_after_good_epochs_restores_the_best_weights():
    model = gpubp.Model(hidden=(16,), optimizer="sgd", lr=0.05, max_epochs=10, patience=100, backend="numpy")

    def blow_up(record):
        if record["epoch"] == 2:
            model.optim.lr = 1e6

    with pytest.raises(TrainingDiverged) as info:
        fit(model, "sine", callbacks=[blow_up])
    assert info.value.epoch == 3 and info.value.step >= 1
    history = model.history
    assert history.column("epoch") == [1, 2] and history.best_epoch in (1, 2)
    assert all(np.all(np.isfinite(w)) for w in weights(model))
    X, y, split = split_data("sine")
    best = history.epochs[history.best_epoch - 1]["val_loss"]
    assert model.evaluate(X[split.val], y[split.val])["loss"] == pytest.approx(best, rel=1e-12)


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


def test_reduce_gradients_runs_between_backward_and_update():
    net, opt, X, y = _step_setup()
    before = [np.array(p.data) for p in net.parameters()]
    calls = []

    def halve(params):
        calls.append(params)
        for p, old in zip(params, before, strict=True):
            assert p.grad is not None and p.grad.shape == p.shape  # after backward
            np.testing.assert_array_equal(p.data, old)  # before the update
            p.grad = p.grad * 0.5

    train_step(net, MSELoss(), opt, X, y, reduce_gradients=halve)
    assert len(calls) == 1 and calls[0] is opt.params

    half, half_opt, _, _ = _step_setup(lr=0.05)
    train_step(half, MSELoss(), half_opt, X, y)
    for p, q in zip(net.parameters(), half.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)  # halved gradients = half the learning rate
