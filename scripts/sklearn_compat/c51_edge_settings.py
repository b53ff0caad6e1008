import copy
import warnings

import numpy as np
from _common import N, S
from sklearn.datasets import load_iris, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, y = load_iris(return_X_y=True)
for hls in ((), [], (3, 3, 3)):
    try:
        m = MLPClassifier(hidden_layer_sizes=hls, max_iter=30, random_state=0).fit(X, y)
        S(f"hls={hls!r}", (m.n_layers_, [c.shape for c in m.coefs_]))
    except Exception as e:
        S(f"hls={hls!r}", type(e).__name__)
for act in ("identity", "logistic", "tanh", "relu"):
    m = MLPClassifier(activation=act, max_iter=30, random_state=0).fit(X, y)
    N(act, m.score(X, y))
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    m = MLPClassifier(batch_size=1000, max_iter=5, random_state=0).fit(X, y)
S("batch_size > n warns", sorted({x.category.__name__ for x in w}))
m2 = copy.deepcopy(m)
S("deepcopy", np.array_equal(m2.predict(X), m.predict(X)))
S("html repr", "<div" in m._repr_html_())
try:
    MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
except ValueError:
    S("partial_fit early_stopping", "ValueError")
try:
    MLPClassifier(early_stopping=True, max_iter=5).fit(X[:12], np.r_[np.zeros(11), 1])
except ValueError:
    S("early stopping tiny class", "ValueError")
m = MLPClassifier(max_iter=5, random_state=0).fit(X[:2], y[[0, 100]])
S("two rows", m.predict(X[:2]).shape)
S(
    "partial_fit str classes",
    list(MLPClassifier().partial_fit(X, np.array(["a", "b", "c"])[y], classes=["a", "b", "c"]).classes_),
)
Xr, yr = make_regression(100, 3, random_state=0)
r = MLPRegressor(max_iter=5, random_state=0, early_stopping=True, validation_fraction=0.3).fit(
    Xr, yr, sample_weight=np.ones(100)
)
S("es + weight", len(r.validation_scores_))
