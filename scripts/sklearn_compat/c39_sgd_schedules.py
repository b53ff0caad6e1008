from _common import N
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler

X, y = load_digits(return_X_y=True)
X = MinMaxScaler().fit_transform(X)
for lr in ("constant", "invscaling", "adaptive"):
    for nest in (True, False):
        clf = MLPClassifier(
            solver="sgd",
            learning_rate=lr,
            learning_rate_init=0.1,
            nesterovs_momentum=nest,
            momentum=0.9,
            max_iter=60,
            random_state=0,
        ).fit(X[:1200], y[:1200])
        N(f"{lr} nesterov={nest}", clf.score(X[1200:], y[1200:]))
        N(f"{lr} nesterov={nest} n_iter", clf.n_iter_)
clf = MLPClassifier(
    solver="sgd",
    learning_rate="adaptive",
    learning_rate_init=0.5,
    tol=1e-2,
    n_iter_no_change=2,
    max_iter=200,
    random_state=0,
).fit(X, y)
N("adaptive n_iter", clf.n_iter_)
clf = MLPClassifier(
    solver="sgd", learning_rate="invscaling", power_t=0.25, learning_rate_init=0.05, max_iter=50, random_state=0
).fit(X, y)
N("invscaling power .25", clf.score(X, y))
