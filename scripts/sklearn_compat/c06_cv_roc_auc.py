from _common import N, S, desc
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(30,), max_iter=500, random_state=42))
for scoring in ("roc_auc", "neg_log_loss", "average_precision", "balanced_accuracy", "f1"):
    s = cross_val_score(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), scoring=scoring, n_jobs=2)
    S(scoring, desc(s))
    N(scoring, s)
