import numpy as np
from _common import N, S
from sklearn.datasets import make_classification, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_classification(n_samples=1000, weights=[0.9, 0.1], random_state=0)
w = np.where(y == 1, 9.0, 1.0)
clf = MLPClassifier(max_iter=300, random_state=0).fit(X, y, sample_weight=w)
pred = clf.predict(X)
N("recall minority", (pred[y == 1] == 1).mean())
N("weighted score", clf.score(X, y, sample_weight=w))
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
pipe.fit(X, y, mlpclassifier__sample_weight=w)
N("pipe recall", (pipe.predict(X)[y == 1] == 1).mean())
Xr, yr = make_regression(500, 5, noise=1, random_state=0)
reg = MLPRegressor(max_iter=500, learning_rate_init=0.01, random_state=0).fit(Xr, yr, sample_weight=np.ones(500))
N("reg r2", reg.score(Xr, yr))
try:
    MLPRegressor().fit(Xr, yr, sample_weight=np.ones(3))
except ValueError:
    S("bad weight", "ValueError")
