"""Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d: torch's state dict, weights and numbers (R03),
default init, repr, validation, and errors that name the layer."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError

# (id, our constructor, torch's constructor arguments, input shape)
LAYERS = [
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3), ("Conv2d", (3, 4, 3), {}), (2, 3, 7, 6)),
    ("Conv2d-lenet1", lambda: nn.Conv2d(1, 6, 5, padding=2), ("Conv2d", (1, 6, 5), {"padding": 2}), (2, 1, 12, 12)),
    ("Conv2d-stride-dilation", lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), dilation=(1, 2), padding=1),
     ("Conv2d", (2, 3, (3, 2)), {"stride": (2, 1), "dilation": (1, 2), "padding": 1}), (2, 2, 7, 7)),
    ("Conv2d-groups-no-bias", lambda: nn.Conv2d(4, 6, 2, groups=2, bias=False),
     ("Conv2d", (4, 6, 2), {"groups": 2, "bias": False}), (1, 4, 5, 5)),
    ("Conv2d-channels-last", lambda: nn.Conv2d(8, 5, 3, padding="same"),
     ("Conv2d", (8, 5, 3), {"padding": "same"}), (2, 8, 5, 6)),
    ("Conv2d-valid", lambda: nn.Conv2d(2, 3, 3, padding="valid"), ("Conv2d", (2, 3, 3), {"padding": "valid"}),
     (2, 2, 5, 5)),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), ("Conv1d", (3, 4, 3), {"stride": 2, "padding": 1}),
     (2, 3, 9)),
    ("Conv1d-same-depthwise", lambda: nn.Conv1d(4, 8, 4, padding="same", groups=4),
     ("Conv1d", (4, 8, 4), {"padding": "same", "groups": 4}), (2, 4, 7)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
     ("ConvTranspose2d", (3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}), (2, 3, 4, 3)),
    ("ConvTranspose2d-groups", lambda: nn.ConvTranspose2d(4, 6, (2, 3), groups=2, dilation=2, bias=False),
     ("ConvTranspose2d", (4, 6, (2, 3)), {"groups": 2, "dilation": 2, "bias": False}), (1, 4, 3, 3)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 7, 3, stride=3, padding=1, output_padding=2),
     ("ConvTranspose1d", (3, 7, 3), {"stride": 3, "padding": 1, "output_padding": 2}), (2, 3, 5)),
]
IDS = [layer[0] for layer in LAYERS]


def _theirs(torch, spec):
    name, args, kwargs = spec
    return getattr(torch.nn, name)(*args, **kwargs)


def _call(module, x):
    # torch warns that padding='same' with an even kernel copies the input; that is the point here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
        return module(x)


def _torch_module(torch, spec, seed=0):
    torch.manual_seed(seed)
    module = _theirs(torch, spec)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p))
    return module


@pytest.mark.torch
@pytest.mark.parametrize("name, ours, spec, x_shape", LAYERS, ids=IDS)
def test_state_dict_and_repr_match_torch(name, ours, spec, x_shape):
    torch = pytest.importorskip("torch")
    mine, theirs = ours(), _theirs(torch, spec)
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: tuple(v.shape)
                                                                  for k, v in theirs.state_dict().items()}
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert repr(mine) == repr(theirs)


@pytest.mark.torch
@pytest.mark.parametrize("name, ours, spec, x_shape", LAYERS, ids=IDS)
def test_float32_forward_with_torch_weights(name, ours, spec, x_shape):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)
    tm = _torch_module(torch, spec)
    mine = ours()
    mine.load_state_dict(tm.state_dict())
    y = mine(lucidnn.Tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), _call(tm, torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("name, ours, spec, x_shape", LAYERS, ids=IDS)
def test_float64_forward_and_backward_with_torch_weights(name, ours, spec, x_shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape)
    tm = _torch_module(torch, spec).double()
    mine = ours().double()
    mine.load_state_dict(tm.state_dict())
    xs, txs = lucidnn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = mine(xs), _call(tm, txs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-7, atol=1e-10)
    v = rng.standard_normal(y.shape)
    y.backward(v)
    ty.backward(torch.from_numpy(v))
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), rtol=1e-7, atol=1e-10)
    theirs = dict(tm.named_parameters())
    for key, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs[key].grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=key)


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize("layer, fan_in", [
    (lambda rng: nn.Conv2d(64, 128, 3, rng=rng), 64 * 9),
    (lambda rng: nn.Conv1d(32, 512, 5, groups=4, rng=rng), 8 * 5),
    (lambda rng: nn.ConvTranspose2d(128, 64, 3, rng=rng), 64 * 9),  # torch: weight.shape[1] * kernel
])
def test_default_init_is_torch_uniform_bound(layer, fan_in):
    module = layer(lucidnn.Generator(0))
    bound = 1 / math.sqrt(fan_in)
    w, b = module.weight.numpy(), module.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert b.std() == pytest.approx(bound / math.sqrt(3), rel=0.3)  # 64 to 512 samples
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert abs(w.mean()) < 0.02 * bound


def test_same_seed_same_weights_and_reset_parameters():
    a, b = nn.Conv2d(3, 4, 3, rng=lucidnn.Generator(7)), nn.Conv2d(3, 4, 3, rng=lucidnn.Generator(7))
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    a.reset_parameters(lucidnn.Generator(8))
    assert not np.array_equal(a.weight.numpy(), b.weight.numpy())


def test_dtype_and_defaults():
    layer = nn.Conv2d(2, 3, 3, dtype="float64")
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    default = nn.Conv1d(2, 3, 3)
    assert default.weight.dtype == np.float32 and default.weight.requires_grad
    assert default.kernel_size == (3,) and default.stride == (1,) and default.padding == (0,)
    assert nn.Conv2d(2, 3, (3, 1), padding="full").padding == "full"
    assert nn.Conv2d(2, 3, 3, bias=False).bias is None


def test_flip_layer_is_a_true_convolution(rng):
    layer = nn.Conv2d(1, 1, 3, flip=True, bias=False, dtype="float64")
    plain = nn.Conv2d(1, 1, 3, bias=False, dtype="float64")
    plain.weight.data[...] = layer.weight.data[:, :, ::-1, ::-1]
    x = lucidnn.Tensor(rng.standard_normal((2, 1, 5, 5)))
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), rtol=1e-14)
    assert repr(layer) == "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), bias=False, flip=True)"


# --------------------------------------------------------------------------- errors


def test_channel_mismatch_names_the_layer_and_both_shapes():
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2))
    with pytest.raises(ShapeError, match=r"^0 \(Conv2d\): conv2d: input has 3 channels but the weight expects 1 "
                                         r"\(weight shape \(6, 1, 5, 5\)\); input shape \(2, 3, 28, 28\)$"):
        model(lucidnn.zeros(2, 3, 28, 28))


def test_kernel_larger_than_input_names_the_layer():
    model = nn.Sequential(nn.Conv1d(2, 3, 5), nn.ConvTranspose1d(3, 2, 3))
    with pytest.raises(ShapeError, match=r"^0 \(Conv1d\): conv1d: the kernel 5 is larger than the padded input 4"):
        model(lucidnn.zeros(1, 2, 4))


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(0, 3, 3), ValueError, r"Conv2d: in_channels must be a positive integer, got 0"),
    (lambda: nn.Conv1d(3, -1, 3), ValueError, r"Conv1d: out_channels must be a positive integer, got -1"),
    (lambda: nn.Conv2d(3, 4, 0), ValueError, r"Conv2d: kernel_size must be positive, got 0"),
    (lambda: nn.Conv2d(3, 4, (3, 3, 3)), TypeError, r"Conv2d: kernel_size must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, r"Conv2d: stride must be positive, got 0"),
    (lambda: nn.Conv2d(3, 4, 3, padding=-1), ValueError, r"Conv2d: padding must be non-negative, got -1"),
    (lambda: nn.Conv2d(3, 4, 3, padding="half"), ValueError, r"Conv2d: padding must be an int, a tuple of ints "
     r"or one of \('valid', 'same', 'full'\), got 'half'"),
    (lambda: nn.Conv2d(3, 4, 3, dilation=0), ValueError, r"Conv2d: dilation must be positive, got 0"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"Conv2d: in_channels=3 must be divisible by groups=2"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, r"Conv2d: out_channels=3 must be divisible by groups=2"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2), ValueError,
     r"ConvTranspose2d: output_padding \(2, 2\) must be smaller than the stride \(2, 2\) or the dilation"),
    (lambda: nn.ConvTranspose1d(4, 4, 3, padding="same"), TypeError,
     r"ConvTranspose1d: padding must be an int or a tuple of 1 ints, got 'same'"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()
