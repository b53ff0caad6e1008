import numpy as np
import scipy.sparse as sp
from _common import N, S, desc
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline

rng = np.random.default_rng(0)
good = ["great", "love", "excellent", "fun", "nice", "best"]
bad = ["awful", "hate", "boring", "worst", "bad", "poor"]
filler = ["movie", "film", "the", "plot", "actor", "scene", "a", "was"]
docs, labels = [], []
for i in range(300):
    pos = i % 2
    words = list(rng.choice(good if pos else bad, 2)) + list(rng.choice(filler, 5))
    rng.shuffle(words)
    docs.append(" ".join(words))
    labels.append("pos" if pos else "neg")
pipe = make_pipeline(TfidfVectorizer(), MLPClassifier(hidden_layer_sizes=(20,), max_iter=200, random_state=0))
pipe.fit(docs[:250], labels[:250])
S("predict", desc(pipe.predict(docs[250:])))
N("accuracy", pipe.score(docs[250:], labels[250:]))
Xs = sp.random(200, 30, density=0.1, format="csr", random_state=0)
ys = np.asarray(Xs.sum(axis=1)).ravel() > 0.5
clf = MLPClassifier(max_iter=100, random_state=0).fit(Xs, ys)
S("csr predict", desc(clf.predict(Xs)))
S("csc proba", desc(clf.predict_proba(Xs.tocsc())))
reg = MLPRegressor(max_iter=50, random_state=0).fit(sp.csr_array(Xs), ys.astype(float))
S("csr_array reg", desc(reg.predict(Xs)))
