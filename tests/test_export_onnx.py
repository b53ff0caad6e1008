"""ONNX export: the graph gives gpubp's predictions, number for number, in two runtimes; bad input is refused.

Every activation x every head x with/without standardisation x float32/float64,
run with onnx's ReferenceEvaluator (pure Python) and with onnxruntime.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_cases import (
    ACTIVATIONS,
    HEAD_CASES,
    HeadCase,
    assert_close,
    assert_same_labels,
    features,
    gpubp_predict,
    network,
)

from gpubp.errors import GpubpError, ParameterError
from gpubp.export import DEFAULT_OPSET, onnx_model, to_onnx
from gpubp.layers import Layer, Linear, ReLU
from gpubp.network import Sequential

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'gpubp[onnx]')")
from onnx.reference import ReferenceEvaluator  # noqa: E402

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
RUNTIMES = [
    "reference",
    pytest.param(
        "onnxruntime", marks=pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed here (pip install)")
    ),
]


def run(model: Any, runtime: str, X: Any) -> dict[str, Any]:
    """The model's outputs by name, from ``runtime``."""
    if runtime == "reference":
        session = ReferenceEvaluator(model)
        names = [o.name for o in model.graph.output]
        return dict(zip(names, session.run(None, {"X": X}), strict=True))
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X}), strict=True))


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# -- number for number ----------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("standardised", [False, True], ids=["raw", "standardised"])
@pytest.mark.parametrize("case", HEAD_CASES, ids=[c.id for c in HEAD_CASES])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_graph_gives_gpubp_predictions(
    activation: str, case: HeadCase, standardised: bool, dtype: str, runtime: str
) -> None:
    net = network(activation, case.n_outputs, dtype=dtype, seed=len(case.id))
    X, mean, scale = features(60, standardised=standardised)
    model = onnx_model(net, head=case.head, classes=case.classes, mean=mean, scale=scale)
    got = run(model, runtime, X.astype(dtype))
    expected = gpubp_predict(net, X, case, mean, scale, dtype)
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        if name == "label":
            assert_same_labels(got[name], value)
        else:
            assert_close(got[name], value, dtype)
    if "label" in expected:
        assert len(np.unique(expected["label"])) > 1  # the labels test something


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("n", [1, 4, 100])
def test_batch_is_dynamic(runtime: str, n: int) -> None:
    case = HEAD_CASES[0]
    net = network("tanh", case.n_outputs)
    X, mean, scale = features(n, standardised=True)
    model = onnx_model(net, head=case.head, classes=case.classes, mean=mean, scale=scale)
    got = run(model, runtime, X.astype(np.float32))
    assert got["label"].shape == (n,) and got["probabilities"].shape == (n, 3)
    assert_close(got["probabilities"], gpubp_predict(net, X, case, mean, scale, "float32")["probabilities"], "float32")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("opset", [13, 17, DEFAULT_OPSET])
def test_older_opsets(runtime: str, opset: int) -> None:
    case = HEAD_CASES[2]  # binary: Squeeze, Concat, Cast, Gather
    net = network("leaky_relu", 1, dtype="float64")
    X, mean, scale = features(9, standardised=True)
    model = onnx_model(net, head=case.head, classes=case.classes, mean=mean, scale=scale, opset=opset)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    got = run(model, runtime, X)
    expected = gpubp_predict(net, X, case, mean, scale, "float64")
    assert_same_labels(got["label"], expected["label"])
    assert_close(got["probabilities"], expected["probabilities"], "float64")


def test_newest_opset_the_onnx_package_knows() -> None:
    newest = onnx.defs.onnx_opset_version()
    net = network("relu", 2)
    X, _, _ = features(6)
    model = onnx_model(net, head="identity", opset=newest)
    expected = gpubp_predict(net, X, HeadCase("id", "identity", 2), None, None, "float32")
    assert_close(run(model, "reference", X.astype(np.float32))["value"], expected["value"], "float32")


