import numpy as np
import sklearn
from _common import N, S
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sklearn.set_config(enable_metadata_routing=True)
X, y = make_classification(n_samples=400, weights=[0.8], random_state=0)
w = np.where(y == 1, 4.0, 1.0)
mlp = (
    MLPClassifier(max_iter=200, random_state=0)
    .set_fit_request(sample_weight=True)
    .set_score_request(sample_weight=True)
)
pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=True), mlp)
res = cross_validate(pipe, X, y, cv=3, params={"sample_weight": w})
N("cv", res["test_score"])
gs = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3).fit(X, y, sample_weight=w)
S("gs best keys", sorted(gs.best_params_))
S("routing", type(mlp.get_metadata_routing()).__name__)
sklearn.set_config(enable_metadata_routing=False)
