import numpy as np
from _common import S
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=300, n_classes=2, random_state=0)
clf = MLPClassifier(max_iter=100, random_state=0).fit(X, y)
P = clf.predict_proba(X)
S("sum to 1", bool(np.allclose(P.sum(1), 1)))
S("argmax == predict", bool((clf.classes_[P.argmax(1)] == clf.predict(X)).all()))
S("log proba finite", bool(np.isfinite(clf.predict_log_proba(X)).all()))
S("hasattr decision_function", hasattr(clf, "decision_function"))
S("n_layers_", clf.n_layers_)
S("out_activation_", clf.out_activation_)
S("coef last", clf.coefs_[-1].shape)
S("classes_ dtype", clf.classes_.dtype)
