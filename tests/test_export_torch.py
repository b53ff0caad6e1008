"""PyTorch both ways: state dicts with nn.Sequential's keys and layouts, exact round trips, clear refusals."""

from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from export_cases import (
    ACTIVATIONS,
    HEAD_CASES,
    HeadCase,
    assert_close,
    features,
    gpubp_outputs,
    gpubp_predict,
    network,
)

from gpubp.errors import GpubpError
from gpubp.export import save_torch, torch_source, torch_state_dict
from gpubp.layers import Layer, Linear, ReLU
from gpubp.network import Sequential

DTYPES = ["float32", "float64"]
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (pip install 'gpubp[torch]')")


def bits_equal(a: Any, b: Any) -> bool:
    """Same shape, dtype and bytes (so -0.0 and NaN payloads count too)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def torch_forward(module: Any, X: Any, dtype: str) -> Any:
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(X.astype(dtype))).numpy()


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# -- the state dict: nn.Sequential's keys and layouts -------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dict_is_gpubp_transposed_under_sequential_keys(dtype: str) -> None:
    net = network("leaky_relu", 3, dtype=dtype)
    state = torch_state_dict(net)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    for i in (0, 2, 4):
        W, b = net.layers[i].weight.data, net.layers[i].bias.data  # (in, out), (out,)
        assert bits_equal(state[f"{i}.weight"], np.ascontiguousarray(W.T)) and state[f"{i}.weight"].flags.c_contiguous
        assert bits_equal(state[f"{i}.bias"], b)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_state_dict_loads_strictly_into_the_module_torch_source_builds(tmp_path: Path, dtype: str) -> None:
    import torch

    net = network("tanh", 2, dtype=dtype)
    path = tmp_path / "model.safetensors"
    source = save_torch(net, path)
    scope: dict[str, Any] = {}
    exec(source, scope)  # builds model, loads the file with strict=True
    module = scope["model"]
    assert [type(m).__name__ for m in module] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert all(p.dtype == getattr(torch, dtype) for p in module.parameters())
    for key, value in module.state_dict().items():
        assert bits_equal(value.numpy(), torch_state_dict(net)[key])


def test_safetensors_file_without_torch(tmp_path: Path) -> None:
    net = network("relu", 3)
    path = tmp_path / "model.safetensors"
    save_torch(net, path, head="softmax", classes=["a", "b", "c"])
    loaded = safetensors.numpy.load_file(str(path))
    assert sorted(loaded) == sorted(torch_state_dict(net))
    assert all(bits_equal(loaded[k], v) for k, v in torch_state_dict(net).items())
    header = path.read_bytes()
    assert b'"format":"pt"' in header and b'\\"classes\\": [\\"a\\", \\"b\\", \\"c\\"]' in header
    assert temp_files(tmp_path) == []


def test_saving_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from gpubp.network import Sequential\nfrom gpubp.layers import Linear, ReLU\n"
        "from gpubp.export import save_torch\n"
        "net = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))\n"
        f"print(save_torch(net, {str(tmp_path / 'm.safetensors')!r}))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch.nn.Linear(3, 4),  # 0" in done.stdout


# -- both ways, exactly ------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_gpubp_to_torch_and_back_is_exact(activation: str, dtype: str) -> None:
    from gpubp.export import from_torch

    net = network(activation, 3, dtype=dtype)
    module = net.to_torch()
    back = from_torch(module)
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in net.layers]
    assert back.config() == net.config()
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), back.state_dict().items(), strict=True):
        assert k1 == k2 and bits_equal(v1, v2)
    X, _, _ = features(30)
    assert_close(torch_forward(module, X, dtype), gpubp_outputs(net, X, None, None, dtype), dtype)
    assert bits_equal(gpubp_outputs(back, X, None, None, dtype), gpubp_outputs(net, X, None, None, dtype))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_to_gpubp_and_back_is_exact(dtype: str) -> None:
    import torch

    from gpubp.export import from_torch, to_torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(5, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 8),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Linear(8, 6),
        torch.nn.Sigmoid(),
        torch.nn.Linear(6, 4),
        torch.nn.Tanh(),
        torch.nn.Identity(),
        torch.nn.Linear(4, 2),
    ).to(getattr(torch, dtype))
    net = from_torch(module)
    again = to_torch(net)
    assert [type(m) for m in again] == [type(m) for m in module] and again[3].negative_slope == 0.2
    for (k1, v1), (k2, v2) in zip(module.state_dict().items(), again.state_dict().items(), strict=True):
        assert k1 == k2 and v1.dtype == v2.dtype and torch.equal(v1, v2)
    X, _, _ = features(30)
    assert_close(gpubp_outputs(net, X, None, None, dtype), torch_forward(module, X, dtype), dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "leaky_relu"])
def test_folded_standardisation_takes_raw_features(activation: str, dtype: str) -> None:
    from gpubp.export import to_torch

    net = network(activation, 2, dtype=dtype)
    X, mean, scale = features(60, standardised=True)
    folded = to_torch(net, mean=mean, scale=scale)
    assert_close(torch_forward(folded, X, dtype), gpubp_outputs(net, X, mean, scale, dtype), dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", HEAD_CASES, ids=[c.id for c in HEAD_CASES])
def test_saved_file_and_printed_lines_give_gpubp_predictions(tmp_path: Path, case: HeadCase, dtype: str) -> None:
    import torch

    net = network("relu", case.n_outputs, dtype=dtype, seed=len(case.id))
    X, mean, scale = features(60, standardised=True)
    path = tmp_path / "model.safetensors"
    source = save_torch(net, path, head=case.head, classes=case.classes, mean=mean, scale=scale)
    assert "folded into layer 0" in source
    scope: dict[str, Any] = {"X": torch.from_numpy(X.astype(dtype))}
    exec(source, scope)
    expected = gpubp_predict(net, X, case, mean, scale, dtype)
    for name, value in expected.items():
        got = scope[name]
        if name == "label" and value.ndim == 1:
            assert got == value.tolist()  # a list of the classes themselves
        elif name == "label":
            assert got.dtype == torch.int64 and np.array_equal(got.numpy(), value)
        else:
            assert_close(got.numpy(), value, dtype)


@needs_torch
def test_to_torch_draws_no_random_numbers() -> None:
    import torch

    from gpubp.export import to_torch

    before = torch.random.get_rng_state()
    to_torch(network("relu", 2))
    assert torch.equal(before, torch.random.get_rng_state())


@needs_torch
def test_from_torch_options() -> None:
    import torch

    from gpubp.export import from_torch

    half = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False)).to(torch.float16)
    with pytest.raises(GpubpError, match="the module's parameters are float16; pass dtype='float32' or 'float64'"):
        from_torch(half)
    net = from_torch(half, dtype="float64", backend="array_api_strict")
    assert net.layers[0].bias.data.dtype == net.layers[0].bias.data.__array_namespace__().float64
    assert np.all(net.state_dict()["0.bias"] == 0)  # no bias: a zero bias
    assert bits_equal(net.state_dict()["0.weight"], half[0].weight.detach().double().numpy().T)
    assert from_torch(torch.nn.Sequential(torch.nn.ReLU())).config()["layers"] == [{"type": "ReLU"}]


# -- bad input: one clear error, nothing written -------------------------------------


@needs_torch
def test_from_torch_names_the_layer_it_cannot_take() -> None:
    import torch

    from gpubp.export import from_torch

    cases = [
        (
            torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(), torch.nn.Linear(4, 1)),
            "layer 1 is torch.nn.Dropout",
        ),
        (
            torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sequential(torch.nn.ReLU())),
            "layer 1 is torch.nn.Sequential",
        ),
        (
            torch.nn.Sequential(collections.OrderedDict(fc=torch.nn.Linear(3, 4), act=torch.nn.GELU())),
            "layer 1 \\('act'\\) is torch.nn.GELU, which gpubp cannot represent \\(supported: Linear, ReLU",
        ),
        (torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(1.5)), "layer 1: LeakyReLU: negative_slope"),
        (torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(5, 1)), "layer 1: Linear takes 5 inputs"),
        (torch.nn.Linear(3, 4), "expected a torch.nn.Sequential, got Linear"),
        (torch.nn.Sequential(), "the nn.Sequential is empty"),
    ]
    with warnings.catch_warnings():  # torch: "Initializing zero-element tensors is a no-op"
        warnings.simplefilter("ignore", UserWarning)
        empty = torch.nn.Linear(4, 0)
    cases.append((torch.nn.Sequential(torch.nn.Linear(3, 4), empty), "layer 1: Linear: out_features must be"))

    class Mine(torch.nn.ReLU):
        pass

    cases.append((torch.nn.Sequential(Mine()), "layer 0 is .*Mine, which gpubp cannot represent"))
    for module, message in cases:
        with pytest.raises(GpubpError, match=f"^from_torch: {message}") as info:
            from_torch(module)
        assert type(info.value) is GpubpError and "\n" not in str(info.value)


class Dropout(Layer):
    def forward(self, x: Any) -> Any:
        return x


def test_export_refuses_what_torch_cannot_take(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(GpubpError, match="cannot export to PyTorch: layer 1 is Dropout, which has no PyTorch equiv"):
        save_torch(Sequential(Linear(3, 4), Dropout(), Linear(4, 2)), path)
    with pytest.raises(
        GpubpError, match="^mean, scale: cannot be folded: .* into the first layer, which must be Linear, not ReLU$"
    ):
        save_torch(Sequential(ReLU(), Linear(3, 2)), path, mean=np.zeros(3), scale=np.ones(3))
    with pytest.raises(GpubpError, match="^head='softmax2': must be one of softmax, logistic, identity, exp$"):
        save_torch(network("relu", 3), path, head="softmax2")
    with pytest.raises(GpubpError, match="^scale: must have no zeros"):
        save_torch(network("relu", 3), path, mean=np.zeros(5), scale=np.zeros(5))
    with pytest.raises(GpubpError, match="^dtype='bfloat16': must be 'float32' or 'float64'$"):
        save_torch(network("relu", 3), path, dtype="bfloat16")
    net = network("relu", 2, dtype="float64")
    net.layers[0].weight.data[0, 0] = 1e300
    with pytest.raises(GpubpError, match=r"layer 0 \(Linear\) is not finite in float32"):
        save_torch(net, path, dtype="float32")
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_unwritable_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = network("relu", 2)
    missing = tmp_path / "no" / "model.safetensors"
    with pytest.raises(GpubpError, match=f"^cannot write PyTorch file {missing}: folder .* does not exist$"):
        save_torch(net, missing)
    (tmp_path / "adir").mkdir()
    with pytest.raises(GpubpError, match="cannot write PyTorch file .*adir: it is a folder"):
        save_torch(net, tmp_path / "adir")
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GpubpError, match=f"^cannot write PyTorch file {path}: No space left on device$"):
        save_torch(net, path)
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_torch_source_is_plain_python() -> None:
    source = torch_source(network("leaky_relu", 1), path="m.safetensors", head="logistic", classes=["no", "yes"])
    compile(source, "<source>", "exec")
    assert "torch.nn.LeakyReLU(0.1),  # 1" in source and "load_file('m.safetensors')" in source
    assert "classes = ['no', 'yes']" in source and ").to(torch.float32)" in source


@needs_torch
def test_a_network_on_any_backend(case: Any) -> None:
    from gpubp.export import from_torch

    net = network("sigmoid", 2, dtype=case.dtype, backend=case.backend)
    back = from_torch(net.to_torch(), backend=case.backend)
    case.assert_array(back.layers[0].weight.data, (5, 7))
    assert all(bits_equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values(), strict=True))