def test_a_float64_network_exported_as_float32() -> None:
    net = network("sigmoid", 3, dtype="float64")
    X, _, _ = features(8)
    model = onnx_model(net, head="softmax", dtype="float32")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    net32 = Sequential(*net.layers).to(None, dtype="float32")  # the same rounding, then gpubp's forward
    expected = gpubp_predict(net32, X, HeadCase("s", "softmax", 3, [0, 1, 2]), None, None, "float32")
    assert_close(run(model, "reference", X.astype(np.float32))["probabilities"], expected["probabilities"], "float32")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("in_float64", [True, False], ids=["float64-standardisation", "float32-only"])
def test_float32_standardisation_choices(runtime: str, in_float64: bool) -> None:
    case = HEAD_CASES[1]
    net = network("relu", case.n_outputs)
    X, mean, scale = features(60, standardised=True)
    model = onnx_model(
        net, head=case.head, classes=case.classes, mean=mean, scale=scale, standardise_in_float64=in_float64
    )
    types = {t.name: t.data_type for t in model.graph.initializer}
    double = onnx.TensorProto.DOUBLE
    assert {n for n, t in types.items() if t == double} == ({"mean", "scale"} if in_float64 else set())
    assert (any(n.op_type == "Cast" for n in model.graph.node)) is in_float64
    got = run(model, runtime, X.astype(np.float32))
    expected = gpubp_predict(net, X, case, mean, scale, "float32", in_float64)
    assert_same_labels(got["label"], expected["label"])
    assert_close(got["probabilities"], expected["probabilities"], "float32")


@pytest.mark.parametrize("case", HEAD_CASES, ids=lambda c: c.id)
def test_every_initializer_is_used(case: HeadCase) -> None:
    """onnxruntime warns of (and drops) an initializer no node reads."""
    mean, scale = np.zeros(5), np.ones(5)
    model = onnx_model(network("relu", case.n_outputs), head=case.head, classes=case.classes, mean=mean, scale=scale)
    read = {name for node in model.graph.node for name in node.input}
    assert {t.name for t in model.graph.initializer} <= read


def test_float32_standardisation_is_in_float32_by_default() -> None:
    model = onnx_model(network("relu", 3), head="softmax", mean=np.ones(5), scale=np.full(5, 3.0))
    assert not any(n.op_type == "Cast" for n in model.graph.node)
    assert {t.data_type for t in model.graph.initializer if t.name in ("mean", "scale")} == {onnx.TensorProto.FLOAT}


# -- the file: names, shapes, checks ---------------------------------------------


@pytest.mark.parametrize(
    ("case", "outputs"),
    [
        (HEAD_CASES[0], {"label": (onnx.TensorProto.STRING, ["batch"]), "probabilities": (1, ["batch", 3])}),
        (HEAD_CASES[2], {"label": (onnx.TensorProto.INT64, ["batch"]), "probabilities": (1, ["batch", 2])}),
        (HEAD_CASES[4], {"label": (onnx.TensorProto.INT64, ["batch", 3]), "probabilities": (1, ["batch", 3])}),
        (HEAD_CASES[5], {"value": (1, ["batch"])}),
        (HEAD_CASES[8], {"value": (1, ["batch", 3])}),
    ],
    ids=lambda v: v.id if isinstance(v, HeadCase) else "",
)
def test_written_file_is_checked_with_documented_names_and_shapes(
    tmp_path: Path, case: HeadCase, outputs: dict[str, Any]
) -> None:
    path = tmp_path / "model.onnx"
    to_onnx(network("relu", case.n_outputs), path, head=case.head, classes=case.classes)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)

    def described(value_info: Any) -> tuple[int, list[Any]]:
        t = value_info.type.tensor_type
        return t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]

    assert [i.name for i in model.graph.input] == ["X"]
    assert described(model.graph.input[0]) == (onnx.TensorProto.FLOAT, ["batch", 5])
    assert {o.name: described(o) for o in inferred.graph.output} == outputs
    assert [o.name for o in model.graph.output] == list(outputs)  # label before probabilities
    props = {p.key: p.value for p in model.metadata_props}
    assert props["gpubp.head"] == case.head and props["gpubp.n_features"] == "5"
    assert model.producer_name == "gpubp" and model.ir_version <= onnx.IR_VERSION
    assert temp_files(tmp_path) == []


