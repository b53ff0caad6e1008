import numpy as np
from _common import S
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

X, y = load_iris(return_X_y=True)
a = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
b = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
S("same seed same weights", all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_, strict=False)))
rs = np.random.RandomState(0)
c = MLPClassifier(max_iter=50, random_state=rs).fit(X, y)
S("RandomState accepted", c.n_iter_ == 50)
d = MLPClassifier(max_iter=50).fit(X, y)
S("None seed", d.n_iter_ == 50)
# refit starts anew (no warm_start)
e = MLPClassifier(max_iter=10, random_state=0)
e.fit(X, y)
first = e.loss_curve_[:]
e.fit(X, y)
S("refit same", np.allclose(first, e.loss_curve_))
S("loss_curve len after refit", len(e.loss_curve_))
