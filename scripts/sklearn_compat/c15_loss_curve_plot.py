import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from _common import N, S
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler

X, y = load_iris(return_X_y=True)
X = MinMaxScaler().fit_transform(X)
params = [
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0, "learning_rate_init": 0.2},
    {
        "solver": "sgd",
        "learning_rate": "constant",
        "momentum": 0.9,
        "nesterovs_momentum": False,
        "learning_rate_init": 0.2,
    },
    {
        "solver": "sgd",
        "learning_rate": "invscaling",
        "momentum": 0.9,
        "nesterovs_momentum": True,
        "learning_rate_init": 0.2,
    },
    {"solver": "adam", "learning_rate_init": 0.01},
]
fig, ax = plt.subplots()
for p in params:
    mlp = MLPClassifier(random_state=0, max_iter=400, **p).fit(X, y)
    ax.plot(mlp.loss_curve_)
    S(str(p), type(mlp.loss_curve_).__name__ + " " + type(mlp.loss_curve_[0]).__name__)
    N(f"{p['solver']} {p.get('learning_rate')} final loss", mlp.loss_curve_[-1])
    N("score", mlp.score(X, y))
fig.savefig("/tmp/_sk_loss_curve.png")
