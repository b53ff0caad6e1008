import matplotlib

matplotlib.use("Agg")
from _common import N, S, desc
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    DetCurveDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    classification_report,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
clf = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0)).fit(Xtr, ytr)
cm = ConfusionMatrixDisplay.from_estimator(clf, Xte, yte, normalize="true")
S("cm", desc(cm.confusion_matrix))
roc = RocCurveDisplay.from_estimator(clf, Xte, yte)
N("roc auc", roc.roc_auc)
pr = PrecisionRecallDisplay.from_estimator(clf, Xte, yte)
N("ap", pr.average_precision)
DetCurveDisplay.from_estimator(clf, Xte, yte)
rep = classification_report(yte, clf.predict(Xte), output_dict=True)
S("report keys", sorted(rep))
