from _common import N, S, desc
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_diabetes(return_X_y=True)
model = make_pipeline(
    StandardScaler(),
    MLPRegressor(
        hidden_layer_sizes=(64, 32), learning_rate_init=0.01, max_iter=500, early_stopping=True, random_state=0
    ),
)
cv = KFold(5, shuffle=True, random_state=0)
for scoring in (
    "r2",
    "neg_mean_absolute_error",
    "neg_root_mean_squared_error",
    "neg_mean_squared_error",
    "explained_variance",
):
    s = cross_val_score(model, X, y, cv=cv, scoring=scoring)
    S(scoring, desc(s))
    N(scoring, s)
