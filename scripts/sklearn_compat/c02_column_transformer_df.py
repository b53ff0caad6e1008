import numpy as np
import pandas as pd
from _common import N, S, desc
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

rng = np.random.default_rng(0)
n = 600
df = pd.DataFrame(
    {
        "age": rng.integers(18, 80, n),
        "income": rng.normal(5e4, 1.5e4, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "plan": rng.choice(["a", "b"], n),
        "score": np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
    }
)
y = np.where((df.age > 45) ^ (df.city == "nice"), "churn", "stay")
Xtr, Xte, ytr, yte = train_test_split(df, y, random_state=0)
pre = ColumnTransformer(
    [
        ("num", Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler())]), ["age", "income", "score"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
    ]
)
clf = Pipeline([("pre", pre), ("mlp", MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=500, random_state=0))])
clf.fit(Xtr, ytr)
S("predict", desc(clf.predict(Xte)))
S("labels", sorted(set(clf.predict(Xte))))
S("classes_", list(clf.classes_))
S("proba", desc(clf.predict_proba(Xte)))
S("n_features_in_ of mlp", clf[-1].n_features_in_)
S("feature_names_in_ of pipe", list(clf.feature_names_in_))
N("accuracy", clf.score(Xte, yte))
