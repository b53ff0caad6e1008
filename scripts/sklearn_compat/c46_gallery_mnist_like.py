import warnings

from _common import N, S
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

X, y = load_digits(return_X_y=True, as_frame=False)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, test_size=0.3)
mlp = MLPClassifier(
    hidden_layer_sizes=(40,), max_iter=8, alpha=1e-4, solver="sgd", verbose=0, random_state=1, learning_rate_init=0.2
)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
    mlp.fit(X_train, y_train)
N("Training set score", mlp.score(X_train, y_train))
N("Test set score", mlp.score(X_test, y_test))
S("coef0", mlp.coefs_[0].shape)
