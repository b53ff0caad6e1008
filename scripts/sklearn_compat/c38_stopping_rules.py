from _common import N, S
from sklearn.datasets import make_classification, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, y = make_classification(n_samples=500, random_state=0)
for tol, nic in ((1e-2, 2), (1e-4, 10), (0.0, 50)):
    clf = MLPClassifier(hidden_layer_sizes=(20,), tol=tol, n_iter_no_change=nic, max_iter=1000, random_state=0).fit(
        X, y
    )
    N(f"n_iter_ tol={tol} nic={nic}", clf.n_iter_)
    S(f"n_iter_ == len(loss_curve_) tol={tol}", clf.n_iter_ == len(clf.loss_curve_))
    S(f"best_loss_ == min tol={tol}", abs(clf.best_loss_ - min(clf.loss_curve_)) < 1e-12)
clf = MLPClassifier(hidden_layer_sizes=(20,), n_iter_no_change=float("inf"), max_iter=30, random_state=0).fit(X, y)
S("inf", clf.n_iter_)
Xr, yr = make_regression(300, 5, random_state=0)
reg = MLPRegressor(max_iter=15, random_state=0).fit(Xr, yr)
S("reg max_iter", reg.n_iter_)
