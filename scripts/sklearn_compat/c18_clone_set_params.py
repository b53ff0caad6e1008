from _common import S
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import check_is_fitted

clf = MLPClassifier(hidden_layer_sizes=(5, 5), alpha=0.01, random_state=0)
c2 = clone(clf)
S("clone params", {k: v for k, v in c2.get_params().items() if k in ("hidden_layer_sizes", "alpha", "random_state")})
c2.set_params(alpha=0.1, hidden_layer_sizes=(7,), max_iter=20)
S("set_params", (c2.alpha, c2.hidden_layer_sizes, c2.max_iter))
S("is_classifier", (is_classifier(clf), is_regressor(MLPRegressor())))
try:
    check_is_fitted(clf)
except NotFittedError:
    S("not fitted", "NotFittedError")
try:
    clf.predict([[1, 2, 3, 4]])
except NotFittedError:
    S("predict unfitted", "NotFittedError")
X, y = load_iris(return_X_y=True)
c2.fit(X, y)
check_is_fitted(c2)
c3 = clone(c2)
S("clone unfitted", hasattr(c3, "coefs_"))
try:
    c2.set_params(nonexistent=1)
except ValueError:
    S("bad param", "ValueError")
try:
    MLPClassifier(hidden_layer_sizes=(0,)).fit(X, y)
except ValueError:
    S("bad hidden", "ValueError")
try:
    MLPClassifier(solver="foo").fit(X, y)
except ValueError:
    S("bad solver", "ValueError")
try:
    MLPClassifier(learning_rate_init=-1).fit(X, y)
except ValueError:
    S("bad lr", "ValueError")
S("hls list ok", MLPClassifier(hidden_layer_sizes=[4, 3], max_iter=5).fit(X, y).n_layers_)
S("hls int ok", MLPClassifier(hidden_layer_sizes=4, max_iter=5).fit(X, y).n_layers_)
S("repr", repr(MLPClassifier(alpha=0.01, max_iter=5)))
