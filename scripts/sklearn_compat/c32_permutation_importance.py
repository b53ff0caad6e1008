from _common import N, S, desc
from sklearn.datasets import load_diabetes
from sklearn.inspection import permutation_importance
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_diabetes(return_X_y=True, as_frame=True)
model = make_pipeline(
    StandardScaler(), MLPRegressor(hidden_layer_sizes=(50,), max_iter=1000, learning_rate_init=0.01, random_state=0)
).fit(X, y)
r = permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=2, scoring="r2")
S("keys", sorted(r))
S("importances", desc(r.importances))
S("top feature", X.columns[r.importances_mean.argmax()])
N("top", r.importances_mean.max())
