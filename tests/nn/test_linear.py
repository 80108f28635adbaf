"""Linear, Identity and Flatten: default init, seeding, validation, dtype/device, repr and summary."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn


def test_default_init_is_torch_uniform_bound():
    layer = nn.Linear(1000, 500, rng=lucidnn.Generator(0))
    bound = 1 / math.sqrt(1000)
    for p in (layer.weight, layer.bias):
        a = p.numpy()
        assert np.abs(a).max() <= bound
        assert a.max() > 0.99 * bound and a.min() < -0.99 * bound
    w = layer.weight.numpy()
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(w.mean()) < 0.01 * bound


def test_same_seed_same_weights_and_different_seed_different():
    a = nn.Linear(5, 4, rng=lucidnn.Generator(7))
    b = nn.Linear(5, 4, rng=lucidnn.Generator(7))
    c = nn.Linear(5, 4, rng=lucidnn.Generator(8))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())


def test_default_generator_follows_manual_seed():
    lucidnn.manual_seed(3)
    a = nn.Linear(3, 2)
    lucidnn.manual_seed(3)
    b = nn.Linear(3, 2)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())


def test_reset_parameters_redraws():
    layer = nn.Linear(6, 6, rng=lucidnn.Generator(1))
    before = layer.weight.numpy().copy()
    layer.reset_parameters(lucidnn.Generator(2))
    assert not np.array_equal(before, layer.weight.numpy())
    layer.reset_parameters(lucidnn.Generator(1))
    np.testing.assert_array_equal(before, layer.weight.numpy())


@pytest.mark.parametrize("dtype", ["float64", lucidnn.float64, np.float64])
def test_dtype_argument(dtype):
    layer = nn.Linear(3, 2, dtype=dtype)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert layer(lucidnn.ones(4, 3, dtype="float64")).dtype == np.float64


def test_default_dtype_and_device():
    layer = nn.Linear(3, 2, device="cpu")
    assert layer.weight.dtype == np.float32 and layer.weight.device == "cpu"
    assert layer.weight.requires_grad and layer.bias.requires_grad


def test_no_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_forward_is_x_wT_plus_b(rng):
    layer = nn.Linear(4, 3, dtype="float64")
    x = rng.standard_normal((5, 4))
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(lucidnn.Tensor(x)).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("args, name, value", [
    ((0, 3), "in_features", "0"),
    ((3, 0), "out_features", "0"),
    ((-2, 3), "in_features", "-2"),
    ((3, -1), "out_features", "-1"),
])
def test_non_positive_sizes_are_rejected(args, name, value):
    with pytest.raises(ValueError, match=f"Linear: {name} must be a positive integer, got {value}"):
        nn.Linear(*args)


@pytest.mark.parametrize("args", [(3.5, 2), ("3", 2), (True, 2)])
def test_non_integer_sizes_are_rejected(args):
    with pytest.raises(TypeError, match="Linear: in_features must be an int"):
        nn.Linear(*args)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        nn.Linear(3, 2, False)


def test_feature_mismatch_error_names_the_layer():
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"0 \(Linear\): linear: input \(2x5\) and weight.T \(4x3\)"):
        model(lucidnn.ones(2, 5))


def test_identity_returns_its_input():
    x = lucidnn.ones(2, 3)
    assert nn.Identity(54, unused="ok")(x) is x
    assert repr(nn.Identity()) == "Identity()"


@pytest.mark.parametrize("kwargs, shape", [
    ({}, (2, 60)),
    ({"start_axis": 0}, (120,)),
    ({"start_axis": 2}, (2, 3, 20)),
    ({"start_dim": 1, "end_dim": 2}, (2, 12, 5)),
    ({"end_axis": -2}, (2, 12, 5)),
])
def test_flatten(kwargs, shape):
    assert nn.Flatten(**kwargs)(lucidnn.ones(2, 3, 4, 5)).shape == shape


def test_flatten_rejects_both_names():
    with pytest.raises(TypeError, match="either start_axis or start_dim"):
        nn.Flatten(start_axis=2, start_dim=1)


def test_reprs():
    assert repr(nn.Linear(4, 3)) == "Linear(in_features=4, out_features=3, bias=True)"
    assert repr(nn.Linear(4, 3, bias=False)) == "Linear(in_features=4, out_features=3, bias=False)"
    assert repr(nn.Flatten()) == "Flatten(start_axis=1, end_axis=-1)"


def test_summary_of_an_mlp():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.1), nn.BatchNorm1d(8),
                          nn.Linear(8, 3, bias=False))
    lines = []
    text = model.summary((3, 4), print_fn=lines.append)
    assert lines == [text]
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line[:1].isdigit()}
    assert rows["0"][1:] == ["(Flatten)", "(None,", "12)", "0"]
    assert rows["1"][1:] == ["(Linear)", "(None,", "8)", "104"]
    assert rows["2"][1:] == ["(ReLU)", "(None,", "8)", "0"]
    assert rows["4"][1:] == ["(BatchNorm1d)", "(None,", "8)", "16"]
    assert rows["5"][1:] == ["(Linear)", "(None,", "3)", "24"]
    assert "Total params: 144" in text and "Trainable params: 144" in text
    assert model.training  # summary restores the mode


def test_summary_counts_frozen_parameters():
    model = nn.Sequential(nn.Linear(10, 100), nn.Linear(100, 1))
    model[0].requires_grad_(False)
    text = model.summary((10,), print_fn=lambda s: None)
    assert "Total params: 1,201" in text
    assert "Trainable params: 101" in text and "Non-trainable params: 1,100" in text