def test_float64_model_has_float64_input_and_outputs() -> None:
    model = onnx_model(network("relu", 2, dtype="float64"), head="exp")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert {t.data_type for t in model.graph.initializer} == {onnx.TensorProto.DOUBLE}


def test_onnx_export_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from gpubp.network import Sequential\nfrom gpubp.layers import Linear, ReLU\n"
        "from gpubp.export import to_onnx\n"
        "net = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))\n"
        f"to_onnx(net, {str(tmp_path / 'm.onnx')!r}, head='softmax', mean=np.zeros(3), scale=np.ones(3))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(
        GpubpError, match=r"ONNX export needs the onnx package \(pip install (-e '.*\[onnx\]' or pip install )?onnx\)"
    ):
        onnx_model(network("relu", 2), head="softmax")


# -- bad input: one clear error, nothing written -----------------------------------


class Dropout(Layer):
    def forward(self, x: Any) -> Any:
        return x


class MyReLU(ReLU):
    pass


def bad_networks() -> list[Any]:
    return [
        pytest.param(Sequential(Linear(5, 4, rng=0), Dropout(), Linear(4, 2)), "layer 1 is Dropout", id="custom"),
        pytest.param(Sequential(Linear(5, 4, rng=0), MyReLU(), Linear(4, 2)), "layer 1 is MyReLU", id="subclass"),
        pytest.param(Sequential(ReLU()), "the network has no Linear layer", id="no-linear"),
        pytest.param(
            Sequential(Linear(5, 4), ReLU(), Linear(3, 2)), "layer 2 \\(Linear\\) takes 3 inputs", id="widths"
        ),
        pytest.param(Sequential(Sequential(Linear(5, 2))), "layer 0 is Sequential", id="nested"),
    ]


@pytest.mark.parametrize(("net", "message"), bad_networks())
def test_a_layer_that_cannot_be_exported(tmp_path: Path, net: Sequential, message: str) -> None:
    path = tmp_path / "model.onnx"
    with pytest.raises(GpubpError, match=f"cannot export to ONNX: {message}"):
        to_onnx(net, path, head="softmax")
    assert list(tmp_path.iterdir()) == []


def test_not_a_network() -> None:
    with pytest.raises(GpubpError, match="expected a gpubp Sequential network, got Linear"):
        onnx_model(Linear(2, 2), head="identity")  # type: ignore[arg-type]


def test_weights_that_are_not_finite() -> None:
    net = network("relu", 2, dtype="float64")
    net.layers[2].weight.data[0, 0] = np.nan
    with pytest.raises(GpubpError, match=r"layer 2 \(Linear\) has parameters that are not finite"):
        onnx_model(net, head="softmax")
    net = network("relu", 2, dtype="float64")
    net.layers[0].bias.data[0] = 1e300  # finite in float64, infinite in float32
    with pytest.raises(GpubpError, match=r"layer 0 \(Linear\)"):
        onnx_model(net, head="softmax", dtype="float32")


