"""The estimator API: fit / predict / predict_proba / evaluate on host arrays, save and load, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gpubp
from gpubp import GpubpError
from gpubp.datasets import load_dataset, split_indices
from gpubp.io import load_model_file


@pytest.fixture(scope="module")
def digits():
    """Digits with original labels: (X_train, y_train, X_test, y_test)."""
    ds = load_dataset("digits")
    split = split_indices(len(ds.X), val_fraction=0.0, test_fraction=0.2, seed=0, y=ds.y)
    return ds.X[split.train], ds.y[split.train], ds.X[split.test], ds.y[split.test]


@pytest.fixture(scope="module")
def digits_model(digits):
    X, y, _, _ = digits
    model = gpubp.Model(hidden=(32,), max_epochs=15, backend="numpy", seed=3)
    model.fit(X, y)
    return model


@pytest.fixture(scope="module")
def xor():
    ds = load_dataset("xor")
    return ds.X, ds.y


# -- fit / predict / predict_proba / evaluate ------------------------------------------


def test_fit_predict_evaluate_on_host_arrays(digits, digits_model):
    _, _, X_test, y_test = digits
    pred = digits_model.predict(X_test)
    assert isinstance(pred, np.ndarray) and pred.shape == (len(X_test),)
    assert set(pred.tolist()) <= set(range(10))
    proba = digits_model.predict_proba(X_test)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X_test), 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), pred)  # classes are 0..9 in order
    metrics = digits_model.evaluate(X_test, y_test)
    assert set(metrics) == {"accuracy", "loss"}
    assert metrics["accuracy"] == pytest.approx(np.mean(pred == y_test), abs=1e-12)
    assert metrics["accuracy"] > 0.9 and 0 < metrics["loss"] < 1


def test_accepts_lists_and_device_arrays():
    torch = pytest.importorskip("torch")
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10
    y = [0, 1, 1, 0] * 10
    model = gpubp.Model(hidden=(8,), max_epochs=2, val_fraction=0.0, backend="numpy")
    model.fit(X, y)
    np.testing.assert_array_equal(model.predict(torch.asarray(X)), model.predict(np.asarray(X)))


def test_string_labels_round_trip(xor, tmp_path):
    X, y = xor
    labels = np.where(y == 1, "yes", "no")
    model = gpubp.Model(hidden=(16,), max_epochs=60, backend="numpy")
    model.fit(X, labels)
    assert model.classes == ["no", "yes"]
    pred = model.predict(X)
    assert set(pred.tolist()) <= {"no", "yes"}
    assert np.mean(pred == labels) > 0.9
    assert model.evaluate(X, labels)["accuracy"] == pytest.approx(np.mean(pred == labels))
    model.save(tmp_path / "m.safetensors")
    loaded = gpubp.load(tmp_path / "m.safetensors", backend="numpy")
    assert loaded.classes == ["no", "yes"]
    np.testing.assert_array_equal(loaded.predict(X), pred)


def test_bce_uses_one_output_and_gives_two_probabilities(xor):
    X, y = xor
    model = gpubp.Model(hidden=(16,), loss="bce", max_epochs=60, backend="numpy")
    model.fit(X, y)
    assert model.loss_name == "bce" and model.n_outputs == 1
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), (proba[:, 1] > 0.5).astype(int))
    assert model.evaluate(X, y)["accuracy"] > 0.9


def test_bce_with_more_than_two_classes_is_refused(digits):
    X, y, _, _ = digits
    with pytest.raises(GpubpError, match="bce needs exactly 2 classes"):
        gpubp.Model(loss="bce", backend="numpy").fit(X, y)


def test_mse_classification_has_one_output_per_class(xor):
    X, y = xor
    model = gpubp.Model(hidden=(16,), loss="mse", max_epochs=60, backend="numpy")
    model.fit(X, y)
    assert model.loss_name == "mse" and model.n_outputs == 2
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    assert model.evaluate(X, y)["accuracy"] > 0.9


def test_regression_with_two_targets():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(600, 2))
    Y = np.stack([np.sin(X[:, 0]), 100.0 + X[:, 1] ** 2], axis=1)  # very different means
    model = gpubp.Model(hidden=(32, 32), lr=0.01, max_epochs=60, patience=100, backend="numpy")
    model.fit(X, Y)
    assert model.task_ == "regress" and model.n_outputs == 2
    pred = model.predict(X)
    assert pred.shape == (600, 2)
    with pytest.raises(GpubpError, match="needs a classification model"):
        model.predict_proba(X)
    metrics = model.evaluate(X, Y)
    sse, sst = np.sum((pred - Y) ** 2), np.sum((Y - Y.mean(axis=0)) ** 2)
    assert metrics["mse"] == pytest.approx(sse / Y.size, rel=1e-4)
    assert metrics["r2"] == pytest.approx(1 - sse / sst, rel=1e-4, abs=1e-4)  # R^2 over both targets
    last = model.history.epochs[-1]
    assert last["val_r2"] <= 1 and last["val_mse"] == pytest.approx(last["val_loss"], rel=1e-6)


def test_r2_of_per_column_means_is_zero():
    """Predicting each target's mean is the R^2 = 0 baseline, whatever the targets' offsets."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.stack([rng.normal(size=200), 1000.0 + rng.normal(size=200)], axis=1)
    model = gpubp.Model(hidden=(4,), max_epochs=1, val_fraction=0.0, backend="numpy", dtype="float64")
    model.fit(X, Y)
    for p in model.net.parameters():  # a network that outputs exactly the column means
        p.data[...] = 0
    model.net.layers[-1].bias.data[...] = Y.mean(axis=0)
    metrics = model.evaluate(X, Y)
    assert metrics["r2"] == pytest.approx(0.0, abs=1e-9)


