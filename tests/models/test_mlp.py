"""MLP: shapes, parameter names and count, config round trip, activations, errors, and over-fitting a tiny batch."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn
from lucidnn.errors import ShapeError
from lucidnn.models import MLP, get_model
from lucidnn.models.mlp import ACTIVATIONS


def test_default_architecture_names_shapes_and_count():
    model = MLP()
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {
        "layers.0.weight": (256, 784), "layers.0.bias": (256,),
        "layers.2.weight": (256, 256), "layers.2.bias": (256,),
        "layers.4.weight": (10, 256), "layers.4.bias": (10,),
    }
    assert sum(p.numel() for p in model.parameters()) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert [type(m).__name__ for m in model.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert isinstance(model.flatten, nn.Flatten)
    assert list(model.state_dict()) == list(shapes)


def test_dropout_blocks_shift_the_linear_indices():
    model = MLP(20, (8, 6), 3, dropout=0.25)
    assert [name for name, _ in model.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias", "layers.6.weight", "layers.6.bias"]
    assert [type(m).__name__ for m in model.layers] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]


def test_no_hidden_layers_is_logistic_regression():
    model = MLP(12, (), 4)
    assert {name: p.shape for name, p in model.named_parameters()} == {"layers.0.weight": (4, 12),
                                                                      "layers.0.bias": (4,)}


@pytest.mark.parametrize("shape", [(5, 784), (5, 1, 28, 28), (5, 28, 28)])
def test_output_shape_for_vectors_and_images(shape, rng):
    model = MLP(rng=lucidnn.Generator(0))
    out = model(lucidnn.tensor(rng.normal(size=shape).astype(np.float32)))
    assert out.shape == (5, 10) and out.dtype == lucidnn.float32


def test_forward_is_flatten_then_linear_activation_blocks(rng):
    model = MLP(12, (7, 5), 3, activation="tanh", rng=lucidnn.Generator(1))
    x = rng.normal(size=(4, 3, 4)).astype(np.float32)
    p = {name: t.numpy() for name, t in model.named_parameters()}
    h = np.tanh(x.reshape(4, 12) @ p["layers.0.weight"].T + p["layers.0.bias"])
    h = np.tanh(h @ p["layers.2.weight"].T + p["layers.2.bias"])
    expected = h @ p["layers.4.weight"].T + p["layers.4.bias"]
    np.testing.assert_allclose(model(lucidnn.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


ACTIVATION_FUNCTIONS = {"relu": F.relu, "tanh": F.tanh, "sigmoid": F.sigmoid, "gelu": F.gelu,
                        "leaky_relu": F.leaky_relu, "elu": F.elu, "silu": F.silu}


def test_the_activation_table_is_complete():
    assert set(ACTIVATIONS) == set(ACTIVATION_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATION_FUNCTIONS))
def test_each_activation_name_builds_the_matching_layer(name, rng):
    model = get_model("mlp", in_features=6, hidden_sizes=(5,), num_classes=2, activation=name)
    assert type(model.layers[1]).__name__ == ACTIVATIONS[name]
    x = lucidnn.tensor(rng.normal(size=(8, 6)).astype(np.float32))
    w0, b0, w2, b2 = model.parameters()
    expected = F.linear(ACTIVATION_FUNCTIONS[name](F.linear(x, w0, b0)), w2, b2)
    out = model(x)
    assert out.shape == (8, 2)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)
    out.sum().backward()
    assert all(p.grad is not None and np.all(np.isfinite(p.grad.numpy())) for p in model.parameters())


@pytest.mark.parametrize("kwargs", [
    {},
    {"in_features": 64, "hidden_sizes": [32], "num_classes": 10, "activation": "gelu", "dropout": 0.1},
    {"in_features": 5, "hidden_sizes": [], "num_classes": 2, "dtype": "float64"},
])
def test_config_is_json_and_rebuilds_the_same_architecture(kwargs, rng):
    model = get_model("mlp", rng=lucidnn.Generator(2), **kwargs)
    config = json.loads(json.dumps(model.config))
    assert config == model.config
    twin = get_model(model.model_name, **config)
    assert repr(twin) == repr(model)
    assert twin.config == model.config
    assert [(n, p.shape, p.dtype) for n, p in twin.named_parameters()] == \
        [(n, p.shape, p.dtype) for n, p in model.named_parameters()]
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    x = lucidnn.tensor(rng.normal(size=(3, model.in_features)), dtype=model.layers[0].weight.dtype)
    np.testing.assert_array_equal(twin(x).numpy(), model(x).numpy())


def test_config_records_the_resolved_dtype_and_normalised_values():
    model = MLP(10, 4, 3, activation="ReLU", dtype=lucidnn.float64)
    assert model.config == {"in_features": 10, "hidden_sizes": [4], "num_classes": 3, "activation": "relu",
                            "dropout": 0.0, "dtype": "float64"}
    assert model.layers[0].weight.dtype == lucidnn.float64


def test_seeded_generator_gives_identical_models():
    a, b = MLP(10, (6,), 3, rng=lucidnn.Generator(5)), MLP(10, (6,), 3, rng=lucidnn.Generator(5))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)


def test_dropout_is_active_in_training_and_off_in_eval(rng):
    model = MLP(30, (64,), 4, dropout=0.5, rng=lucidnn.Generator(3))
    x = lucidnn.tensor(rng.normal(size=(6, 30)).astype(np.float32))
    assert not np.array_equal(model(x).numpy(), model(x).numpy())
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "swishy"}, "unknown activation 'swishy'; choose one of relu, tanh, sigmoid, gelu"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout must be a probability in \[0, 1\)"),
    ({"hidden_sizes": "256"}, "hidden_sizes must be a sequence of positive ints"),
    ({"hidden_sizes": (256, 0)}, "each of hidden_sizes must be a positive int"),
    ({"in_features": 0}, "in_features must be a positive int"),
    ({"num_classes": 2.5}, "num_classes must be a positive int"),
    ({"dtype": "int64"}, "dtype must be a floating type"),
])
def test_bad_arguments_raise_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


def test_wrong_input_size_names_in_features(rng):
    model = MLP(784, (16,), 10)
    with pytest.raises(ShapeError, match=r"shape \(2, 1, 8, 8\) has 64 features per sample .* in_features=784"):
        model(lucidnn.tensor(rng.normal(size=(2, 1, 8, 8)).astype(np.float32)))
    with pytest.raises(ShapeError, match="batch axis"):
        model(lucidnn.zeros(784))
    with pytest.raises(TypeError, match="lucidnn.tensor"):
        model(np.zeros((2, 784), dtype=np.float32))


def test_overfits_a_tiny_batch_with_plain_gradient_descent(rng):
    model = MLP(20, (64,), 4, rng=lucidnn.Generator(0))
    x = lucidnn.tensor(rng.normal(size=(32, 20)).astype(np.float32))
    y = lucidnn.tensor(rng.integers(0, 4, size=32))
    losses = []
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        with lucidnn.no_grad():
            for p in model.parameters():
                p.data -= 0.5 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
