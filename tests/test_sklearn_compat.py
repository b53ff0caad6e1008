"""scikit-learn's contract: check_estimator, and the tools users reach for, with only the import changed."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import gpubp
from gpubp import MLPClassifier, MLPRegressor

#: The one check float32 cannot pass: it compares a fit with integer sample weights against a fit on
#: repeated rows at rtol=1e-7, tighter than float32's resolution (6e-8) after 200 epochs of rounding in a
#: different order; the same check passes in float64 (test_check_estimator_float64), which shows the
#: weighting itself is exact. scikit-learn 1.9 has no tag for float tolerances, so the relaxation is named
#: here, with its reason, and nowhere else.
FLOAT32_ROUNDING = {
    "check_sample_weight_equivalence_on_dense_data": "float32 rounding: rtol 1e-7 is below float32 resolution",
    # the same check on sparse X (made dense once: the same arithmetic as the dense check)
    "check_sample_weight_equivalence_on_sparse_data": "float32 rounding: rtol 1e-7 is below float32 resolution",
}


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_check_estimator_float64(Est):
    warnings.simplefilter("ignore", ConvergenceWarning)  # as scikit-learn's own runs: the checks cap max_iter
    results = check_estimator(Est(dtype="float64"), on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    # scikit-learn skips the array-API check unless SCIPY_ARRAY_API=1 is set, and the decision_function
    # check of a classifier that has none
    assert skipped <= {"check_array_api_input", "check_classifiers_multilabel_output_format_decision_function"}


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_check_estimator_default_float32(Est):
    warnings.simplefilter("ignore", ConvergenceWarning)
    results = check_estimator(Est(), on_fail=None, on_skip=None, expected_failed_checks=FLOAT32_ROUNDING)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert failed == []
    assert len(results) > 50


def test_signatures_are_scikit_learns_plus_gpubps_own():
    import inspect

    from sklearn import neural_network

    for ours, theirs in ((MLPClassifier, neural_network.MLPClassifier), (MLPRegressor, neural_network.MLPRegressor)):
        mine, sk = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(mine)[: len(sk)] == list(sk)  # the same names in the same order
        for name, p in sk.items():
            assert mine[name].default == p.default, name
            assert mine[name].kind == p.kind, name
        assert list(mine)[len(sk) :] == ["backend", "device", "dtype", "threads", "standardize"]
    assert MLPClassifier().get_params()["backend"] == "auto" and MLPClassifier().dtype == "float32"
    assert MLPRegressor().threads == "auto"
    assert "hidden_layer_sizes : " in MLPClassifier.__doc__ and "{parameters}" not in MLPRegressor.__doc__


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_pipeline_cross_val_score_and_clone(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=300, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        assert scores.mean() > 0.85
        fitted = pipe.fit(X, y)
    assert fitted.predict(X).shape == (150,) and fitted.score(X, y) > 0.85
    twin = clone(MLPClassifier((16,), alpha=1e-3, backend="numpy"))
    assert twin.get_params()["alpha"] == 1e-3 and not hasattr(twin, "coefs_")


def test_grid_search_in_two_processes(iris):
    X, y = iris
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MLPClassifier(max_iter=200, random_state=0)),
        {"mlpclassifier__hidden_layer_sizes": [(8,), (32,)], "mlpclassifier__alpha": [1e-4, 1e-2]},
        cv=3,
        n_jobs=2,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.85 and set(search.best_params_) == {
        "mlpclassifier__hidden_layer_sizes",
        "mlpclassifier__alpha",
    }


def test_pickle_and_joblib_round_trips(iris, tmp_path):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), max_iter=20, random_state=0, standardize=True).fit(X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.get_params() == model.get_params() and again.loss_curve_ == model.loss_curve_
    again.partial_fit(X, y)  # the training state came along too
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), model.predict(X))


def test_a_model_pickled_on_a_gpu_library_unpickles_where_that_library_is_missing(iris, tmp_path):
    pytest.importorskip("torch")
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), max_iter=5, random_state=0, backend="torch").fit(X, y)
    assert model.backend_ == "torch on cpu"
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", model.predict_proba(X))
    code = f"""
import sys, pickle, importlib.abc, numpy as np

class NoTorch(importlib.abc.MetaPathFinder):  # this machine has no torch
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NoTorch())
m = pickle.loads(open({str(tmp_path / "m.pkl")!r}, "rb").read())
assert m.backend_ == "numpy on cpu", m.backend_
np.testing.assert_allclose(m.predict_proba(np.load({str(tmp_path / "X.npy")!r})),
                           np.load({str(tmp_path / "expected.npy")!r}), rtol=1e-5, atol=1e-6)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_pandas_column_names_become_feature_names_in_():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(n_samples=80, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), max_iter=5).fit(frame, pd.Series(y))
    assert model.feature_names_in_.tolist() == ["a", "b", "c", "d"]
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X)  # scikit-learn's warning when names go missing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_and_r2_match_scikit_learns_mlp(seed):
    """Same settings, same data: gpubp's score lands within seed-to-seed noise of scikit-learn's."""
    from sklearn import neural_network
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=600, n_features=12, n_informative=8, n_classes=3, random_state=seed)
    Xr, yr = make_regression(n_samples=600, n_features=8, noise=5.0, random_state=seed)
    yr = yr / yr.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for ours, theirs, (A, b) in (
            (MLPClassifier, neural_network.MLPClassifier, (X, y)),
            (MLPRegressor, neural_network.MLPRegressor, (Xr, yr)),
        ):
            A_tr, A_te, b_tr, b_te = train_test_split(A, b, random_state=seed)
            settings = {"hidden_layer_sizes": (32,), "max_iter": 150, "random_state": seed}
            mine = ours(**settings).fit(A_tr, b_tr).score(A_te, b_te)
            reference = theirs(**settings).fit(A_tr, b_tr).score(A_te, b_te)
            assert mine > reference - 0.08, (ours.__name__, mine, reference)


def test_gpubp_load_gives_the_right_estimator(tmp_path):
    X, y = make_regression(n_samples=50, n_features=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(X, y).save(tmp_path / "r.safetensors")
    assert type(gpubp.load(tmp_path / "r.safetensors")) is MLPRegressor