BAD_SETTINGS = [
    ({"head": "sigmoid"}, "head='sigmoid': must be one of softmax, logistic, identity, exp"),
    ({"head": "softmax", "classes": ["a", "b"]}, "classes: must name 3 labels for 3 softmax logits, got 2"),
    ({"head": "softmax", "classes": ["a", "b", "a"]}, "classes=\\['a', 'b', 'a'\\]: must be distinct"),
    (
        {"head": "softmax", "classes": [1, "b", 2]},
        "classes: must be all strings, integers, bools or numbers, got int, str",
    ),
    (
        {"head": "softmax", "classes": [True, 2, 3]},
        "classes: must be all strings, integers, bools or numbers, got bool, int",
    ),
    ({"head": "softmax", "classes": [1.5, np.nan, 3.0]}, "classes: must hold finite numbers"),
    ({"head": "softmax", "classes": [True, False, True]}, "classes=\\[True, False, True\\]: must be distinct"),
    ({"head": "softmax", "classes": [[1, 2, 3]]}, "classes: must be a non-empty flat list of labels, got shape"),
    ({"head": "softmax", "classes": [2**70, 1, 2]}, "classes: must hold integers that fit in int64"),
    ({"head": "identity", "classes": [0, 1, 2]}, "classes: must be None for the regressor head 'identity'"),
    ({"head": "softmax", "mean": np.zeros(5)}, "mean, scale: give both or neither"),
    ({"head": "softmax", "mean": np.zeros(4), "scale": np.ones(4)}, "mean: must have shape \\(5,\\) for 5 features"),
    ({"head": "softmax", "mean": np.zeros(5), "scale": np.zeros(5)}, "scale: must have no zeros"),
    ({"head": "softmax", "mean": np.full(5, np.nan), "scale": np.ones(5)}, "mean: must hold finite numbers"),
    ({"head": "softmax", "mean": ["a"] * 5, "scale": np.ones(5)}, "mean: must be an array of numbers"),
    ({"head": "softmax", "dtype": "float16"}, "dtype='float16': must be 'float32' or 'float64'"),
    ({"head": "softmax", "opset": 12}, "opset=12: must be an integer from 13 to \\d+"),
    ({"head": "softmax", "opset": 999}, "opset=999: must be an integer from 13 to"),
    ({"head": "softmax", "opset": True}, "opset=True: must be an integer from 13 to \\d+"),
    ({"head": "softmax", "standardise_in_float64": 1}, "standardise_in_float64=1: must be True or False"),
]


@pytest.mark.parametrize(
    ("settings", "message"), BAD_SETTINGS, ids=[m.split(":")[0].split("=")[0] for _, m in BAD_SETTINGS]
)
def test_bad_settings_leave_the_old_file(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ParameterError, match=f"^{message}") as info:
        to_onnx(network("relu", 3), path, **settings)
    assert "\n" not in str(info.value) and isinstance(info.value, GpubpError)
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_head_widths() -> None:
    with pytest.raises(ParameterError, match="^head: 'softmax' needs 2 or more logits, the network gives 1"):
        onnx_model(network("relu", 1), head="softmax")
    with pytest.raises(ParameterError, match="^classes: must name 2 labels for a binary 'logistic' head, got 3"):
        onnx_model(network("relu", 1), head="logistic", classes=[0, 1, 2])
    with pytest.raises(ParameterError, match="^classes: must name 3 labels for 3 multilabel outputs, got 2"):
        onnx_model(network("relu", 3), head="logistic", classes=[0, 1])


def test_unwritable_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = network("relu", 2)
    missing = tmp_path / "no" / "model.onnx"
    with pytest.raises(GpubpError, match=f"cannot write ONNX file {missing}: folder .* does not exist"):
        to_onnx(net, missing, head="softmax")
    (tmp_path / "adir").mkdir()
    with pytest.raises(GpubpError, match="it is a folder \\(give a file name, e.g. model.onnx\\)"):
        to_onnx(net, tmp_path / "adir", head="softmax")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # root ignores chmod, so simulate the refusal
    with pytest.raises(GpubpError, match="cannot write ONNX file .*m.onnx: Permission denied"):
        to_onnx(net, tmp_path / "m.onnx", head="softmax")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GpubpError, match=f"^cannot write ONNX file {path}: No space left on device$"):
        to_onnx(network("relu", 2), path, head="softmax")
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


# -- a network on any backend ----------------------------------------------------------


@pytest.mark.parametrize("head_case", [HEAD_CASES[0], HEAD_CASES[7]], ids=lambda c: c.id)
def test_a_network_on_any_backend(case: Any, head_case: HeadCase) -> None:
    net = network("tanh", head_case.n_outputs, dtype=case.dtype, backend=case.backend)
    X, mean, scale = features(20, standardised=True)
    model = onnx_model(net, head=head_case.head, classes=head_case.classes, mean=mean, scale=scale)
    got = run(model, "reference", X.astype(case.dtype))
    for name, value in gpubp_predict(net, X, head_case, mean, scale, case.dtype).items():
        if name == "label":
            assert_same_labels(got[name], value)
        else:
            assert_close(got[name], value, case.dtype)
