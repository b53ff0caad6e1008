from _common import S, desc
from sklearn.datasets import load_iris
from sklearn.feature_selection import RFE, SelectFromModel
from sklearn.neural_network import MLPClassifier

X, y = load_iris(return_X_y=True)
for sel in (
    SelectFromModel(MLPClassifier(max_iter=50, random_state=0)),
    RFE(MLPClassifier(max_iter=50, random_state=0), n_features_to_select=2),
):
    try:
        sel.fit(X, y)
        S(type(sel).__name__, "fitted")
    except Exception as e:
        S(type(sel).__name__, type(e).__name__ + ": " + str(e)[:60])
sel = SelectFromModel(
    MLPClassifier(max_iter=50, random_state=0), importance_getter=lambda est: abs(est.coefs_[0]).sum(axis=1)
)
S("getter", desc(sel.fit_transform(X, y)))
