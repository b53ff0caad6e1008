import warnings

from _common import N, S
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
mlp = MLPClassifier(hidden_layer_sizes=(50,), max_iter=1, warm_start=True, random_state=0)
train_scores, test_scores = [], []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _epoch in range(15):
        mlp.fit(Xtr, ytr)
        train_scores.append(mlp.score(Xtr, ytr))
        test_scores.append(mlp.score(Xte, yte))
S("convergence warnings", sum(issubclass(w.category, ConvergenceWarning) for w in caught))
S("n_iter_", mlp.n_iter_)
S("loss_curve_ len", len(mlp.loss_curve_))
S("t_", mlp.t_)
N("final test", test_scores[-1])
