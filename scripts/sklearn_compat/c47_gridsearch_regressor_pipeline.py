import numpy as np
import pandas as pd
from _common import N, S
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

rng = np.random.default_rng(1)
n = 500
df = pd.DataFrame(
    {
        "sqft": rng.uniform(500, 3000, n),
        "rooms": rng.integers(1, 6, n),
        "zone": pd.Categorical(rng.choice(["A", "B", "C"], n)),
    }
)
price = (
    100 * df.sqft + 2e4 * df.rooms + df.zone.map({"A": 5e4, "B": 0, "C": -3e4}).astype(float) + rng.normal(0, 1e4, n)
)
pre = make_column_transformer(
    (StandardScaler(), make_column_selector(dtype_include=np.number)),
    (OneHotEncoder(), make_column_selector(dtype_include="category")),
)
pipe = make_pipeline(pre, MLPRegressor(max_iter=1000, random_state=0))
gs = GridSearchCV(
    pipe,
    {"mlpregressor__hidden_layer_sizes": [(32,), (64, 32)], "mlpregressor__learning_rate_init": [1e-2, 1e-1]},
    cv=KFold(3, shuffle=True, random_state=0),
    scoring="neg_mean_absolute_error",
    n_jobs=2,
)
gs.fit(df, price)
S("best keys", sorted(gs.best_params_))
N("best MAE", -gs.best_score_)
N("r2", gs.best_estimator_.score(df, price))
