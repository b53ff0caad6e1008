import io
import pickle

import joblib
import numpy as np
from _common import S
from sklearn.datasets import load_iris, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

X, y = load_iris(return_X_y=True)
clf = MLPClassifier(max_iter=300, random_state=0).fit(X, y)
clf2 = pickle.loads(pickle.dumps(clf))
S("pickle same predictions", np.array_equal(clf.predict_proba(X), clf2.predict_proba(X)))
S("attrs survive", all(hasattr(clf2, a) for a in ("coefs_", "loss_curve_", "classes_", "n_iter_", "best_loss_")))
joblib.dump(clf, "/tmp/_skc_model.joblib")
clf3 = joblib.load("/tmp/_skc_model.joblib")
S("joblib same", np.array_equal(clf.predict(X), clf3.predict(X)))
buf = io.BytesIO()
joblib.dump(clf, buf, compress=3)
buf.seek(0)
S("joblib compressed", np.array_equal(clf.predict(X), joblib.load(buf).predict(X)))
Xr, yr = make_regression(200, 5, random_state=0)
reg = MLPRegressor(max_iter=50, random_state=0).fit(Xr, yr)
reg2 = pickle.loads(pickle.dumps(reg))
S("reg same", np.allclose(reg.predict(Xr), reg2.predict(Xr)))
# continue training an unpickled model
reg2.partial_fit(Xr, yr)
S("partial after unpickle", reg2.n_iter_)
unfitted = pickle.loads(pickle.dumps(MLPClassifier(alpha=0.5)))
S("unfitted alpha", unfitted.alpha)
