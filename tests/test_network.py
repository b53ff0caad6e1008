"""Sequential: the chain rule in order, parameters, state dicts across backends, mlp and configs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import assert_array

import gpubp
from gpubp import Identity, Layer, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh, mlp


class Scale(Layer):
    """y = k x, recording every call in a shared log."""

    def __init__(self, name: str, k: float, log: list[str]) -> None:
        self.name, self.k, self.log = name, k, log

    def forward(self, x: Any) -> Any:
        self.log.append(f"forward {self.name}")
        return x * self.k

    def backward(self, dout: Any) -> Any:
        self.log.append(f"backward {self.name}")
        return dout * self.k


def small_net(case, seed: int = 0) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(
        Linear(3, 5, rng=rng, backend=case.backend, dtype=case.dtype),
        Tanh(),
        Linear(5, 4, rng=rng, backend=case.backend, dtype=case.dtype),
        LeakyReLU(0.2),
        Linear(4, 2, rng=rng, backend=case.backend, dtype=case.dtype),
    )


def test_forward_in_order_backward_in_reverse(case):
    log: list[str] = []
    net = Sequential(Scale("a", 2.0, log), Scale("b", 3.0, log), Scale("c", 5.0, log))
    x = case.asarray(np.ones((2, 3)))
    out = net.forward(x)
    case.assert_close(out, np.full((2, 3), 30.0))
    dx = net.backward(case.asarray(np.ones((2, 3))))
    assert_array(dx, case, (2, 3))
    case.assert_close(dx, np.full((2, 3), 30.0))  # the chain rule: product of the local derivatives
    assert log == ["forward a", "forward b", "forward c", "backward c", "backward b", "backward a"]


def test_backward_stops_when_the_first_layer_needs_no_input_grad(case):
    net = small_net(case)
    net[0].needs_input_grad = False
    net.forward(case.asarray(np.ones((4, 3))))
    assert net.backward(case.asarray(np.ones((4, 2)))) is None
    for p in net.parameters():
        assert_array(p.grad, case, p.shape)


def test_parameters_in_layer_order(case):
    net = small_net(case)
    names = [name for name, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    params = net.parameters()
    assert params[0] is net[0].weight and params[-1] is net[4].bias
    assert [p.shape for p in params] == [(3, 5), (5,), (5, 4), (4,), (4, 2), (2,)]
    for p in params:
        assert_array(p.data, case, p.shape)
    assert len(net) == 5


def test_zero_grad_clears_every_parameter(case):
    net = small_net(case)
    net.forward(case.asarray(np.ones((4, 3))))
    net.backward(case.asarray(np.ones((4, 2))))
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_network_gradcheck(case64):
    net = small_net(case64, seed=4)
    x = case64.asarray(np.random.default_rng(5).standard_normal((6, 3)))
    result = gpubp.gradcheck(net, x)
    assert result.ok, str(result)


# -- state dicts --------------------------------------------------------------


def test_state_dict_is_host_copies(case):
    net = small_net(case)
    before = net.forward(case.asarray(np.ones((2, 3))))
    before_h = case.to_host(before)
    state = net.state_dict()
    assert list(state) == [name for name, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        assert isinstance(state[name], np.ndarray)
        assert state[name].shape == p.shape
        np.testing.assert_array_equal(state[name], gpubp.to_host(p.data))
        state[name][...] = 123.0  # must not reach the network
    case.assert_close(net.forward(case.asarray(np.ones((2, 3)))), before_h, rtol=0, atol=0)


def other_backend(case) -> gpubp.Backend:
    """A backend different from the case's (numpy, or array-api-strict on device1 for numpy cases)."""
    if case.name != "numpy":
        return gpubp.resolve("numpy")
    pytest.importorskip("array_api_strict")
    return gpubp.resolve("array_api_strict", "device1")


def test_load_state_dict_onto_another_backend_reproduces_outputs(case):
    source = small_net(case, seed=1)
    x = np.random.default_rng(2).standard_normal((4, 3))
    expected = case.to_host(source.forward(case.asarray(x)))

    target_backend = other_backend(case)
    target = Sequential.from_config(source.config(), backend=target_backend, dtype=case.dtype)
    target.load_state_dict(source.state_dict())
    out = target.forward(target_backend.asarray(x, dtype=target_backend.dtype(case.dtype)))
    assert gpubp.backend.backend_of(out).name == target_backend.name
    assert out.dtype == target_backend.dtype(case.dtype)
    np.testing.assert_allclose(gpubp.to_host(out), expected, rtol=case.rtol, atol=case.atol)
    assert all(p.grad is None for p in target.parameters())


def test_load_state_dict_rejects_a_wrong_state(case):
    net = small_net(case)
    state = net.state_dict()
    with pytest.raises(gpubp.GpubpError, match="missing"):
        net.load_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    with pytest.raises(gpubp.GpubpError, match="unexpected"):
        net.load_state_dict({**state, "9.weight": np.zeros(1)})
    with pytest.raises(gpubp.GpubpError, match="shape"):
        net.load_state_dict({**state, "0.weight": np.zeros((5, 3))})


# -- mlp and configs ----------------------------------------------------------


def test_mlp_builds_linear_activation_pairs(case):
    net = mlp((3, 8, 6, 2), activation_name="relu", rng=0, backend=case.backend, dtype=case.dtype)
    assert [type(layer) for layer in net.layers] == [Linear, ReLU, Linear, ReLU, Linear]
    assert [(layer.in_features, layer.out_features) for layer in net.layers if isinstance(layer, Linear)] == [
        (3, 8),
        (8, 6),
        (6, 2),
    ]
    assert [layer.init for layer in net.layers if isinstance(layer, Linear)] == [
        "he_uniform",
        "he_uniform",
        "xavier_uniform",
    ]
    out = net.forward(case.asarray(np.ones((5, 3))))
    assert_array(out, case, (5, 2))

    sig = mlp((2, 4, 1), activation_name="tanh", output="sigmoid", backend=case.backend, dtype=case.dtype)
    assert [type(layer) for layer in sig.layers] == [Linear, Tanh, Linear, Sigmoid]
    assert sig[0].init == "xavier_uniform"


