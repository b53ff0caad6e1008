import numpy as np
from _common import N, S, desc
from sklearn.datasets import make_classification, make_regression
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier, MultiOutputRegressor, RegressorChain
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, Y = make_regression(400, 6, n_targets=2, random_state=0)
Y = Y / Y.std(0)
m = MultiOutputRegressor(MLPRegressor(max_iter=300, random_state=0)).fit(X, Y)
S("mor", desc(m.predict(X)))
N("mor r2", m.score(X, Y))
c = RegressorChain(MLPRegressor(max_iter=300, random_state=0), order=[1, 0]).fit(X, Y)
N("chain r2", c.score(X, Y))
Xc, yc = make_classification(400, 8, random_state=0)
Yc = np.stack([yc, (Xc[:, 0] > 0).astype(int)], 1)
mc = MultiOutputClassifier(MLPClassifier(max_iter=300, random_state=0)).fit(Xc, Yc)
S("moc proba", desc(mc.predict_proba(Xc)))
cc = ClassifierChain(MLPClassifier(max_iter=300, random_state=0), random_state=0).fit(Xc, Yc)
S("cc", desc(cc.predict(Xc)))
