import numpy as np
from _common import N, S, desc
from sklearn.datasets import load_iris, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, y = load_iris(return_X_y=True)
for name, XX in {
    "float64": X,
    "float32": X.astype(np.float32),
    "int64": (X * 10).astype(np.int64),
    "list": X.tolist(),
    "fortran": np.asfortranarray(X),
}.items():
    clf = MLPClassifier(max_iter=100, random_state=0).fit(XX, y)
    S(name, f"proba {desc(clf.predict_proba(XX))}")
    N(name, clf.score(XX, y))
Xr, yr = make_regression(200, 4, random_state=0)
for name, XX in {"float64": Xr, "float32": Xr.astype(np.float32)}.items():
    reg = MLPRegressor(max_iter=50, random_state=0).fit(XX, yr.astype(XX.dtype))
    S(name + " reg", desc(reg.predict(XX)))
reg = MLPRegressor(max_iter=20, random_state=0).fit(Xr, yr.astype(int))
S("int y reg", desc(reg.predict(Xr)))
one = MLPClassifier(max_iter=50, random_state=0).fit(X, y).predict(X[0].reshape(1, -1))
S("one row", desc(one))
try:
    MLPClassifier().fit(X[0], y[:1])
except ValueError:
    S("1d X", "ValueError")
Xn = X.copy()
Xn[0, 0] = np.nan
try:
    MLPClassifier().fit(Xn, y)
except ValueError:
    S("nan X", "ValueError")
