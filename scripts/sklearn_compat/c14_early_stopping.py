from _common import N, S, desc
from sklearn.datasets import make_classification, make_friedman1
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, y = make_classification(n_samples=3000, n_features=20, n_informative=5, flip_y=0.1, random_state=3)
clf = MLPClassifier(
    hidden_layer_sizes=(100, 50),
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=5,
    max_iter=300,
    random_state=0,
).fit(X, y)
S("validation_scores_", desc(clf.validation_scores_))
S("len equal", len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_)
S("best_validation_score_ is max", clf.best_validation_score_ == max(clf.validation_scores_))
S("best_loss_", clf.best_loss_)
S("types", (type(clf.validation_scores_[0]).__name__, type(clf.best_validation_score_).__name__))
S("stopped early", clf.n_iter_ < 300)
N("n_iter_", clf.n_iter_)
N("best val", clf.best_validation_score_)
reg = MLPRegressor(early_stopping=True, random_state=0, max_iter=300)

Xr, yr = make_friedman1(n_samples=1000, random_state=0)
reg.fit(Xr, yr)
S("reg validation_scores_", desc(reg.validation_scores_))
N("reg best val", reg.best_validation_score_)
