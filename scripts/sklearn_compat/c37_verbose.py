import contextlib
import io

from _common import S
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

X, y = load_iris(return_X_y=True)
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    MLPClassifier(max_iter=5, verbose=True, random_state=0).fit(X, y)
lines = buf.getvalue().splitlines()
S("verbose lines", len(lines))
S("first", lines[0].split("=")[0])
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    MLPClassifier(max_iter=5, verbose=True, early_stopping=True, random_state=0).fit(X, y)
lines = buf.getvalue().splitlines()
S("es lines", [l.split(" ")[0] for l in lines[:4]])
S("es count", len(lines))
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    MLPClassifier(max_iter=500, verbose=True, tol=1e-1, random_state=0).fit(X, y)
lines = buf.getvalue().splitlines()
S("converged message", lines[-1][:40])
