"""Pooling layers, LocalResponseNorm and Dropout2d: forward and backward against torch modules, repr, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError


def _distinct(rng, shape):
    """Values 0.05 apart in random order: no max-pool ties."""
    n = math.prod(shape)
    return ((rng.permutation(n) - n / 2) * 0.05).reshape(shape)


# (name, build(module namespace) -> layer, input shape, input kind)
LAYERS = [
    ("MaxPool1d", lambda m: m.MaxPool1d(3, 2, 1, ceil_mode=True), (2, 3, 10), "distinct"),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), (2, 3, 8, 7), "distinct"),
    ("MaxPool2d-overlap", lambda m: m.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9), "distinct"),
    ("MaxPool2d-dilated", lambda m: m.MaxPool2d((2, 3), (1, 2), dilation=(2, 1)), (1, 2, 7, 9), "distinct"),
    ("MaxPool2d-unbatched", lambda m: m.MaxPool2d(2), (3, 6, 6), "distinct"),
    ("AvgPool1d", lambda m: m.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 10), "normal"),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), (2, 3, 8, 7), "normal"),
    ("AvgPool2d-ceil", lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 3, 8, 8), "normal"),
    ("AvgPool2d-divisor", lambda m: m.AvgPool2d((2, 3), divisor_override=5), (1, 2, 6, 6), "normal"),
    ("LPPool1d", lambda m: m.LPPool1d(2, 3, 2), (2, 3, 11), "normal"),
    ("LPPool2d", lambda m: m.LPPool2d(3, (2, 3), 1), (2, 3, 6, 7), "positive"),
    ("LPPool2d-ceil", lambda m: m.LPPool2d(2, 3, 2, ceil_mode=True), (2, 2, 8, 8), "normal"),
    ("AdaptiveAvgPool1d", lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 10), "normal"),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5), "normal"),
    ("AdaptiveAvgPool2d-6x6", lambda m: m.AdaptiveAvgPool2d((6, 6)), (2, 4, 13, 13), "normal"),
    ("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(4), (2, 3, 10), "distinct"),
    ("AdaptiveMaxPool2d", lambda m: m.AdaptiveMaxPool2d(3), (2, 3, 7, 8), "distinct"),
    ("LocalResponseNorm", lambda m: m.LocalResponseNorm(5, alpha=0.5, k=2.0), (2, 7, 4, 4), "normal"),
    ("LocalResponseNorm-default", lambda m: m.LocalResponseNorm(3), (1, 4, 5), "normal"),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, build, shape, kind", LAYERS, ids=[row[0] for row in LAYERS])
def test_layer_matches_torch_forward_and_backward(rng, name, build, shape, kind):
    torch = pytest.importorskip("torch")
    if kind == "distinct":
        x = _distinct(rng, shape)
    elif kind == "positive":
        x = rng.uniform(0.2, 2.0, shape)
    else:
        x = rng.standard_normal(shape)
    ours, theirs = build(nn), build(torch.nn)
    xs, tx = lucidnn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xs), theirs(tx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = rng.standard_normal(y.shape)
    y.backward(v)
    ty.backward(torch.from_numpy(v))
    np.testing.assert_allclose(xs.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    # float32 in, float32 out, within R03's float32 tolerance
    y32 = ours(lucidnn.Tensor(x.astype(np.float32)))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), theirs(torch.from_numpy(x.astype(np.float32))).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("name, build, shape, kind", LAYERS, ids=[row[0] for row in LAYERS])
def test_repr_matches_torch(name, build, shape, kind):
    torch = pytest.importorskip("torch")
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.torch
@pytest.mark.parametrize("mean", [False, True])
def test_l2_pool_matches_torch_lp_pool_with_p2(rng, mean):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 6, 8))
    y = nn.L2Pool2d(2, stride=(2, 1), mean=mean)(lucidnn.Tensor(x)).numpy()
    ty = torch.nn.LPPool2d(2, 2, stride=(2, 1))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, ty / (2.0 if mean else 1.0), rtol=1e-12)
    y1 = nn.L2Pool1d(3)(lucidnn.Tensor(x[:, :, 0])).numpy()
    np.testing.assert_allclose(y1, torch.nn.LPPool1d(2, 3)(torch.from_numpy(x[:, :, 0])).numpy(), rtol=1e-12)


def test_l2_pool_repr_and_defaults():
    assert repr(nn.L2Pool2d(2)) == "L2Pool2d(kernel_size=2, stride=2, padding=0, mean=False)"
    assert repr(nn.L2Pool1d(3, stride=1, padding=1, mean=True)) == \
        "L2Pool1d(kernel_size=3, stride=1, padding=1, mean=True)"


def test_global_avg_pool_gives_n_by_c(rng):
    x = lucidnn.Tensor(rng.standard_normal((4, 3, 5, 5)))
    assert nn.GlobalAvgPool2d()(x).shape == (4, 3)
    assert nn.GlobalAvgPool2d(keepdims=True)(x).shape == (4, 3, 1, 1)
    assert repr(nn.GlobalAvgPool2d()) == "GlobalAvgPool2d()"
    assert repr(nn.GlobalAvgPool2d(keepdims=True)) == "GlobalAvgPool2d(keepdims=True)"


def test_pooling_layers_have_no_parameters_or_state():
    for _, build, _, _ in LAYERS:
        layer = build(nn)
        assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_layers_work_in_a_sequential_stack(rng):
    model = nn.Sequential(nn.MaxPool2d(2), nn.LocalResponseNorm(2), nn.AvgPool2d(2), nn.Dropout2d(0.5),
                          nn.GlobalAvgPool2d())
    x = lucidnn.Tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)
    y = model(x)
    assert y.shape == (2, 3)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 8, 8)


def test_dropout2d_drops_channels_in_training_and_is_identity_in_eval():
    layer = nn.Dropout2d(0.5, rng=lucidnn.Generator(4))
    x = lucidnn.ones(16, 8, 3, 3)
    y = layer(x).numpy().reshape(16, 8, -1)
    assert (y.min(axis=-1) == y.max(axis=-1)).all() and (y == 0).any() and (y == 2).any()
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == "Dropout2d(p=0.5)"


@pytest.mark.parametrize("build, error, match", [
    (lambda: nn.MaxPool2d(0), ShapeError, r"MaxPool2d: kernel_size must be positive, got \(0, 0\)"),
    (lambda: nn.MaxPool1d(2, stride=0), ShapeError, r"MaxPool1d: stride must be positive"),
    (lambda: nn.MaxPool2d(3, padding=2), ShapeError, r"MaxPool2d: padding \(2, 2\) must be at most half"),
    (lambda: nn.MaxPool2d(2.0), TypeError, r"MaxPool2d: kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.AvgPool2d((2, 2, 2)), TypeError, r"AvgPool2d: kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.AvgPool1d(3, padding=2), ShapeError, r"AvgPool1d: padding \(2,\) must be at most half"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, r"AvgPool2d: divisor_override must be a non-zero int"),
    (lambda: nn.LPPool2d(0, 2), ValueError, r"LPPool2d: norm_type must be positive"),
    (lambda: nn.LPPool1d(2, 0), ShapeError, r"LPPool1d: kernel_size must be positive"),
    (lambda: nn.L2Pool2d(2, padding=-1), ShapeError, r"L2Pool2d: padding must be non-negative"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, r"AdaptiveAvgPool2d: output_size must be positive"),
    (lambda: nn.AdaptiveMaxPool1d((2, 2)), TypeError, r"AdaptiveMaxPool1d: output_size must be an int"),
    (lambda: nn.LocalResponseNorm(0), ValueError, r"LocalResponseNorm: size must be a positive"),
    (lambda: nn.LocalResponseNorm(2, alpha="a"), TypeError, r"LocalResponseNorm: alpha must be a real number"),
    (lambda: nn.Dropout2d(1.5), ValueError, r"Dropout2d: p must be in \[0, 1\], got 1.5"),
])
def test_constructors_reject_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_layer_errors_name_the_input_shape():
    with pytest.raises(ShapeError, match=r"max_pool2d: kernel_size \(5, 5\) .* input shape \(1, 1, 4, 4\)"):
        nn.MaxPool2d(5)(lucidnn.zeros(1, 1, 4, 4))
    with pytest.raises(ShapeError, match=r"avg_pool2d: expected a 3-D .* got shape \(4, 4\)"):
        nn.AvgPool2d(2)(lucidnn.zeros(4, 4))
