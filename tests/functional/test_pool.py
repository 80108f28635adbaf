"""Pooling, local response norm and dropout2d beyond the op table: ties, zero windows, padding, errors, dtypes.

The op table checks gradients on tie-free inputs; here ties are made on purpose (exactly one
element per window gets the gradient, the same one PyTorch picks), L2 windows are made all
zero (a finite, zero gradient), and every invalid call raises a typed error naming the op and
the shapes (RELIABILITY.md R21).
"""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import DTypeError, ShapeError


def _grad(fn, x: np.ndarray, v: np.ndarray | None = None):
    t = lucidnn.Tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(np.ones(y.shape, dtype=x.dtype) if v is None else v)
    return y.numpy(), t.grad.numpy()


# --------------------------------------------------------------------------- ties


@pytest.mark.parametrize("kw", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True),
])
def test_a_tied_window_sends_its_gradient_to_exactly_one_element(kw):
    x = np.zeros((2, 3, 7, 8))
    y, gx = _grad(lambda t: F.max_pool2d(t, **kw), x)
    assert gx.sum() == y.size  # one unit of gradient per window, none lost to padding, none doubled
    assert set(np.unique(gx)) <= set(range(y.size + 1))


def test_a_constant_non_overlapping_window_picks_its_first_element():
    _, gx = _grad(lambda t: F.max_pool2d(t, 2), np.ones((1, 1, 4, 4)))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0
    np.testing.assert_array_equal(gx[0, 0], expected)


@pytest.mark.torch
@pytest.mark.parametrize("op, kw", [
    ("max_pool2d", dict(kernel_size=2)),
    ("max_pool2d", dict(kernel_size=3, stride=1, padding=1)),
    ("max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max_pool2d", dict(kernel_size=(3, 2), stride=1, dilation=(1, 2))),
    ("max_pool1d", dict(kernel_size=4, stride=2, padding=2)),
    ("adaptive_max_pool2d", dict(output_size=(3, 4))),
    ("adaptive_max_pool1d", dict(output_size=5)),
])
def test_ties_go_to_the_same_element_as_in_torch(rng, op, kw):
    """Inputs of few distinct values tie in most windows: PyTorch's first-in-row-major rule."""
    torch = pytest.importorskip("torch")
    shape = (2, 3, 7, 9) if op.endswith("2d") else (2, 3, 11)
    x = rng.integers(0, 3, shape).astype(np.float64)
    v = rng.standard_normal(getattr(torch.nn.functional, op)(torch.from_numpy(x), **kw).shape)
    y, gx = _grad(lambda t: getattr(F, op)(t, **kw), x, v)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, op)(tx, **kw)
    ty.backward(torch.from_numpy(v))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- padding and NaN


def test_minus_inf_padding_is_never_selected():
    x = np.full((1, 2, 5, 5), -1e30)  # every real value is below any finite pad value but above -inf
    x[0, 1] = -np.arange(25.0).reshape(5, 5) - 1.0
    y, gx = _grad(lambda t: F.max_pool2d(t, 3, stride=2, padding=1, ceil_mode=True), x)
    assert (y < -0.5).all()  # a zero (or any finite) pad would have won
    assert gx.sum() == y.size  # every window's gradient reached a real element
    np.testing.assert_array_equal(y[0, 1], [[-1.0, -2.0, -4.0], [-6.0, -7.0, -9.0], [-16.0, -17.0, -19.0]])


def test_avg_pool_padding_is_zero_and_can_be_excluded_from_the_count():
    x = np.ones((1, 1, 3, 3))
    included = F.avg_pool2d(lucidnn.Tensor(x), 3, stride=1, padding=1).numpy()[0, 0]
    excluded = F.avg_pool2d(lucidnn.Tensor(x), 3, stride=1, padding=1, count_include_pad=False).numpy()[0, 0]
    np.testing.assert_allclose(included, [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1.0, 6 / 9], [4 / 9, 6 / 9, 4 / 9]])
    np.testing.assert_allclose(excluded, np.ones((3, 3)))


def test_max_pool_propagates_nan():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    y = F.max_pool2d(lucidnn.Tensor(x), 2).numpy()[0, 0]
    assert np.isnan(y[0, 0]) and not np.isnan(y[1:, :]).any() and not np.isnan(y[0, 1])


