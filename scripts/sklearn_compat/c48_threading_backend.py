import joblib
from _common import N, S, desc
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier

X, y = load_iris(return_X_y=True)
with joblib.parallel_backend("threading", n_jobs=2):
    s = cross_val_score(MLPClassifier(max_iter=300, random_state=0), X, y, cv=4)
S("threading", desc(s))
N("threading", s)
with joblib.parallel_backend("loky", n_jobs=2):
    s = cross_val_score(MLPClassifier(max_iter=300, random_state=0), X, y, cv=4)
N("loky", s)