def test_numpy_scalars_as_hyperparameters_train_and_save(xor, tmp_path):
    X, y = xor
    model = gpubp.Model(
        hidden=(np.int64(8),), lr=np.float32(0.01), batch_size=np.int64(32), max_epochs=np.int32(2), seed=np.int64(4)
    )
    model.fit(X, y)
    model.save(tmp_path / "m.safetensors")
    hp = load_model_file(tmp_path / "m.safetensors")[1]["hyperparameters"]
    assert hp["hidden"] == [8] and hp["batch_size"] == 32 and hp["seed"] == 4
    assert hp["lr"] == pytest.approx(0.01)


def test_predict_before_fit_is_an_error():
    with pytest.raises(GpubpError, match="not trained yet"):
        gpubp.Model(backend="numpy").predict(np.zeros((2, 3)))


# -- save and load -------------------------------------------------------------------------

BACKENDS = [("numpy", None), ("torch", "cpu"), ("array_api_strict", "device1")]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b[0])
def test_save_then_load_on_any_backend(digits, digits_model, tmp_path, backend):
    pytest.importorskip(backend[0])
    _, _, X_test, y_test = digits
    path = tmp_path / "digits.safetensors"
    digits_model.save(path)
    loaded = gpubp.load(path, backend=backend[0], device=backend[1])
    assert loaded.backend.name == backend[0]
    assert gpubp.backend.device_name(loaded.backend.device) == (backend[1] or "cpu")
    assert loaded.evaluate(X_test, y_test)["accuracy"] == digits_model.evaluate(X_test, y_test)["accuracy"]
    np.testing.assert_allclose(loaded.predict_proba(X_test), digits_model.predict_proba(X_test), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(loaded.predict(X_test), digits_model.predict(X_test))


def test_checkpoint_metadata(digits_model, tmp_path):
    path = tmp_path / "digits.safetensors"
    digits_model.save(path, extra={"note": "hello"})
    tensors, meta = load_model_file(path)
    assert set(tensors) == set(digits_model.net.state_dict())
    assert [layer["type"] for layer in meta["architecture"]["layers"]] == ["Linear", "ReLU", "Linear"]
    assert meta["activation"] == "relu" and meta["loss"] == "ce" and meta["task"] == "classify"
    assert meta["classes"] == list(range(10))
    assert meta["n_features"] == 64 and meta["n_outputs"] == 10
    assert len(meta["standardizer"]["mean"]) == len(meta["standardizer"]["scale"]) == 64
    assert meta["dtype"] == "float32" and meta["seed"] == 3
    assert meta["trained_on"]["backend"] == "numpy" and meta["trained_on"]["device"] == "cpu"
    assert meta["versions"]["gpubp"] == gpubp.__version__ and meta["versions"]["numpy"] == np.__version__
    assert meta["hyperparameters"]["hidden"] == [32] and meta["hyperparameters"]["max_epochs"] == 15
    assert meta["history"]["epochs_run"] == len(digits_model.history.epochs)
    assert meta["note"] == "hello"
    json.dumps(meta, allow_nan=False)  # plain JSON


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        ({"lr": 0}, "--lr"),
        ({"lr": -0.1}, "--lr"),
        ({"lr": math.nan}, "--lr"),
        ({"lr": math.inf}, "--lr"),
        ({"max_epochs": 0}, "--epochs"),
        ({"max_epochs": 2.5}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"batch_size": -1}, "--batch-size"),
        ({"hidden": (0,)}, "--hidden"),
        ({"hidden": (16, -3)}, "--hidden"),
        ({"hidden": (8, 2.5)}, "--hidden"),
        ({"activation": "foo"}, "--activation"),
        ({"loss": "foo"}, "--loss"),
        ({"optimizer": "foo"}, "--optimizer"),
        ({"backend": "foo"}, "--backend"),
        ({"dtype": "float16"}, "--dtype"),
        ({"task": "foo"}, "--task"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"val_fraction": -0.1}, "--val-fraction"),
        ({"val_fraction": math.nan}, "--val-fraction"),
        ({"patience": 0}, "--patience"),
        ({"tol": -1.0}, "--tol"),
        ({"seed": -1}, "--seed"),
        ({"weight_decay": -1.0}, "--weight-decay"),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_invalid_hyperparameters_are_refused_at_construction(settings, flag):
    with pytest.raises(GpubpError) as info:
        gpubp.Model(**{"backend": "numpy", **settings})
    assert str(info.value).startswith(flag)
    assert "\n" not in str(info.value)


