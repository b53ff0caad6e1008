import pickle

import numpy as np
from _common import N, S
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_classification(n_samples=300, random_state=0)
groups = np.arange(300) % 5
s = cross_val_score(MLPClassifier(max_iter=100, random_state=0), X, y, groups=groups, cv=GroupKFold(5))
N("group cv", s)
pipe = Pipeline([("sc", StandardScaler()), ("clf", MLPClassifier(max_iter=100, random_state=0))])
gs = GridSearchCV(
    pipe,
    {"clf__alpha": [1e-4, 1.0], "clf__activation": ["relu", "tanh"]},
    scoring={"acc": "accuracy", "ll": "neg_log_loss", "auc": "roc_auc"},
    refit="auc",
    cv=3,
    error_score="raise",
    return_train_score=True,
)
gs.fit(X, y)
S("refit", sorted(k for k in gs.cv_results_ if k.startswith("mean_test")))
g2 = pickle.loads(pickle.dumps(gs))
S("pickled search", np.array_equal(g2.predict(X), gs.predict(X)))
N("best auc", gs.best_score_)
gs2 = GridSearchCV(
    MLPClassifier(max_iter=50, random_state=0), {"hidden_layer_sizes": [(0,), (5,)]}, cv=2, error_score=np.nan
)
gs2.fit(X, y)
S("nan error score", np.isnan(gs2.cv_results_["mean_test_score"]).tolist())