@pytest.mark.parametrize("kernel", [255, 256, 300])
def test_long_windows_keep_the_right_winner(rng, kernel):
    """Winner offsets are uint8 up to 256 taps and int32 beyond: check both sides of the switch."""
    x = rng.permutation(2 * kernel + 7).astype(np.float64).reshape(1, 1, -1)
    y, gx = _grad(lambda t: F.max_pool1d(t, kernel, stride=kernel // 2), x)
    windows = [x[0, 0, o * (kernel // 2): o * (kernel // 2) + kernel] for o in range(y.shape[-1])]
    np.testing.assert_array_equal(y[0, 0], [w.max() for w in windows])
    hit = np.zeros_like(x)
    for o, w in enumerate(windows):
        hit[0, 0, o * (kernel // 2) + w.argmax()] += 1
    np.testing.assert_array_equal(gx, hit)


# --------------------------------------------------------------------------- L2 pooling at zero


@pytest.mark.parametrize("fn", [
    lambda t: F.l2_pool2d(t, 2),
    lambda t: F.l2_pool2d(t, 2, mean=True),
    lambda t: F.l2_pool2d(t, 3, stride=1, padding=1),
    lambda t: F.lp_pool2d(t, 2, 2),
    lambda t: F.lp_pool2d(t, 4, 2),
])
def test_all_zero_l2_windows_have_a_finite_zero_gradient(rng, fn):
    x = rng.standard_normal((2, 3, 6, 6))
    x[:, :, :2, :2] = 0.0  # an all-zero 2x2 window in every channel
    x[0, 0] = 0.0  # and a whole zero channel
    y, gx = _grad(fn, x)
    assert np.isfinite(y).all() and np.isfinite(gx).all()
    np.testing.assert_array_equal(gx[0, 0], 0.0)
    np.testing.assert_array_equal(gx[:, :, :2, :2], 0.0)  # zero inputs: x / y = 0 wherever y > 0 too


def test_l2_pool_gradient_is_x_over_y_in_nonzero_windows():
    x = np.array([[[[3.0, 4.0], [0.0, 0.0]]]])
    y, gx = _grad(lambda t: F.l2_pool2d(t, 2), x)
    np.testing.assert_allclose(y, [[[[5.0]]]])
    np.testing.assert_allclose(gx, x / 5.0)
    y, gx = _grad(lambda t: F.l2_pool2d(t, 2, mean=True), x)
    np.testing.assert_allclose(y, [[[[2.5]]]])
    np.testing.assert_allclose(gx, x / (4 * 2.5))


def test_l2_pool_equals_lp_pool_with_p2(rng):
    x = lucidnn.Tensor(rng.standard_normal((2, 3, 7, 6)))
    np.testing.assert_allclose(F.l2_pool2d(x, (3, 2), stride=(2, 1)).numpy(),
                               F.lp_pool2d(x, 2, (3, 2), stride=(2, 1)).numpy(), rtol=1e-14)


# --------------------------------------------------------------------------- dtypes and shapes

_OPS = [
    lambda t: F.max_pool2d(t, 3, 2, 1),
    lambda t: F.avg_pool2d(t, 2, count_include_pad=False, padding=1),
    lambda t: F.lp_pool2d(t, 3, 2),
    lambda t: F.l2_pool2d(t, 2, mean=True),
    lambda t: F.adaptive_avg_pool2d(t, (3, 2)),
    lambda t: F.adaptive_max_pool2d(t, 3),
    lambda t: F.global_avg_pool2d(t),
    lambda t: F.local_response_norm(t, 3),
    lambda t: F.dropout2d(t, 0.5),
    lambda t: F.max_pool1d(t.reshape(2, 3, 30), 4, 3),
    lambda t: F.avg_pool1d(t.reshape(2, 3, 30), 4, 3),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", _OPS)
def test_outputs_and_gradients_keep_the_input_dtype(rng, op, dtype):
    x = (rng.uniform(0.1, 1.0, (2, 3, 5, 6))).astype(dtype)
    y, gx = _grad(op, x)
    assert y.dtype == dtype and gx.dtype == dtype
    assert np.isfinite(gx).all()


def test_global_avg_pool_returns_n_by_c(rng):
    x = lucidnn.Tensor(rng.standard_normal((4, 3, 5, 6)))
    assert F.global_avg_pool2d(x).shape == (4, 3)
    assert F.global_avg_pool2d(x, keepdims=True).shape == (4, 3, 1, 1)
    np.testing.assert_allclose(F.global_avg_pool2d(x).numpy(), x.numpy().mean(axis=(2, 3)))


def test_unbatched_input_gives_unbatched_output(rng):
    x = rng.standard_normal((3, 8, 8))
    batched = F.max_pool2d(lucidnn.Tensor(x[None]), 2).numpy()
    np.testing.assert_array_equal(F.max_pool2d(lucidnn.Tensor(x), 2).numpy(), batched[0])


def test_adaptive_avg_pool_to_one_is_global_average(rng):
    x = lucidnn.Tensor(rng.standard_normal((2, 3, 5, 7)))
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).numpy()[:, :, 0, 0], F.global_avg_pool2d(x).numpy(),
                               rtol=1e-13)


# --------------------------------------------------------------------------- dropout2d


def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    x = lucidnn.ones(64, 32, 3, 4)
    y = F.dropout2d(x, 0.25, rng=lucidnn.Generator(1)).numpy()
    per_channel = y.reshape(64, 32, -1)
    assert (per_channel.min(axis=-1) == per_channel.max(axis=-1)).all()  # constant over each map
    kept = per_channel[:, :, 0] != 0
    np.testing.assert_allclose(per_channel[:, :, 0][kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 5 * np.sqrt(0.25 * 0.75 / kept.size)


def test_dropout2d_gradient_is_the_channel_mask():
    x = lucidnn.Tensor(np.ones((8, 6, 2, 3), dtype=np.float32), requires_grad=True)
    y = F.dropout2d(x, 0.5, rng=lucidnn.Generator(2))
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_dropout2d_eval_and_p0_return_the_input_itself_and_p1_gives_zeros():
    x = lucidnn.randn(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.dropout2d(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout2d(x, 1.0).numpy(), 0.0)


# --------------------------------------------------------------------------- errors (R21)


def _t(*shape, dtype=np.float32):
    return lucidnn.Tensor(np.zeros(shape, dtype=dtype))


_SHAPE = r"\(input shape \(1, 1, 4, 4\)\)"
ERRORS = [
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 0), ShapeError, r"max_pool2d: kernel_size must be positive, got \(0, 0\) "
     + _SHAPE),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 2, stride=0), ShapeError,
     r"max_pool2d: stride must be positive, got \(0, 0\)"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 2, dilation=(1, 0)), ShapeError, r"max_pool2d: dilation must be positive"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 2, padding=-1), ShapeError,
     r"max_pool2d: padding must be non-negative, got \(-1, -1\) " + _SHAPE),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 3, padding=2), ShapeError,
     r"max_pool2d: padding \(2, 2\) must be at most half the kernel span \(3, 3\).*at most \(1, 1\) " + _SHAPE),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 5), ShapeError,
     r"max_pool2d: kernel_size \(5, 5\) with dilation \(1, 1\) spans 5x5, larger than the padded input 4x4 "
     r"\(HxW of input shape \(1, 1, 4, 4\) with padding \(0, 0\)\)"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 3, dilation=2), ShapeError, r"spans 5x5, larger than the padded input 4x4"),
    (lambda: F.max_pool2d(_t(1, 1, 1, 1), 6, padding=2), ShapeError,
     r"larger than the padded input 5x5"),
    (lambda: F.max_pool2d(_t(4, 4), 2), ShapeError,
     r"max_pool2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, got shape \(4, 4\)"),
    (lambda: F.max_pool2d(_t(1, 1, 1, 4, 4), 2), ShapeError, r"max_pool2d: expected .* got shape \(1, 1, 1, 4, 4\)"),
    (lambda: F.max_pool1d(_t(1, 1, 4, 4), 2), ShapeError,
     r"max_pool1d: expected a 2-D \(C, L\) or 3-D \(N, C, L\) input, got shape \(1, 1, 4, 4\)"),
    (lambda: F.max_pool1d(_t(2, 3, 4), 5), ShapeError, r"max_pool1d: kernel_size \(5,\) .* padded input 4 \(L of"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), 2.5), TypeError, r"max_pool2d: kernel_size must be an int or a tuple of 2"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4), (2, 2, 2)), TypeError, r"max_pool2d: kernel_size must be an int or a tuple"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2), TypeError, r"max_pool2d: input must be a Tensor, got ndarray"),
    (lambda: F.max_pool2d(_t(1, 1, 4, 4, dtype=np.int64), 2), DTypeError, r"max_pool2d: input must be floating point"),
    (lambda: F.avg_pool2d(_t(1, 1, 4, 4), (2, 0)), ShapeError,
     r"avg_pool2d: kernel_size must be positive, got \(2, 0\)"),
    (lambda: F.avg_pool1d(_t(1, 1, 8), 3, padding=2), ShapeError, r"avg_pool1d: padding \(2,\) must be at most half"),
    (lambda: F.avg_pool2d(_t(1, 1, 4, 4), 2, divisor_override=0), ValueError, r"avg_pool2d: divisor_override"),
    (lambda: F.avg_pool2d(_t(1, 1, 2, 6), 3), ShapeError, r"avg_pool2d: kernel_size \(3, 3\) .* padded input 2x6"),
    (lambda: F.lp_pool2d(_t(1, 1, 4, 4), 0, 2), ValueError, r"lp_pool2d: norm_type must be positive and finite, got 0"),
    (lambda: F.lp_pool1d(_t(1, 1, 4), float("inf"), 2), ValueError, r"lp_pool1d: norm_type must be positive"),
    (lambda: F.lp_pool2d(_t(1, 1, 4, 4), "2", 2), TypeError, r"lp_pool2d: norm_type must be a real number"),
    (lambda: F.lp_pool2d(_t(1, 1, 4, 4), 2, 0), ShapeError, r"lp_pool2d: kernel_size must be positive"),
    (lambda: F.l2_pool2d(_t(1, 1, 2, 2), 3), ShapeError, r"l2_pool2d: kernel_size \(3, 3\) .* padded input 2x2"),
    (lambda: F.l2_pool1d(_t(1, 1, 6), 2, stride=0), ShapeError, r"l2_pool1d: stride must be positive"),
    (lambda: F.adaptive_avg_pool2d(_t(1, 1, 4, 4), 0), ShapeError,
     r"adaptive_avg_pool2d: output_size must be positive, got \(0, 0\) " + _SHAPE),
    (lambda: F.adaptive_avg_pool2d(_t(1, 1, 4, 4), (2, 2, 2)), TypeError, r"adaptive_avg_pool2d: output_size must be"),
    (lambda: F.adaptive_avg_pool1d(_t(4, 4, 4, 4), 2), ShapeError, r"adaptive_avg_pool1d: expected .* \(4, 4, 4, 4\)"),
    (lambda: F.adaptive_max_pool1d(_t(1, 1, 0), 2), ShapeError,
     r"adaptive_max_pool1d: cannot pool an empty input of shape \(1, 1, 0\)"),
    (lambda: F.adaptive_max_pool2d(_t(1, 1, 4, 4), 1.5), TypeError, r"adaptive_max_pool2d: output_size must be"),
    (lambda: F.global_avg_pool2d(_t(3, 4)), ShapeError, r"global_avg_pool2d: expected .* got shape \(3, 4\)"),
    (lambda: F.global_avg_pool2d(_t(2, 3, 0, 4)), ShapeError, r"global_avg_pool2d: cannot average .* \(2, 3, 0, 4\)"),
    (lambda: F.local_response_norm(_t(3, 4), 2), ShapeError,
     r"local_response_norm: expected an input of 3 or more dimensions \(N, C, \*\), got shape \(3, 4\)"),
    (lambda: F.local_response_norm(_t(1, 3, 4), 0), ValueError, r"local_response_norm: size must be a positive"),
    (lambda: F.local_response_norm(_t(1, 3, 4), 2.0), TypeError, r"local_response_norm: size must be an int"),
    (lambda: F.local_response_norm(_t(1, 3, 4, dtype=np.int32), 2), DTypeError, r"local_response_norm: input must"),
    (lambda: F.dropout2d(_t(3, 4)), ShapeError, r"dropout2d: expected an input of 3 or more dimensions .* \(3, 4\)"),
    (lambda: F.dropout2d(_t(1, 3, 4), 1.5), ValueError, r"dropout2d: probability p must be in \[0, 1\], got 1.5"),
    (lambda: F.dropout2d(_t(1, 3, 4), 0.5, rng=np.random.default_rng()), TypeError,
     r"dropout2d: rng must be a lucidnn.Generator"),
]