def test_float64_on_a_device_without_it():
    pytest.importorskip("array_api_strict")
    with pytest.raises(GpubpError, match="no_float64 has no float64"):
        gpubp.Model(backend="array_api_strict", device="no_float64", dtype="float64")
    gpubp.Model(backend="array_api_strict", device="no_float64", dtype="float32")  # float32 is fine


def test_wrong_feature_count_names_both_counts(digits, digits_model):
    _, _, X_test, y_test = digits
    for call in (digits_model.predict, digits_model.predict_proba):
        with pytest.raises(GpubpError, match="X has 63 features but the model was trained on 64"):
            call(X_test[:, :63])
    with pytest.raises(GpubpError, match="X has 65 features but the model was trained on 64"):
        digits_model.evaluate(np.hstack([X_test, X_test[:, :1]]), y_test)


def test_unseen_labels_in_evaluate(digits, digits_model):
    _, _, X_test, y_test = digits
    y = y_test.copy()
    y[5] = 11
    with pytest.raises(GpubpError, match="row 5 has label 11, which the model was not trained on"):
        digits_model.evaluate(X_test, y)
    with pytest.raises(GpubpError, match="not trained on"):
        digits_model.evaluate(X_test, np.where(y_test == 0, "zero", "other"))


def test_nan_in_features_is_refused(digits, digits_model):
    X, y, X_test, _ = digits
    X = X.copy()
    X[7, 3] = np.nan
    with pytest.raises(GpubpError, match=r"X has a non-finite value \(nan\) at row 7, column 3"):
        gpubp.Model(backend="numpy").fit(X, y)
    X_test = X_test.copy()
    X_test[0, 0] = np.inf
    with pytest.raises(GpubpError, match="non-finite"):
        digits_model.predict(X_test)


def test_mismatched_rows_and_one_class():
    X = np.zeros((10, 2))
    with pytest.raises(GpubpError, match="X has 10 rows but y has 9"):
        gpubp.Model(backend="numpy").fit(X, np.arange(9) % 2)
    with pytest.raises(GpubpError, match="at least 2 classes"):
        gpubp.Model(backend="numpy", val_fraction=0.0, task="classify").fit(X, np.zeros(10, dtype=int))
