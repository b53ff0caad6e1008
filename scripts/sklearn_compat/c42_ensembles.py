from _common import N, S, desc
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import BaggingClassifier, StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
mlp = MLPClassifier(hidden_layer_sizes=(20,), max_iter=300, random_state=0)
vote = VotingClassifier([("mlp", mlp), ("lr", LogisticRegression())], voting="soft").fit(Xtr, ytr)
N("voting", vote.score(Xte, yte))
stack = StackingClassifier(
    [("mlp", mlp), ("lr", LogisticRegression())], final_estimator=LogisticRegression(), cv=3
).fit(Xtr, ytr)
N("stacking", stack.score(Xte, yte))
S("stack transform", desc(stack.transform(Xte)))
bag = BaggingClassifier(mlp, n_estimators=4, random_state=0, n_jobs=2).fit(Xtr, ytr)
N("bagging", bag.score(Xte, yte))
S("bag proba", desc(bag.predict_proba(Xte)))
