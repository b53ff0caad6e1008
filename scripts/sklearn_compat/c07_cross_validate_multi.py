from _common import N, S
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

X, y = load_digits(return_X_y=True)
X, y = X[:900], y[:900]
model = make_pipeline(MinMaxScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=100, random_state=0))
res = cross_validate(
    model,
    X,
    y,
    cv=3,
    scoring=["accuracy", "neg_log_loss", "f1_macro", "roc_auc_ovr"],
    return_train_score=True,
    return_estimator=True,
)
S("keys", sorted(res))
S("estimator", type(res["estimator"][0][-1]).__name__)
for k in ("test_accuracy", "test_neg_log_loss", "test_f1_macro", "test_roc_auc_ovr", "train_accuracy"):
    N(k, res[k])
