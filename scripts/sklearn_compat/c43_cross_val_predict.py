from _common import N, S, desc
from sklearn.datasets import load_wine
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_wine(return_X_y=True)
model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=400, random_state=0))
P = cross_val_predict(model, X, y, cv=5, method="predict_proba")
S("proba", desc(P))
N("log loss", log_loss(y, P))
L = cross_val_predict(model, X, y, cv=5, method="predict_log_proba")
S("log proba", desc(L))
yhat = cross_val_predict(model, X, y, cv=5)
S("pred", desc(yhat))
