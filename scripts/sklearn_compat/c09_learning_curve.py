import numpy as np
from _common import N, S, desc
from sklearn.datasets import make_moons
from sklearn.model_selection import learning_curve
from sklearn.neural_network import MLPClassifier

X, y = make_moons(n_samples=600, noise=0.25, random_state=0)
sizes, train, test, fit_times, score_times = learning_curve(
    MLPClassifier(hidden_layer_sizes=(20, 20), max_iter=500, random_state=0),
    X,
    y,
    cv=4,
    train_sizes=np.linspace(0.2, 1.0, 4),
    return_times=True,
    n_jobs=2,
)
S("sizes", list(sizes))
S("train", desc(train))
N("test mean last", test[-1])
