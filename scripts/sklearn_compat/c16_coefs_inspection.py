import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _common import N, S, desc
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0
mlp = MLPClassifier(
    hidden_layer_sizes=(40, 20), max_iter=30, alpha=1e-4, solver="sgd", random_state=1, learning_rate_init=0.2
)
mlp.fit(X, y)
S("coefs_", desc(mlp.coefs_))
S("intercepts_", desc(mlp.intercepts_))
S("coef shapes", [c.shape for c in mlp.coefs_])
S("intercept shapes", [b.shape for b in mlp.intercepts_])
fig, axes = plt.subplots(4, 4)
vmin, vmax = mlp.coefs_[0].min(), mlp.coefs_[0].max()
for coef, ax in zip(mlp.coefs_[0].T, axes.ravel(), strict=False):
    ax.matshow(coef.reshape(8, 8), cmap=plt.cm.gray, vmin=0.5 * vmin, vmax=0.5 * vmax)
S("weights norm type", type(np.linalg.norm(mlp.coefs_[0])).__name__)
S("is list", type(mlp.coefs_).__name__)
N("score", mlp.score(X, y))
# manual forward pass with the public weights, as in tutorials
h = np.maximum(0, X @ mlp.coefs_[0] + mlp.intercepts_[0])
h = np.maximum(0, h @ mlp.coefs_[1] + mlp.intercepts_[1])
logits = h @ mlp.coefs_[2] + mlp.intercepts_[2]
S("manual forward matches", bool(np.mean(logits.argmax(1) == mlp.predict(X)) > 0.99))
