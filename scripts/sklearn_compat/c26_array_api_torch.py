import numpy as np
import sklearn
import torch
from _common import N, S
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier

X, y = make_classification(n_samples=300, random_state=0)
# torch CPU tensors, no dispatch: as numpy-like inputs
Xt, yt = torch.asarray(X, dtype=torch.float32), torch.asarray(y)
clf = MLPClassifier(max_iter=50, random_state=0).fit(Xt, yt)
p = clf.predict(Xt)
S("predict type", type(p).__module__.split(".")[0])
N("acc", (np.asarray(p) == y).mean())
with sklearn.config_context(array_api_dispatch=True):
    try:
        clf = MLPClassifier(max_iter=50, random_state=0).fit(Xt, yt)
        p = clf.predict(Xt)
        S("dispatch ok", True)
        N("dispatch acc", (np.asarray(p) == y).mean())
    except Exception as e:
        S("dispatch", type(e).__name__)
