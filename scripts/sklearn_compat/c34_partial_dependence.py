import matplotlib

matplotlib.use("Agg")
from _common import S, desc
from sklearn.datasets import load_iris, make_friedman1
from sklearn.inspection import PartialDependenceDisplay, partial_dependence
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer

X, y = make_friedman1(n_samples=500, random_state=0)
est = make_pipeline(
    QuantileTransformer(n_quantiles=100),
    MLPRegressor(hidden_layer_sizes=(30, 15), learning_rate_init=0.01, early_stopping=True, random_state=0),
).fit(X, y)
disp = PartialDependenceDisplay.from_estimator(est, X, [0, 1, (0, 1)], kind="average", grid_resolution=10)
S("pd results", len(disp.pd_results))
r = partial_dependence(est, X, [0], kind="both", grid_resolution=10)
S("pd keys", sorted(r))
S("avg", desc(r["average"]))
Xi, yi = load_iris(return_X_y=True)
clf = MLPClassifier(max_iter=300, random_state=0).fit(Xi, yi)
d = PartialDependenceDisplay.from_estimator(clf, Xi, [2], target=1, grid_resolution=10)
S("clf pd", desc(d.pd_results[0]["average"]))
