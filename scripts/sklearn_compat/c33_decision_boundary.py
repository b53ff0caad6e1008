import matplotlib

matplotlib.use("Agg")
import numpy as np
from _common import N, S, desc
from sklearn.datasets import make_moons
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_moons(noise=0.3, random_state=0)
for alpha in 10.0 ** -np.arange(1, 4):
    clf = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            solver="lbfgs", alpha=alpha, random_state=1, max_iter=2000, early_stopping=True, hidden_layer_sizes=[10, 10]
        ),
    )
    clf.fit(X, y)
    disp = DecisionBoundaryDisplay.from_estimator(clf, X, response_method="predict_proba", alpha=0.8, eps=0.5)
    S(f"alpha {alpha}", desc(disp.response))
    N(f"alpha {alpha}", clf.score(X, y))
disp = DecisionBoundaryDisplay.from_estimator(clf, X, response_method="predict", plot_method="pcolormesh")
S("predict response", desc(disp.response))
