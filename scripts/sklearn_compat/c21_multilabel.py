from _common import N, S, desc
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import f1_score, hamming_loss
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier

X, Y = make_multilabel_classification(n_samples=600, n_features=20, n_classes=4, random_state=0)
clf = MLPClassifier(hidden_layer_sizes=(50,), max_iter=300, random_state=0).fit(X[:500], Y[:500])
P = clf.predict(X[500:])
S("predict", desc(P))
S("proba", desc(clf.predict_proba(X[500:])))
S("classes_", desc(clf.classes_))
S("out", (clf.n_outputs_, clf.out_activation_))
N("score (subset acc)", clf.score(X[500:], Y[500:]))
N("f1 micro", f1_score(Y[500:], P, average="micro"))
N("hamming", hamming_loss(Y[500:], P))
s = cross_val_score(MLPClassifier(max_iter=200, random_state=0), X, Y, cv=3, scoring="f1_samples")
N("cv f1_samples", s)