def test_mlp_layers_draw_different_weights():
    net = mlp((4, 4, 4, 4), rng=0)
    w = [gpubp.to_host(p.data) for name, p in net.named_parameters() if name.endswith("weight")]
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])


@pytest.mark.parametrize(
    ("sizes", "kwargs", "match"),
    [
        ((3,), {}, r"sizes=\[3\]: must be at least two positive integers"),
        ((3, 0, 2), {}, "sizes"),
        ((3, 2.5, 2), {}, "sizes"),
        ((3, 2), {"activation_name": "swish"}, "activation_name='swish': must be one of"),
    ],
)
def test_mlp_rejects_bad_settings(sizes, kwargs, match):
    with pytest.raises(gpubp.GpubpError, match=match):
        mlp(sizes, **kwargs)


def test_config_round_trip(case):
    net = Sequential(
        Linear(3, 4, rng=0, backend=case.backend, dtype=case.dtype),
        LeakyReLU(0.3),
        Linear(4, 4, rng=1, backend=case.backend, dtype=case.dtype),
        Sigmoid(),
        Linear(4, 2, rng=2, backend=case.backend, dtype=case.dtype),
        Identity(),
    )
    config = net.config()
    assert config["layers"][1] == {"type": "LeakyReLU", "negative_slope": 0.3}
    rebuilt = Sequential.from_config(config, backend=case.backend, dtype=case.dtype)
    assert rebuilt.config() == config
    assert [type(layer) for layer in rebuilt.layers] == [type(layer) for layer in net.layers]
    rebuilt.load_state_dict(net.state_dict())
    x = case.asarray(np.random.default_rng(3).standard_normal((5, 3)))
    case.assert_close(rebuilt.forward(x), case.to_host(net.forward(x)), rtol=0, atol=0)
    for p in rebuilt.parameters():
        assert_array(p.data, case, p.shape)


def test_from_config_rejects_an_unknown_layer():
    with pytest.raises(gpubp.GpubpError, match="Conv2d"):
        Sequential.from_config({"type": "Sequential", "layers": [{"type": "Conv2d"}]})


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ([{"type": "ReLU"}], "dict with a 'layers' list"),
        ({"layers": {"type": "ReLU"}}, "dict with a 'layers' list"),
        ({"layers": ["ReLU"]}, "layer 0 of the network description: unknown layer type None"),
        ({"layers": [{"type": ["Linear"]}]}, "unknown layer type"),
        (
            {"layers": [{"type": "Linear", "in_features": 3}]},
            "layer 0 of the network description: Linear: out_features",
        ),
        ({"layers": [{"type": "Linear", "in_features": "3", "out_features": 2}]}, "in_features"),
        (
            {
                "layers": [
                    {"type": "Linear", "in_features": 3, "out_features": 4},
                    {"type": "ReLU"},
                    {"type": "Linear", "in_features": 5, "out_features": 1},
                ]
            },
            "layer 2 of the network description: Linear takes 5 inputs but the Linear before it gives 4",
        ),
        ({"layers": [{"type": "LeakyReLU", "negative_slope": "0.1"}]}, "negative_slope must be a number"),
    ],
)
def test_from_config_says_what_is_wrong_with_a_description(config, needle):
    with pytest.raises(gpubp.GpubpError, match=needle):
        Sequential.from_config(config)


def test_sequential_rejects_bad_layers():
    with pytest.raises(gpubp.GpubpError, match="at least one layer"):
        Sequential()
    with pytest.raises(gpubp.GpubpError, match="not a gpubp layer"):
        Sequential(Linear(2, 2), "relu")


def test_to_moves_and_casts_parameters(case):
    net = small_net(case)
    x = np.random.default_rng(6).standard_normal((3, 3))
    expected = case.to_host(net.forward(case.asarray(x)))
    numpy64 = gpubp.resolve("numpy")
    assert net.to(numpy64, dtype="float64") is net
    for p in net.parameters():
        assert isinstance(p.data, np.ndarray) and p.data.dtype == np.float64 and p.grad is None
    np.testing.assert_allclose(gpubp.to_host(net.forward(x)), expected, rtol=case.rtol, atol=case.atol)


# -- the device check ---------------------------------------------------------


def test_linear_input_on_another_device_raises_naming_both():
    pytest.importorskip("array_api_strict")
    layer = Linear(2, 3, rng=0, backend=gpubp.resolve("array_api_strict", "device1"))
    default = gpubp.resolve("array_api_strict")
    with pytest.raises(gpubp.DeviceMismatchError) as info:
        layer.forward(default.asarray(np.ones((1, 2)), dtype=default.dtype("float32")))
    message = str(info.value)
    assert "device1" in message and gpubp.backend.device_name(default.device) in message


def test_linear_input_from_another_library_raises_naming_both():
    torch = pytest.importorskip("torch")
    layer = Linear(2, 3, rng=0, backend="numpy")
    with pytest.raises(gpubp.DeviceMismatchError) as info:
        layer.forward(torch.ones((1, 2)))
    assert "numpy" in str(info.value) and "torch" in str(info.value)
    net = Sequential(Linear(2, 3, rng=0, backend="torch"), ReLU())
    with pytest.raises(gpubp.DeviceMismatchError) as info:
        net.forward(np.ones((1, 2), dtype=np.float32))
    assert "numpy" in str(info.value) and "torch" in str(info.value)
