import numpy as np
from _common import N, S, desc
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler

X, y = make_friedman1(n_samples=1000, noise=0.5, random_state=0)
y = y * 1e4 + 5e4
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
ttr = TransformedTargetRegressor(
    regressor=make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(50,), max_iter=500, random_state=0)),
    transformer=StandardScaler(),
)
ttr.fit(Xtr, ytr)
S("predict", desc(ttr.predict(Xte)))
N("r2 scaled target", ttr.score(Xte, yte))
ttr2 = TransformedTargetRegressor(
    regressor=MLPRegressor(max_iter=300, random_state=0), func=np.log, inverse_func=np.exp
)
ttr2.fit(Xtr, ytr)
N("r2 log target", ttr2.score(Xte, yte))
ttr3 = TransformedTargetRegressor(
    regressor=MLPRegressor(max_iter=300, random_state=0),
    transformer=QuantileTransformer(n_quantiles=100, output_distribution="normal"),
)
N("r2 quantile", ttr3.fit(Xtr, ytr).score(Xte, yte))
