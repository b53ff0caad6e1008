from _common import N, S, desc
from scipy.stats import loguniform
from sklearn.datasets import load_wine
from sklearn.model_selection import RandomizedSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_wine(return_X_y=True)
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=400, random_state=0))
dist = {
    "mlpclassifier__alpha": loguniform(1e-5, 1e-1),
    "mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-1),
    "mlpclassifier__hidden_layer_sizes": [(50,), (100,), (50, 50)],
    "mlpclassifier__activation": ["relu", "tanh"],
}
rs = RandomizedSearchCV(pipe, dist, n_iter=6, cv=3, n_jobs=2, random_state=0, scoring="f1_macro")
rs.fit(X, y)
S("best_params_ keys", sorted(rs.best_params_))
S("rank", desc(rs.cv_results_["rank_test_score"]))
N("best f1", rs.best_score_)
