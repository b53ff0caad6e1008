import numpy as np
import pandas as pd
from _common import S, desc
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=400, n_classes=3, n_informative=4, random_state=0)
names = np.array(["cat", "dog", "bird"])
for label, yy in {
    "str": names[y],
    "object": names[y].astype(object),
    "int -1/1": np.where(y == 0, -1, 1),
    "int 1..3": y + 1,
    "bool": y == 1,
    "float": y.astype(float) * 2.0,
    "pandas cat": pd.Series(pd.Categorical(names[y])),
    "pandas str": pd.Series(names[y]),
    "uint8": y.astype(np.uint8),
    "2d col": (y + 1).reshape(-1, 1),
}.items():
    clf = MLPClassifier(max_iter=50, random_state=0).fit(X, yy)
    p = clf.predict(X)
    S(label, f"{desc(clf.classes_)} {list(clf.classes_)} predict {desc(p)} {p[:3].tolist()} {type(p[0]).__name__}")
try:
    MLPClassifier(max_iter=5).fit(X, y * 2.5)
except ValueError as e:
    S("float labels 2.5", "ValueError " + str(e)[:18])
try:
    MLPClassifier(max_iter=5).fit(X, np.random.default_rng(0).normal(size=400))
except ValueError as e:
    S("continuous y", "ValueError " + str(e)[:18])
try:
    MLPClassifier(max_iter=5).fit(X, np.zeros(400))
except ValueError:
    S("one class", "ValueError")
