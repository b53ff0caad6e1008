import numpy as np
import pandas as pd
from _common import N, S, desc
from sklearn.datasets import make_classification, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, Y = make_regression(300, 5, n_targets=2, random_state=0)
Xdf = pd.DataFrame(X, columns=list("abcde"))
Xdf["flag"] = X[:, 0] > 0
Ydf = pd.DataFrame(Y / Y.std(0), columns=["t1", "t2"])
reg = MLPRegressor(max_iter=200, random_state=0).fit(Xdf, Ydf)
S("multi y df", desc(reg.predict(Xdf)))
S("names", list(reg.feature_names_in_))
N("r2", reg.score(Xdf, Ydf))
reg1 = MLPRegressor(max_iter=50, random_state=0).fit(Xdf, Ydf[["t1"]])
S("one-col df y", desc(reg1.predict(Xdf)))
Xc, yc = make_classification(300, 6, random_state=0)
ys = pd.Series(np.where(yc == 1, "yes", "no"), dtype="string")
clf = MLPClassifier(max_iter=100, random_state=0).fit(pd.DataFrame(Xc), ys)
S("string dtype y", f"{list(clf.classes_)} {desc(clf.predict(Xc[:3]))}")
ynull = pd.Series(pd.array(yc, dtype="Int64"))
clf = MLPClassifier(max_iter=100, random_state=0).fit(Xc, ynull)
S("Int64 y", f"{list(clf.classes_)} {desc(clf.predict(Xc[:3]))}")
