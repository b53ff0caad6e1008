from _common import N, S, desc
from sklearn.datasets import load_wine
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)
ovr = OneVsRestClassifier(MLPClassifier(max_iter=300, random_state=0), n_jobs=2).fit(X, y)
S("ovr proba", desc(ovr.predict_proba(X)))
S("ovr estimators", len(ovr.estimators_))
N("ovr acc", ovr.score(X, y))
ovo = OneVsOneClassifier(MLPClassifier(max_iter=300, random_state=0)).fit(X, y)
S("ovo decision", desc(ovo.decision_function(X)))
N("ovo acc", ovo.score(X, y))
