"""Activations at extreme inputs (R05, R06), the dtype contract at the Function level (R04),
and argument errors; the op table (op_table/activation.py) covers values and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import AxisError, DTypeError, ShapeError

EXTREMES = [-1e4, -88.8, -1.0, 0.0, 1.0, 88.8, 1e4]
DTYPES = [np.float32, np.float64]


def _param(value, dtype):
    return lucidnn.Tensor(np.asarray(value, dtype=dtype), requires_grad=True)


# name -> (fn(x, dtype) returning (y, extra tensors that get gradients))
ACTIVATIONS = {
    "sigmoid": lambda x, dt: (F.sigmoid(x), []),
    "tanh": lambda x, dt: (F.tanh(x), []),
    "relu": lambda x, dt: (F.relu(x), []),
    "leaky_relu": lambda x, dt: (F.leaky_relu(x, 0.1), []),
    "elu": lambda x, dt: (F.elu(x, alpha=1.5), []),
    "softplus": lambda x, dt: (F.softplus(x), []),
    "softplus-beta2": lambda x, dt: (F.softplus(x, beta=2.0), []),
    "softplus-no-threshold": lambda x, dt: (F.softplus(x, threshold=math.inf), []),
    "swish": lambda x, dt: (F.swish(x, beta=1.5), []),
    "silu": lambda x, dt: (F.silu(x), []),
    "gelu-none": lambda x, dt: (F.gelu(x), []),
    "gelu-tanh": lambda x, dt: (F.gelu(x, approximate="tanh"), []),
    "gelu-sigmoid": lambda x, dt: (F.gelu(x, approximate="sigmoid"), []),
    "softmax": lambda x, dt: (F.softmax(x), []),
    "log_softmax": lambda x, dt: (F.log_softmax(x), []),
}


def _swish_learnable(x, dt):
    beta = _param([0.8], dt)
    return F.swish(x, beta), [beta]


def _prelu(x, dt):
    weight = _param([0.25], dt)
    return F.prelu(x, weight), [weight]


ACTIVATIONS["swish-learnable"] = _swish_learnable
ACTIVATIONS["prelu"] = _prelu


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_extreme_inputs_give_finite_values_and_gradients(name, dtype):
    """R06: finite outputs and gradients at +-1e4, +-88.8 (exp overflows float32 near 88.7)."""
    x = lucidnn.Tensor(np.array(EXTREMES, dtype=dtype), requires_grad=True)
    y, params = ACTIVATIONS[name](x, dtype)
    assert y.dtype == dtype
    assert np.isfinite(y.numpy()).all(), f"{name}: output {y.numpy()}"
    # the Function's own gradients, before backward() casts leaf gradients to the leaf dtype
    raw = y.grad_fn.backward(np.ones(y.shape, dtype=dtype))
    for g in raw:
        assert g.dtype == dtype, f"{name}: backward returned {g.dtype} for {np.dtype(dtype).name} inputs"
        assert np.isfinite(g).all(), f"{name}: gradient {g}"
    for t in [x, *params]:
        t.grad = None
    y, params = ACTIVATIONS[name](x, dtype)
    y.backward(np.linspace(-1.0, 1.0, y.numel()).astype(dtype).reshape(y.shape))
    for t in [x, *params]:
        assert t.grad.dtype == dtype
        assert np.isfinite(t.grad.numpy()).all(), f"{name}: gradient {t.grad.numpy()}"


LIMITS = {  # (value at -1e4, value at +1e4, slope at -1e4, slope at +1e4)
    "sigmoid": (0.0, 1.0, 0.0, 0.0),
    "tanh": (-1.0, 1.0, 0.0, 0.0),
    "relu": (0.0, 1e4, 0.0, 1.0),
    "leaky_relu": (-1e3, 1e4, 0.1, 1.0),
    "elu": (-1.5, 1e4, 0.0, 1.0),
    "softplus": (0.0, 1e4, 0.0, 1.0),
    "softplus-beta2": (0.0, 1e4, 0.0, 1.0),
    "softplus-no-threshold": (0.0, 1e4, 0.0, 1.0),
    "swish": (0.0, 1e4, 0.0, 1.0),
    "silu": (0.0, 1e4, 0.0, 1.0),
    "gelu-none": (0.0, 1e4, 0.0, 1.0),
    "gelu-tanh": (0.0, 1e4, 0.0, 1.0),
    "gelu-sigmoid": (0.0, 1e4, 0.0, 1.0),
    "swish-learnable": (0.0, 1e4, 0.0, 1.0),
    "prelu": (-2.5e3, 1e4, 0.25, 1.0),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(LIMITS))
def test_values_and_slopes_at_plus_minus_1e4(name, dtype):
    x = lucidnn.Tensor(np.array([-1e4, 1e4], dtype=dtype), requires_grad=True)
    y, _ = ACTIVATIONS[name](x, dtype)
    y.sum().backward()
    lo, hi, slope_lo, slope_hi = LIMITS[name]
    np.testing.assert_allclose(y.numpy(), [lo, hi], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(x.grad.numpy(), [slope_lo, slope_hi], rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("threshold", [20.0, math.inf])
def test_softplus_of_1e4_is_exact_in_float64(threshold):
    y = F.softplus(lucidnn.Tensor(np.array([1e4, 1e300])), threshold=threshold)
    assert y.numpy()[0] == 1e4
    assert y.numpy()[1] == 1e300


def test_softplus_is_linear_above_the_threshold():
    x = lucidnn.Tensor(np.array([2.0, 2.5]), requires_grad=True)
    y = F.softplus(x, beta=1.0, threshold=2.2)  # 2.0 on the curve, 2.5 past the threshold
    np.testing.assert_allclose(y.numpy(), [math.log1p(math.exp(2.0)), 2.5], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0 / (1.0 + math.exp(-2.0)), 1.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_of_equal_huge_logits_is_uniform(dtype):
    """R05: the pytorch#11752 case; without the max shift e^1e8 overflows to inf/inf."""
    x = lucidnn.Tensor(np.array([[1e8, 1e8], [-1e8, -1e8]], dtype=dtype), requires_grad=True)
    np.testing.assert_array_equal(F.softmax(x).numpy(), np.full((2, 2), 0.5, dtype))
    y = F.log_softmax(x)
    np.testing.assert_allclose(y.numpy(), np.full((2, 2), -math.log(2.0)), rtol=1e-6)
    y.sum().backward()  # gx = 1 - softmax * 2 = 0
    np.testing.assert_allclose(x.grad.numpy(), np.zeros((2, 2)), atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_with_one_dominant_logit(dtype):
    x = lucidnn.Tensor(np.array([1e4, -1e4, 0.0], dtype=dtype))
    np.testing.assert_array_equal(F.softmax(x).numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(F.log_softmax(x).numpy(), [0.0, -2e4, -1e4], rtol=1e-6)


def test_sigmoid_at_plus_minus_1e300_in_float64():
    x = lucidnn.Tensor(np.array([-1e300, 1e300]), requires_grad=True)
    y = F.sigmoid(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("approximate", ["none", "tanh", "sigmoid"])
def test_gelu_at_large_magnitudes(approximate):
    x = lucidnn.Tensor(np.array([-1e4, -40.0, 40.0, 1e4]), requires_grad=True)
    y = F.gelu(x, approximate=approximate)
    np.testing.assert_allclose(y.numpy(), [0.0, 0.0, 40.0, 1e4], rtol=1e-12, atol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, 1.0], rtol=1e-12, atol=1e-12)


def test_gelu_forms_agree_near_zero_and_differ_in_the_tails():
    x = lucidnn.Tensor(np.linspace(-3.0, 3.0, 13))
    exact = F.gelu(x).numpy()
    assert np.abs(F.gelu(x, approximate="tanh").numpy() - exact).max() < 1e-3
    assert np.abs(F.gelu(x, approximate="sigmoid").numpy() - exact).max() < 3e-2


def test_gradient_conventions_at_zero():
    """Match torch: relu' (0) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, prelu'(0) = w."""
    def grad_at_zero(fn):
        x = lucidnn.Tensor(np.zeros(1), requires_grad=True)
        fn(x).sum().backward()
        return x.grad.numpy()[0]

    assert grad_at_zero(F.relu) == 0.0
    assert grad_at_zero(lambda x: F.leaky_relu(x, 0.2)) == 0.2
    assert grad_at_zero(lambda x: F.elu(x, alpha=0.5)) == 0.5
    assert grad_at_zero(lambda x: F.prelu(x, lucidnn.Tensor(np.array([0.3])))) == 0.3


def test_python_number_arguments_never_upcast_float32():
    x = lucidnn.Tensor(np.linspace(-2.0, 2.0, 5, dtype=np.float32), requires_grad=True)
    for y in (F.elu(x, alpha=np.float64(0.5)), F.leaky_relu(x, np.float64(0.1)),
              F.softplus(x, beta=np.float64(2.0), threshold=np.float64(3.0)),
              F.swish(x, beta=np.float64(1.5))):
        assert y.dtype == np.float32
        assert all(g.dtype == np.float32 for g in y.grad_fn.backward(np.ones(5, np.float32)))


def test_prelu_weight_gradient_is_per_channel():
    x = np.array([[[-1.0, 2.0], [-3.0, -4.0]], [[-5.0, 6.0], [7.0, -8.0]]])  # (N=2, C=2, L=2)
    xt = lucidnn.Tensor(x, requires_grad=True)
    w = lucidnn.Tensor(np.array([0.1, 0.2]), requires_grad=True)
    F.prelu(xt, w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [-1.0 - 5.0, -3.0 - 4.0 - 8.0])
    np.testing.assert_allclose(xt.grad.numpy(), np.where(x > 0, 1.0, [[[0.1], [0.2]]]))


def test_swish_learnable_beta_gradient_keeps_beta_shape():
    x = lucidnn.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    for shape in [(), (1,), (3, 1), (1, 1, 4)]:
        beta = lucidnn.Tensor(np.full(shape, 1.2), requires_grad=True)
        F.swish(x, beta).sum().backward()
        assert beta.grad.shape == shape


def test_swish_with_beta_one_is_silu():
    x = lucidnn.Tensor(np.linspace(-4.0, 4.0, 9))
    np.testing.assert_array_equal(F.swish(x).numpy(), F.silu(x).numpy())
    beta = lucidnn.Tensor(np.array(1.0))
    np.testing.assert_allclose(F.swish(x, beta).numpy(), F.silu(x).numpy(), rtol=1e-15)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_axis_and_dim_alias(fn):
    x = lucidnn.Tensor(np.random.default_rng(1).standard_normal((2, 3, 4)))
    np.testing.assert_array_equal(fn(x, dim=1).numpy(), fn(x, axis=1).numpy())
    np.testing.assert_array_equal(fn(x, 1).numpy(), fn(x, -2).numpy())
    p = np.exp(fn(x, axis=0).numpy()) if fn is F.log_softmax else fn(x, axis=0).numpy()
    np.testing.assert_allclose(p.sum(axis=0), np.ones((3, 4)), rtol=1e-12)
    with pytest.raises(TypeError, match="either axis= or dim="):
        fn(x, axis=0, dim=1)
    with pytest.raises(AxisError, match="out of range"):
        fn(x, axis=3)
    with pytest.raises(AxisError, match="single int"):
        fn(x, axis=(0, 1))


def test_tensor_methods_call_these_ops():
    x = lucidnn.Tensor(np.random.default_rng(2).standard_normal((3, 4)))
    np.testing.assert_array_equal(x.sigmoid().numpy(), F.sigmoid(x).numpy())
    np.testing.assert_array_equal(x.tanh().numpy(), F.tanh(x).numpy())
    np.testing.assert_array_equal(x.relu().numpy(), F.relu(x).numpy())
    np.testing.assert_array_equal(x.softmax(0).numpy(), F.softmax(x, axis=0).numpy())
    np.testing.assert_array_equal(x.log_softmax().numpy(), F.log_softmax(x, axis=-1).numpy())


# --------------------------------------------------------------------------- errors


def test_gelu_rejects_an_unknown_approximation():
    x = lucidnn.Tensor(np.zeros(3))
    with pytest.raises(ValueError, match="'none', 'tanh', 'sigmoid'.*'erf'"):
        F.gelu(x, approximate="erf")


@pytest.mark.parametrize("weight_shape, match", [
    ((3,), "weight has 3 slopes but the input of shape \\(2, 4, 5\\) has 4 channels"),
    ((5,), "has 5 slopes"),
    ((1, 4), "1-D tensor"),
])
def test_prelu_rejects_weights_that_match_no_channel_count(weight_shape, match):
    x = lucidnn.Tensor(np.zeros((2, 4, 5)))
    with pytest.raises(ShapeError, match=match):
        F.prelu(x, lucidnn.Tensor(np.ones(weight_shape)))


def test_prelu_with_channel_weights_on_a_1d_input_is_an_error():
    with pytest.raises(ShapeError, match="1 channels"):
        F.prelu(lucidnn.Tensor(np.zeros(4)), lucidnn.Tensor(np.ones(4)))


def test_prelu_argument_types():
    x = lucidnn.Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="prelu: weight must be a Tensor"):
        F.prelu(x, 0.25)
    with pytest.raises(DTypeError, match="weight is float64 but the input is float32"):
        F.prelu(x, lucidnn.Tensor(np.ones(3)))


def test_swish_argument_errors():
    x = lucidnn.Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="swish: beta must be a real number, got str"):
        F.swish(x, beta="1.0")
    with pytest.raises(ShapeError, match=r"beta of shape \(4,\) does not broadcast"):
        F.swish(x, lucidnn.Tensor(np.ones(4, dtype=np.float32)))
    with pytest.raises(ShapeError, match=r"beta of shape \(5, 2, 3\)"):  # would enlarge the output
        F.swish(x, lucidnn.Tensor(np.ones((5, 2, 3), dtype=np.float32)))
    with pytest.raises(DTypeError, match="beta is float64"):
        F.swish(x, lucidnn.Tensor(np.ones(1)))


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.elu(x, alpha="1"), TypeError, "elu: alpha must be a real number"),
    (lambda x: F.elu(x, alpha=None), TypeError, "elu: alpha must be a real number"),
    (lambda x: F.leaky_relu(x, True), TypeError, "negative_slope must be a real number"),
    (lambda x: F.leaky_relu(x, math.nan), ValueError, "negative_slope must not be NaN"),
    (lambda x: F.softplus(x, beta=0.0), ValueError, "softplus: beta must be positive"),
    (lambda x: F.softplus(x, beta=-1.0), ValueError, "softplus: beta must be positive"),
    (lambda x: F.softplus(x, threshold="20"), TypeError, "threshold must be a real number"),
])
def test_scalar_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(lucidnn.Tensor(np.zeros(3)))
