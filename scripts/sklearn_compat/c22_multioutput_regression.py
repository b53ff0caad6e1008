from _common import N, S, desc
from sklearn.datasets import make_regression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

X, Y = make_regression(n_samples=800, n_features=8, n_targets=3, noise=0.5, random_state=0)
Y = StandardScaler().fit_transform(Y)
Xtr, Xte, Ytr, Yte = train_test_split(X, Y, random_state=0)
reg = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, random_state=0).fit(Xtr, Ytr)
P = reg.predict(Xte)
S("predict", desc(P))
S("n_outputs_", reg.n_outputs_)
S("last coef", reg.coefs_[-1].shape)
N("r2", reg.score(Xte, Yte))
S("raw r2", desc(r2_score(Yte, P, multioutput="raw_values")))
reg1 = MLPRegressor(max_iter=20, random_state=0).fit(Xtr, Ytr[:, :1])
S("(n,1) target predict", desc(reg1.predict(Xte)))
