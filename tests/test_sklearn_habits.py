"""Habits of scikit-learn users that gpubp must keep, found by running their scripts with the import changed.

Each test is one difference seen between ``sklearn.neural_network`` and gpubp on the same script
(``scripts/sklearn_compat/``), fixed at its cause.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from gpubp import SGD, MLPClassifier, Parameter


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_a_warm_start_loop_of_one_epoch_warns_on_every_fit_as_scikit_learn_does(iris):
    """The tutorial loop ``warm_start=True, max_iter=1`` then ``fit`` per epoch: each fit reaches max_iter."""
    X, y = iris
    model = MLPClassifier((8,), max_iter=1, warm_start=True, random_state=0)
    for epoch in range(3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y)
        assert [w.category for w in caught] == [ConvergenceWarning], epoch
        assert model.n_iter_ == 1 and len(model.loss_curve_) == epoch + 1


def test_partial_fit_reaches_no_limit_and_does_not_warn(iris):
    X, y = iris
    model = MLPClassifier((8,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for _ in range(3):
            model.partial_fit(X, y, classes=[0, 1, 2])
    assert len(model.loss_curve_) == 3


def test_verbose_says_why_training_stopped_as_scikit_learn_does(iris, capsys):
    X, y = iris
    MLPClassifier((8,), tol=5.0, n_iter_no_change=2, max_iter=50, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "Training loss did not improve more than tol=5.000000 for 2 consecutive epochs. Stopping."
    assert lines[-2].startswith("Iteration 4, loss = ")
    with pytest.warns(ConvergenceWarning):
        MLPClassifier((8,), solver="sgd", learning_rate="adaptive", tol=5.0, n_iter_no_change=1, max_iter=3,
                      learning_rate_init=0.1, verbose=True, random_state=0).fit(X, y)  # fmt: skip
    said = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Iteration")]
    assert said == [
        "Training loss did not improve more than tol=5.000000 for 1 consecutive epochs. Setting learning rate to "
        "0.020000"
    ]


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_follows_scikit_learns_velocity_when_the_rate_changes(nesterov):
    """The estimator's SGD keeps scikit-learn's velocity (steps, not gradients): invscaling and adaptive
    schedules then move the weights as scikit-learn's do (PyTorch's form rescales past steps by the new rate)."""
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 2))
    theirs = [start.copy()]
    reference = SGDOptimizer(theirs, 0.2, lr_schedule="invscaling", momentum=0.9, nesterov=nesterov, power_t=0.5)
    mine = Parameter(start.copy())
    opt = SGD([mine], 0.2, momentum=0.9, nesterov=nesterov, lr_in_velocity=True)
    for t in range(1, 6):
        g = rng.normal(size=(3, 2))
        reference.update_params(theirs, [g])
        mine.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(mine.data, theirs[0], rtol=1e-12, atol=1e-12)
        reference.iteration_ends(t * 10)  # the rate falls between steps
        opt.lr = reference.learning_rate


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_answers_for_host_input_have_its_dtype_whatever_the_model_computes_in(iris, dtype):
    """scikit-learn's MLP answers float64 input in float64 (and float32 in float32): probabilities then sum
    to 1 at float64's precision, as tests written for scikit-learn check (assert_allclose, rtol 1e-7)."""
    from gpubp import MLPRegressor

    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((8,), max_iter=5, random_state=0, dtype=dtype).fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype=dtype).fit(X, X[:, 0])
    for X_in in (X, X.astype(np.float32), (X * 10).astype(np.int64), X.tolist()):
        expected = np.float32 if getattr(X_in, "dtype", None) == np.float32 else np.float64
        proba = clf.predict_proba(X_in)
        assert proba.dtype == expected and clf.predict_log_proba(X_in).dtype == expected
        assert reg.predict(X_in).dtype == expected
        if expected == np.float64:
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-7)
    assert clf.predict(X).dtype == y.dtype


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_a_sparse_X_trains_as_its_dense_form_as_scikit_learns_mlp_accepts_it(iris, fmt):
    """TfidfVectorizer -> MLPClassifier is a common pipeline: scikit-learn's MLP takes SciPy sparse X."""
    import scipy.sparse as sp

    from gpubp import MLPRegressor

    X, y = iris
    X_sparse = sp.random(150, 30, density=0.1, format=fmt, random_state=0) + sp.csr_matrix(X[:, :1]) @ sp.csr_matrix(
        np.ones((1, 30))
    )
    X_sparse = X_sparse.asformat(fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        from_sparse = MLPClassifier((8,), max_iter=5, random_state=0).fit(X_sparse, y)
        from_dense = MLPClassifier((8,), max_iter=5, random_state=0).fit(X_sparse.toarray(), y)
        reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(sp.csr_array(X_sparse), X[:, 0])
    np.testing.assert_array_equal(from_sparse.predict_proba(X_sparse), from_dense.predict_proba(X_sparse.toarray()))
    assert reg.predict(X_sparse).shape == (150,) and from_sparse.score(X_sparse, y) == from_dense.score(X_sparse, y)


def test_a_sparse_X_too_large_to_make_dense_is_a_clear_error():
    import scipy.sparse as sp

    from gpubp.errors import GpubpError

    huge = sp.csr_matrix((np.ones(3), ([0, 1, 2], [0, 5, 9])), shape=(10**6, 10**6))
    with pytest.raises(GpubpError, match=r"sparse matrix of shape \(1000000, 1000000\).*dense form needs"):
        MLPClassifier().fit(huge, np.arange(10**6) % 2)


def test_a_batch_size_larger_than_the_data_is_clipped_with_scikit_learns_warning(iris):
    X, y = iris
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        model = MLPClassifier((8,), batch_size=1000, max_iter=3, random_state=0, n_iter_no_change=100, tol=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
    assert model.history_.epochs[0]["steps"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # batch_size that fits: no warning
        MLPClassifier((8,), batch_size=150, max_iter=1, random_state=0).partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("kind", ["object", "pandas string"])
def test_text_labels_of_any_container_give_scikit_learns_str_classes(iris, kind):
    """scikit-learn's classes_ (and so predict) for text labels is a str array, whatever dtype y came in."""
    pd = pytest.importorskip("pandas")
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    labels = names.astype(object) if kind == "object" else pd.Series(names, dtype="string")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, labels)
        again = MLPClassifier((8,), random_state=0).partial_fit(X, labels, classes=sorted(set(names)))
    for m in (model, again):
        assert m.classes_.dtype.kind == "U" and m.classes_.tolist() == ["setosa", "versicolor", "virginica"]
        assert m.predict(X).dtype.kind == "U"
    model.partial_fit(X, labels)  # labels of the first fit's container still found among classes_
