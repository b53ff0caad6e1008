from _common import N, S, desc
from sklearn.datasets import make_regression
from sklearn.neural_network import MLPRegressor

X, y = make_regression(n_samples=2000, n_features=10, noise=5, random_state=0)
y = y / 100
reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
for _epoch in range(10):
    for s in range(0, 1600, 200):
        reg.partial_fit(X[s : s + 200], y[s : s + 200])
S("n_iter_", reg.n_iter_)
S("t_", reg.t_)
S("loss_curve_ len", len(reg.loss_curve_))
S("predict", desc(reg.predict(X[1600:])))
N("r2", reg.score(X[1600:], y[1600:]))
reg_sgd = MLPRegressor(solver="sgd", random_state=0)
reg_sgd.partial_fit(X[:100], y[:100])
S("sgd partial", reg_sgd.n_iter_)
try:
    MLPRegressor(solver="lbfgs").partial_fit(X, y)
except AttributeError:
    S("lbfgs partial_fit", "AttributeError")
S("hasattr lbfgs partial_fit", hasattr(MLPRegressor(solver="lbfgs"), "partial_fit"))
