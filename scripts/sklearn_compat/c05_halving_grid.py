from _common import N, S
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=800, n_features=10, random_state=0)
hs = HalvingGridSearchCV(
    MLPClassifier(max_iter=200, random_state=0),
    {"hidden_layer_sizes": [(5,), (20,), (40,)], "alpha": [1e-4, 1e-1]},
    cv=3,
    factor=2,
    random_state=0,
    n_jobs=2,
)
hs.fit(X, y)
S("n_iterations_", hs.n_iterations_)
S("n_resources_", hs.n_resources_)
S("best_params_ keys", sorted(hs.best_params_))
N("best_score_", hs.best_score_)
