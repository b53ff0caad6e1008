import warnings

from _common import N, S, desc
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_wine(return_X_y=True, as_frame=True)
pipe = make_pipeline(StandardScaler(), PCA(n_components=5), MLPClassifier(max_iter=500, random_state=0))
pipe.set_output(transform="pandas")
pipe.fit(X, y)
S("mlp feature names", list(pipe[-1].feature_names_in_))
S("names dtype", desc(pipe[-1].feature_names_in_))
S("predict", desc(pipe.predict(X)))
S("predict type", type(pipe.predict(X)).__name__)
N("score", pipe.score(X, y))
mlp = MLPClassifier(max_iter=100, random_state=0).fit(X, y)
S("names", list(mlp.feature_names_in_)[:3])

with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    mlp.predict(X.values)
S("no-names warning", [str(x.message)[:40] for x in w if issubclass(x.category, UserWarning)])
try:
    mlp.predict(X[X.columns[::-1]])
except ValueError:
    S("reordered columns", "ValueError")
