"""The estimators: scikit-learn's MLP API on host arrays, every target kind, saving, and bad input.

scikit-learn's own contract (check_estimator, pipelines, searches, pickling)
is in test_sklearn_compat.py; array-library inputs in test_array_inputs.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import gpubp
from gpubp import GpubpError, MLPClassifier, MLPRegressor, ParameterError
from gpubp.data import load_dataset, split_indices
from gpubp.io import load_model_file


@pytest.fixture(scope="module")
def digits():
    """Digits: (X_train, y_train, X_test, y_test)."""
    ds = load_dataset("digits")
    split = split_indices(len(ds.X), validation_fraction=0.0, test_fraction=0.2, seed=0, y=ds.y)
    return ds.X[split.train], ds.y[split.train], ds.X[split.test], ds.y[split.test]


@pytest.fixture(scope="module")
def digits_model(digits):
    X, y, _, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((32,), max_iter=15, batch_size=32, backend="numpy", random_state=3, standardize=True).fit(
            X, y
        )


@pytest.fixture(scope="module")
def xor():
    ds = load_dataset("xor")
    return ds.X, ds.y


def quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# -- fit / predict / predict_proba / evaluate ------------------------------------------


def test_fit_returns_self_and_sets_scikit_learns_attributes(digits, digits_model):
    X, y, X_test, y_test = digits
    m = digits_model
    assert m.n_features_in_ == 64 and m.n_outputs_ == 10 and m.n_layers_ == 3 and m.out_activation_ == "softmax"
    np.testing.assert_array_equal(m.classes_, np.arange(10))
    assert [c.shape for c in m.coefs_] == [(64, 32), (32, 10)] and [b.shape for b in m.intercepts_] == [(32,), (10,)]
    assert m.n_iter_ == 15 and m.t_ == 15 * len(X) and len(m.loss_curve_) == 15
    assert m.loss_ == m.loss_curve_[-1] and m.best_loss_ == min(m.loss_curve_)
    assert m.validation_scores_ is None and m.best_validation_score_ is None
    assert [r["epoch"] for r in m.history_.epochs] == list(range(1, 16))
    pred = m.predict(X_test)
    assert isinstance(pred, np.ndarray) and pred.shape == (len(X_test),) and set(pred.tolist()) <= set(range(10))
    proba = m.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and proba.dtype == X_test.dtype  # the input's dtype, as scikit-learn
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), pred)
    np.testing.assert_allclose(m.predict_log_proba(X_test), np.log(proba))
    assert m.score(X_test, y_test) == pytest.approx(np.mean(pred == y_test))
    metrics = m.evaluate(X_test, y_test)
    assert set(metrics) == {"accuracy", "loss"} and metrics["accuracy"] == pytest.approx(np.mean(pred == y_test))
    assert metrics["accuracy"] > 0.9 and 0 < metrics["loss"] < 1


def test_standardize_learns_the_training_statistics(digits, digits_model):
    X = digits[0]
    np.testing.assert_allclose(digits_model.feature_mean_, X.mean(axis=0), rtol=1e-5, atol=1e-6)
    constant = X.std(axis=0) == 0
    assert np.all(digits_model.feature_scale_[constant] == 1.0)
    assert MLPClassifier().standardize is False  # scikit-learn's behaviour by default


def test_string_labels_round_trip(xor, tmp_path):
    X, y = xor
    labels = np.where(y == 1, "yes", "no")
    model = quiet_fit(
        MLPClassifier((16,), max_iter=60, batch_size=32, learning_rate_init=0.01, random_state=0), X, labels
    )
    assert model.classes_.tolist() == ["no", "yes"] and model.n_outputs_ == 1 and model.out_activation_ == "logistic"
    pred = model.predict(X)
    assert set(pred.tolist()) <= {"no", "yes"} and np.mean(pred == labels) > 0.9
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(pred, np.where(proba[:, 1] > 0.5, "yes", "no"))
    model.save(tmp_path / "m.safetensors")
    loaded = gpubp.load(tmp_path / "m.safetensors", backend="numpy")
    assert isinstance(loaded, MLPClassifier) and loaded.classes_.tolist() == ["no", "yes"]
    np.testing.assert_array_equal(loaded.predict(X), pred)


def test_multilabel_indicator_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5], axis=1).astype(int)
    model = quiet_fit(MLPClassifier((32,), max_iter=100, batch_size=32, random_state=0), X, Y)
    assert model.n_outputs_ == 3 and model.out_activation_ == "logistic"
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    pred = model.predict(X)
    assert pred.shape == (300, 3) and set(np.unique(pred)) <= {0, 1}
    assert model.predict_proba(X).shape == (300, 3)
    assert model.score(X, Y) > 0.8  # subset accuracy, as scikit-learn's


def test_regression_with_two_targets():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(600, 2))
    Y = np.stack([np.sin(X[:, 0]), 10.0 + X[:, 1] ** 2], axis=1)
    model = quiet_fit(
        MLPRegressor(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=60, random_state=0), X, Y
    )
    assert model.n_outputs_ == 2 and model.out_activation_ == "identity"
    pred = model.predict(X)
    assert pred.shape == (600, 2)
    metrics = model.evaluate(X, Y)
    sse, sst = np.sum((pred - Y) ** 2, axis=0), np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    assert metrics["mse"] == pytest.approx(sse.sum() / Y.size, rel=1e-4)
    assert metrics["r2"] == pytest.approx(np.mean(1 - sse / sst), rel=1e-4)  # averaged per output, as r2_score
    assert metrics["loss"] == pytest.approx(metrics["mse"] / 2, rel=1e-4)  # scikit-learn's squared_error is half
    assert model.score(X, Y) == pytest.approx(metrics["r2"], rel=1e-4)
    assert not hasattr(model, "predict_proba")


def test_poisson_regression_predicts_positive_means():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(400, 2))
    y = rng.poisson(np.exp(1 + X[:, 0] - X[:, 1]))
    model = quiet_fit(MLPRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=200, random_state=0), X, y)
    assert model.out_activation_ == "exp"
    pred = model.predict(X)
    assert np.all(pred > 0) and np.corrcoef(pred, np.exp(1 + X[:, 0] - X[:, 1]))[0, 1] > 0.9
    with pytest.raises(GpubpError, match="negative"):
        MLPRegressor(loss="poisson").fit(X, -y)


def test_early_stopping_keeps_the_best_validation_score(digits):
    X, y, _, _ = digits
    m = quiet_fit(MLPClassifier((16,), early_stopping=True, max_iter=40, random_state=0, n_iter_no_change=3), X, y)
    scores = m.validation_scores_
    assert len(scores) == m.n_iter_ and m.best_validation_score_ == max(scores) and m.best_loss_ is None
    assert m.history_.best_epoch == scores.index(max(scores)) + 1
    assert all("val_loss" in r and "val_accuracy" in r for r in m.history_.epochs)  # the validation loss, per epoch
    if m.n_iter_ < 40:
        assert m.history_.stopped == "converged"


def test_sample_weight_zero_is_removing_the_row(xor):
    X, y = xor
    keep = np.arange(len(X)) % 3 != 0
    a = quiet_fit(MLPClassifier((8,), max_iter=5, batch_size=len(X), dtype="float64", random_state=0, shuffle=False),
                  X, y, sample_weight=keep.astype(float))  # fmt: skip
    b = quiet_fit(MLPClassifier((8,), max_iter=5, batch_size=int(keep.sum()), dtype="float64", random_state=0,
                                shuffle=False), X[keep], y[keep])  # fmt: skip
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)
    with pytest.raises(GpubpError, match="non-zero"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(len(X)))
    with pytest.raises(GpubpError, match="only one class has positive sample weight"):
        MLPClassifier().fit(X, y, sample_weight=(y == 1).astype(float))


def test_partial_fit_needs_classes_first_and_runs_one_epoch(xor):
    X, y = xor
    model = MLPClassifier((8,), random_state=0)
    with pytest.raises(GpubpError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[:100], y[:100], classes=[0, 1])
    model.partial_fit(X[100:], y[100:])
    assert model.n_iter_ == 1 and model.t_ == len(X) and len(model.loss_curve_) == 2
    with pytest.raises(GpubpError, match="classes not in classes_"):
        model.partial_fit(X[:5], np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ParameterError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_warm_start_continues_from_the_weights(xor):
    X, y = xor
    model = quiet_fit(MLPClassifier((8,), max_iter=3, warm_start=True, random_state=0), X, y)
    before = [w.copy() for w in model.coefs_]
    quiet_fit(model, X, y)
    assert len(model.loss_curve_) == 6 and model.n_iter_ == 3
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.coefs_, strict=True))
    fresh = quiet_fit(MLPClassifier((8,), max_iter=3, random_state=0), X, y)
    assert len(fresh.loss_curve_) == 3


def test_solvers_and_schedules(xor):
    X, y = xor
    lbfgs = quiet_fit(MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0), X, y)
    assert lbfgs.score(X, y) > 0.9 and lbfgs.n_iter_ > 0 and not hasattr(lbfgs, "loss_curve_")
    inv = quiet_fit(MLPClassifier((8,), solver="sgd", learning_rate="invscaling", max_iter=3, random_state=0), X, y)
    rates = [r["learning_rate"] for r in inv.history_.epochs]
    assert rates[0] == 1e-3 and rates[1] == pytest.approx(1e-3 / (len(X) + 1) ** 0.5)
    adaptive = quiet_fit(
        MLPClassifier((8,), solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=10.0, max_iter=6), X, y
    )
    assert [r["learning_rate"] for r in adaptive.history_.epochs][-1] < 1e-3  # divided by 5 when stuck
    constant = quiet_fit(MLPClassifier((8,), solver="adam", learning_rate="invscaling", max_iter=2), X, y)
    assert {r["learning_rate"] for r in constant.history_.epochs} == {1e-3}  # schedules are for sgd only


def test_max_iter_warns_as_scikit_learn(xor):
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        MLPClassifier((4,), max_iter=2).fit(*xor)


def test_same_seed_same_weights_bit_for_bit(xor):
    a = quiet_fit(MLPClassifier((8,), max_iter=3, random_state=7), *xor)
    b = quiet_fit(MLPClassifier((8,), max_iter=3, random_state=7), *xor)
    c = quiet_fit(MLPClassifier((8,), max_iter=3, random_state=8), *xor)
    for wa, wb in zip(a.coefs_, b.coefs_, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    assert a.loss_curve_ == b.loss_curve_


# -- saving and loading --------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict", "torch"])
def test_save_then_load_on_any_backend(digits, digits_model, tmp_path, backend):
    pytest.importorskip(backend)
    path = tmp_path / "digits.safetensors"
    digits_model.save(path)
    loaded = gpubp.load(path, backend=backend)
    assert loaded.backend_ == f"{backend} on {'CPU_DEVICE' if backend == 'array_api_strict' else 'cpu'}"
    X_test = digits[2]
    np.testing.assert_allclose(loaded.predict_proba(X_test), digits_model.predict_proba(X_test), rtol=1e-5, atol=1e-6)
    assert loaded.get_params() == digits_model.get_params()
    assert loaded.loss_curve_ == digits_model.loss_curve_ and loaded.n_iter_ == digits_model.n_iter_


def test_model_file_is_data_not_pickle(digits_model, tmp_path):
    path = tmp_path / "m.safetensors"
    digits_model.save(path, extra={"note": "kept"})
    tensors, meta = load_model_file(path)
    assert set(tensors) == {"0.weight", "0.bias", "2.weight", "2.bias", "standardize.mean", "standardize.scale"}
    assert tensors["0.weight"].shape == (64, 32) and tensors["0.weight"].dtype == np.float32
    assert meta["estimator"] == "MLPClassifier" and meta["params"]["hidden_layer_sizes"] == [32]
    assert meta["fitted"]["classes_"] == list(range(10)) and meta["note"] == "kept"
    assert meta["trained_on"] == {"backend": "numpy", "device": "cpu", "fallback_reason": None, "dtype": "float32"}


def test_unfitted_estimators_say_so(tmp_path):
    for est in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            est.predict(np.zeros((2, 3)))
        with pytest.raises(GpubpError, match="not fitted yet"):
            est.save(tmp_path / "m.safetensors")
        assert not hasattr(est, "coefs_")


# -- bad input: the library's own errors, naming parameters ----------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes=(0,): must be positive integers"),
        ({"hidden_layer_sizes": "128,64"}, "hidden_layer_sizes='128,64'"),
        ({"activation": "swish"}, "activation='swish': must be one of"),
        ({"solver": "rmsprop"}, "solver='rmsprop'"),
        ({"learning_rate_init": 0.0}, "learning_rate_init=0.0: must be a finite number > 0"),
        ({"max_iter": 0}, "max_iter=0: must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size=0: must be one of 'auto' or an integer >= 1"),
        ({"alpha": float("nan")}, "alpha=nan"),
        ({"momentum": 1.5}, "momentum=1.5"),
        ({"validation_fraction": 1.0}, "validation_fraction=1.0"),
        ({"n_iter_no_change": 0}, "n_iter_no_change=0: must be an integer >= 1 or inf"),
        ({"random_state": -1}, "random_state=-1"),
        ({"dtype": "float16"}, "dtype='float16'"),
        ({"backend": "jax"}, "backend='jax'"),
        ({"shuffle": "yes"}, "shuffle='yes': must be True or False"),
    ],
)
def test_bad_settings_are_refused_in_fit_naming_the_parameter(xor, params, message):
    est = MLPClassifier(**params)  # stored unchanged, as scikit-learn does
    assert est.get_params()[next(iter(params))] is next(iter(params.values()))
    with pytest.raises(ParameterError, match=message.replace("(", "\\(").replace(")", "\\)")):
        est.fit(*xor)


def test_numpy_scalars_are_fine_settings(xor, tmp_path):
    est = quiet_fit(
        MLPClassifier((np.int64(8),), learning_rate_init=np.float32(0.01), batch_size=np.int64(32),
                      max_iter=np.int32(2), random_state=np.int64(4)),
        *xor,
    )  # fmt: skip
    est.save(tmp_path / "m.safetensors")
    params = load_model_file(tmp_path / "m.safetensors")[1]["params"]
    assert params["batch_size"] == 32 and params["random_state"] == 4 and params["hidden_layer_sizes"] == [8]


def test_input_errors_are_gpubps_own(digits_model, xor):
    X, y = xor
    with pytest.raises(GpubpError, match="X has 3 features, but MLPClassifier is expecting 64 features"):
        digits_model.predict(np.zeros((2, 3)))
    with pytest.raises(GpubpError, match="NaN"):
        MLPClassifier().fit(np.where(X > 1, np.nan, X), y)
    with pytest.raises(GpubpError, match="inconsistent numbers of samples"):
        MLPClassifier().fit(X, y[:-1])
    with pytest.raises(GpubpError, match="only one class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(GpubpError, match="Unknown label type"):
        MLPClassifier().fit(X, X[:, 0])
    with pytest.raises(GpubpError, match="0 sample"):
        MLPClassifier().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(GpubpError, match="validation set is too small"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X[:20], y[:20])


def test_too_wide_layers_are_refused_before_allocating(xor):
    with pytest.raises(ParameterError, match="hidden_layer_sizes=\\(100000000000,\\): not enough memory"):
        MLPClassifier((100_000_000_000,)).fit(*xor)


def test_divergence_is_a_value_error_naming_epoch_and_step():
    X = np.random.default_rng(0).normal(size=(64, 2)) * 1e6
    y = X[:, 0] * 1e6
    with pytest.raises(gpubp.TrainingDiverged, match=r"non-finite at epoch \d+, step \d+") as info:
        MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=10.0, momentum=0.0).fit(X, y)
    assert isinstance(info.value, ValueError) and info.value.epoch >= 1 and info.value.step >= 1
