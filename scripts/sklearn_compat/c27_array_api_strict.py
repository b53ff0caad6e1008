import array_api_strict as xp
import sklearn
from _common import S
from sklearn.datasets import make_regression
from sklearn.neural_network import MLPRegressor

X, y = make_regression(n_samples=300, n_features=5, random_state=0)
Xa, ya = xp.asarray(X), xp.asarray(y)
for dispatch in (False, True):
    with sklearn.config_context(array_api_dispatch=dispatch):
        try:
            reg = MLPRegressor(max_iter=50, random_state=0).fit(Xa, ya)
            p = reg.predict(Xa)
            S(f"dispatch={dispatch}", type(p).__module__.split(".")[0])
        except Exception as e:
            S(f"dispatch={dispatch} error", type(e).__name__)
