import numpy as np
from _common import N, S, desc
from sklearn.datasets import make_circles
from sklearn.model_selection import validation_curve
from sklearn.neural_network import MLPClassifier

X, y = make_circles(n_samples=500, noise=0.1, factor=0.5, random_state=0)
alphas = np.logspace(-5, 1, 4)
train, test = validation_curve(
    MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0),
    X,
    y,
    param_name="alpha",
    param_range=alphas,
    cv=3,
)
S("shape", desc(test))
for a, t in zip(alphas, test, strict=False):
    N(f"alpha={a:g}", t)
