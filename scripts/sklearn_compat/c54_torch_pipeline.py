import numpy as np
import torch
from _common import N
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_classification(400, 8, random_state=0)
pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=0))
pipe.fit(torch.asarray(X), torch.asarray(y))
p = pipe.predict(torch.asarray(X))
N("acc", accuracy_score(y, np.asarray(p)))
s = cross_val_score(MLPClassifier(max_iter=50, random_state=0), X.astype(np.float32), y, cv=3)
N("cv float32", s)
