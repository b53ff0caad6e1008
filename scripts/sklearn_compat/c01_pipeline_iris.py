from _common import N, S, desc
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_iris(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, stratify=y, random_state=0)
pipe = Pipeline(
    [("scaler", StandardScaler()), ("mlp", MLPClassifier(hidden_layer_sizes=(10,), max_iter=1000, random_state=1))]
)
S("fit returns", type(pipe.fit(Xtr, ytr)).__name__)
S("predict", desc(pipe.predict(Xte)))
S("predict_proba", desc(pipe.predict_proba(Xte)))
S("predict_log_proba", desc(pipe.predict_log_proba(Xte)))
S("classes_", desc(pipe.classes_) + str(pipe.classes_))
mlp = pipe.named_steps["mlp"]
S(
    "attrs",
    [
        type(getattr(mlp, a)).__name__
        for a in (
            "n_iter_",
            "n_layers_",
            "n_outputs_",
            "out_activation_",
            "loss_",
            "t_",
            "best_loss_",
            "loss_curve_",
            "n_features_in_",
        )
    ],
)
S("out", (mlp.n_layers_, mlp.n_outputs_, mlp.out_activation_, mlp.n_features_in_))
S("validation_scores_", mlp.validation_scores_)
S("score type", type(pipe.score(Xte, yte)).__name__)
N("accuracy", pipe.score(Xte, yte))