@pytest.mark.parametrize("call, error, match", ERRORS, ids=[m[:40] for _, _, m in ERRORS])
def test_invalid_calls_raise_typed_errors_naming_op_and_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_every_shape_error_is_a_lucid_error_and_a_value_error():
    for call, error, _ in ERRORS:
        if error is ShapeError:
            with pytest.raises(lucidnn.errors.LucidError):
                call()


@pytest.mark.parametrize("shape, out", [((3, 5, 4, 6), 1), ((3, 5, 4, 6), (1, 1)), ((2, 4, 7), 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_global_adaptive_average_keeps_the_input_layout_and_matches_the_mean(rng, shape, out, channels_last):
    x = rng.standard_normal(shape)
    if channels_last:  # the memory a channels-last conv returns
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    xt = lucidnn.Tensor(x, requires_grad=True)
    pool = F.adaptive_avg_pool2d if len(shape) == 4 else F.adaptive_avg_pool1d
    y = pool(xt, out)
    np.testing.assert_allclose(y.numpy(), x.mean(axis=tuple(range(2, x.ndim)), keepdims=True), rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    window = np.prod(shape[2:])
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(gy / window, shape), rtol=1e-12)
    assert np.moveaxis(xt.grad.numpy(), 1, -1).flags.c_contiguous == channels_last
