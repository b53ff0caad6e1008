import numpy as np
from _common import N, S, desc
from sklearn.metrics import mean_poisson_deviance
from sklearn.neural_network import MLPRegressor

rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 5))
y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.5))
reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(20,), max_iter=300, random_state=0).fit(X[:1500], y[:1500])
p = reg.predict(X[1500:])
S("predict", desc(p))
S("positive", bool((p > 0).all()))
S("out_activation_", reg.out_activation_)
N("deviance", mean_poisson_deviance(y[1500:], p))
N("r2", reg.score(X[1500:], y[1500:]))
try:
    MLPRegressor(loss="poisson").fit(X, -np.abs(y) - 1)
except ValueError:
    S("negative y", "ValueError")
reg = MLPRegressor(loss="poisson", solver="lbfgs", hidden_layer_sizes=(10,), max_iter=300, random_state=0).fit(
    X[:1500], y[:1500]
)
N("lbfgs deviance", mean_poisson_deviance(y[1500:], reg.predict(X[1500:])))
