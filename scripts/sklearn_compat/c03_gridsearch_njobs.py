from _common import N, S
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
grid = {
    "mlpclassifier__hidden_layer_sizes": [(10,), (20, 10)],
    "mlpclassifier__alpha": [1e-4, 1e-2],
    "mlpclassifier__learning_rate_init": [1e-3, 1e-2],
}
gs = GridSearchCV(pipe, grid, cv=3, n_jobs=2, scoring="accuracy")
gs.fit(Xtr, ytr)
S("best_params_ keys", sorted(gs.best_params_))
S("cv_results_ keys", sorted(gs.cv_results_))
S("best_estimator_", type(gs.best_estimator_[-1]).__name__)
S("n candidates", len(gs.cv_results_["params"]))
N("best_score_", gs.best_score_)
N("test", gs.score(Xte, yte))
