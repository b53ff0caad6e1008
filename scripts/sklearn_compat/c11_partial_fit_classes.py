import numpy as np
from _common import N, S, desc
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=2000, n_features=20, n_informative=8, n_classes=3, random_state=0)
clf = MLPClassifier(hidden_layer_sizes=(50,), random_state=0)
classes = np.unique(y)
for _epoch in range(5):
    for start in range(0, 1500, 100):
        clf.partial_fit(X[start : start + 100], y[start : start + 100], classes=classes)
S("n_iter_", clf.n_iter_)
S("t_", clf.t_)
S("loss_curve_ len", len(clf.loss_curve_))
S("classes_", desc(clf.classes_))
S("best_loss_ type", type(clf.best_loss_).__name__)
N("holdout", clf.score(X[1500:], y[1500:]))
# a batch that holds only some classes
clf2 = MLPClassifier(random_state=0).partial_fit(X[y < 2][:50], y[y < 2][:50], classes=[0, 1, 2])
S("partial classes", list(clf2.classes_))
S("proba cols", clf2.predict_proba(X[:3]).shape)
