from _common import N, S, desc
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.datasets import make_classification
from sklearn.metrics import brier_score_loss
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=1500, n_features=10, random_state=0)
for method in ("sigmoid", "isotonic"):
    cal = CalibratedClassifierCV(MLPClassifier(max_iter=200, random_state=0), method=method, cv=3)
    cal.fit(X[:1000], y[:1000])
    p = cal.predict_proba(X[1000:])
    S(method, desc(p))
    N(method + " brier", brier_score_loss(y[1000:], p[:, 1]))
prob_true, prob_pred = calibration_curve(y[1000:], p[:, 1], n_bins=5)
S("curve", desc(prob_true))
