import warnings

from _common import N, S
from sklearn.datasets import load_breast_cancer, make_friedman1
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    clf = MLPClassifier(solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
S("lbfgs max_iter warns", [x.category.__name__ for x in w])
S("n_iter_", clf.n_iter_)
S("attrs", {a: hasattr(clf, a) for a in ("loss_", "loss_curve_", "best_loss_", "validation_scores_", "t_")})
S("loss_ type", type(clf.loss_).__name__)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    clf = MLPClassifier(solver="lbfgs", max_fun=30, max_iter=1000, random_state=0).fit(X, y)
S("max_fun warns", [x.category.__name__ for x in w])
S("max_fun n_iter_ <= 30", clf.n_iter_ <= 30)
clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(5,), alpha=1e-3, random_state=1, max_iter=500).fit(X, y)
N("acc", clf.score(X, y))
Xr, yr = make_friedman1(n_samples=500, random_state=0)
reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(20,), max_iter=500, random_state=0).fit(Xr, yr)
N("reg r2", reg.score(Xr, yr))
S("reg t_", reg.t_ == reg.n_iter_ * 500)
