"""batch_norm and layer_norm beyond the op table: running-stat updates, modes and argument errors."""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import DTypeError, ShapeError


def _t(a, dtype=np.float64, requires_grad=False):
    return lucidnn.Tensor(np.asarray(a, dtype=dtype), requires_grad=requires_grad)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
def test_running_stats_follow_torch_over_several_steps(rng, shape, momentum):
    torch = pytest.importorskip("torch")
    c = shape[1]
    rm, rv = _t(np.zeros(c)), _t(np.ones(c))
    trm, trv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
    for step in range(5):
        x = rng.standard_normal(shape) * (step + 1) + step
        y = F.batch_norm(_t(x), rm, rv, training=True, momentum=momentum)
        ty = torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, training=True, momentum=momentum)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12, atol=1e-14, err_msg=f"mean, step {step}")
        np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12, atol=1e-14, err_msg=f"var, step {step}")
    # and evaluation with the accumulated statistics
    x = rng.standard_normal(shape)
    y = F.batch_norm(_t(x), rm, rv, training=False)
    ty = torch.nn.functional.batch_norm(torch.from_numpy(x), trm, trv, training=False)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-10, atol=1e-12)


def test_running_variance_is_unbiased_and_normalization_biased(rng):
    x = rng.standard_normal((6, 2, 3))
    rm, rv = _t(np.zeros(2)), _t(np.zeros(2))
    y = F.batch_norm(_t(x), rm, rv, training=True, momentum=1.0, eps=1e-12)
    np.testing.assert_allclose(rm.numpy(), x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), x.var(axis=(0, 2), ddof=1), rtol=1e-12)
    np.testing.assert_allclose(y.numpy().var(axis=(0, 2)), 1.0, rtol=1e-8)  # biased: exactly 1
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2)), 0.0, atol=1e-12)


def test_eval_uses_running_stats_updates_nothing_and_has_a_backward(rng):
    x = _t(rng.standard_normal((4, 3)), requires_grad=True)
    w = _t(rng.standard_normal(3), requires_grad=True)
    rm, rv = _t([0.5, -1.0, 2.0]), _t([4.0, 1.0, 0.25])
    y = F.batch_norm(x, rm, rv, w, training=False, eps=1e-12)
    expected = (x.numpy() - rm.numpy()) / np.sqrt(rv.numpy()) * w.numpy()
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10)
    np.testing.assert_array_equal(rm.numpy(), [0.5, -1.0, 2.0])
    np.testing.assert_array_equal(rv.numpy(), [4.0, 1.0, 0.25])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(w.numpy() / np.sqrt(rv.numpy()), (4, 3)), rtol=1e-10)
    assert rm.grad is None and rv.grad is None


def test_training_gradient_of_the_sum_is_zero(rng):
    # sum(x_hat) is 0 whatever x, so d/dx sum(batch_norm(x)) = 0: the mean terms of the backward at work
    x = _t(rng.standard_normal((5, 4, 3)), requires_grad=True)
    F.batch_norm(x, None, None, training=True).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 0.0, atol=1e-12)


def test_float32_stays_float32_including_running_stats(rng):
    x = _t(rng.standard_normal((8, 3)), np.float32, requires_grad=True)
    rm, rv = _t(np.zeros(3), np.float32), _t(np.ones(3), np.float32)
    w, b = _t(np.ones(3), np.float32, True), _t(np.zeros(3), np.float32, True)
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == rm.dtype == rv.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_inputs_are_not_modified(rng):
    x0 = rng.standard_normal((4, 3, 2))
    x = _t(x0.copy())
    F.batch_norm(x, _t(np.zeros(3)), _t(np.ones(3)), training=True)
    F.layer_norm(x, (3, 2))
    np.testing.assert_array_equal(x.numpy(), x0)


def test_layer_norm_normalizes_each_sample(rng):
    x = rng.standard_normal((3, 4, 5)) * 3 + 7
    y = F.layer_norm(_t(x), (4, 5), eps=1e-12).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-9)
    # an int normalized_shape is the last axis
    y1 = F.layer_norm(_t(x), 5, eps=1e-12).numpy()
    np.testing.assert_allclose(y1.mean(axis=2), 0.0, atol=1e-12)


def test_layer_norm_of_a_constant_row_is_finite():
    y = F.layer_norm(_t(np.full((2, 4), 3.0), requires_grad=True), 4)
    y.sum().backward()
    assert np.isfinite(y.numpy()).all()


@pytest.mark.parametrize("call, error, pattern", [
    (lambda x, c: F.batch_norm(x[0], None, None, training=True), ShapeError, r"at least 2 dimensions"),
    (lambda x, c: F.batch_norm(x, c(4), c(3)), ShapeError, r"running_mean has shape \(4,\).*needs \(3,\)"),
    (lambda x, c: F.batch_norm(x, c(3), c(3), c(2)), ShapeError, r"weight has shape \(2,\)"),
    (lambda x, c: F.batch_norm(x, c(3, np.float32), c(3)), DTypeError, r"running_mean is float32"),
    (lambda x, c: F.batch_norm(x, None, None), ValueError, r"evaluation .* needs running_mean"),
    (lambda x, c: F.batch_norm(x[:1], None, None, training=True), ValueError, r"more than 1 value per channel"),
    (lambda x, c: F.batch_norm(x, None, None, training=True, momentum=1.5), ValueError, r"momentum.*1.5"),
    (lambda x, c: F.batch_norm(x, None, None, training=True, eps=0), ValueError, r"eps must be positive"),
    (lambda x, c: F.batch_norm(x, [0.0] * 3, c(3)), TypeError, r"running_mean must be a Tensor"),
    (lambda x, c: F.layer_norm(x, 4), ShapeError, r"\(2, 3\) does not end with normalized_shape \(4,\)"),
    (lambda x, c: F.layer_norm(x, (2, 3, 1)), ShapeError, r"does not end with"),
    (lambda x, c: F.layer_norm(x, 0), ValueError, r"normalized_shape .* positive.*got 0"),
    (lambda x, c: F.layer_norm(x, ()), ValueError, r"normalized_shape"),
    (lambda x, c: F.layer_norm(x, 3.0), TypeError, r"normalized_shape must be an int"),
    (lambda x, c: F.layer_norm(x, 3, c(4)), ShapeError, r"weight has shape \(4,\)"),
    (lambda x, c: F.layer_norm(x, 3, eps=-1.0), ValueError, r"eps must be positive"),
])
def test_argument_errors(call, error, pattern):
    x = _t(np.arange(6.0).reshape(2, 3))

    def const(n, dtype=np.float64):
        return _t(np.ones(n), dtype)

    with pytest.raises(error, match=pattern):
        call(x, const)


def test_integer_input_is_rejected():
    with pytest.raises(DTypeError, match="floating point"):
        F.batch_norm(lucidnn.tensor([[1, 2], [3, 4]]), None, None, training=True)


def _batch_norm_reference(x, w, b, gy, eps=1e-5):
    """Textbook batch norm and its gradients in float64 over axes (0, 2, 3, ...)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    n = x.size // x.shape[1]
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - mu.reshape(shape)) / np.sqrt(var + eps).reshape(shape)
    y = x_hat * w.reshape(shape) + b.reshape(shape)
    g_hat = gy * w.reshape(shape)
    gx = (g_hat - g_hat.mean(axis=axes, keepdims=True)
          - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True)) / np.sqrt(var + eps).reshape(shape)
    assert n > 1
    return y, gx, (gy * x_hat).sum(axis=axes), gy.sum(axis=axes)


def _laid_out(a, layout):
    """The same values as ``a`` (N, C, *S) in channels-last, channels-first, NCHW or Fortran memory."""
    if layout == "last":
        return np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose((0, a.ndim - 1) + tuple(range(1, a.ndim - 1)))
    if layout == "first":
        return np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1)
    return np.asfortranarray(a) if layout == "fortran" else np.ascontiguousarray(a)


@pytest.mark.parametrize("shape", [(4, 6, 8, 8), (3, 5, 7, 3), (64, 3, 4, 4), (5, 4, 9), (6, 4)])
@pytest.mark.parametrize("x_layout", ["last", "first", "nchw", "fortran"])
@pytest.mark.parametrize("gy_layout", ["last", "nchw"])
def test_batch_norm_gives_the_same_numbers_for_every_memory_layout(rng, shape, x_layout, gy_layout):
    """The fast paths (folded channels-last rows, channels-first planes) agree with the textbook."""
    x = rng.standard_normal(shape) * 3 + 2
    gy = rng.standard_normal(shape)
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    y_ref, gx_ref, gw_ref, gb_ref = _batch_norm_reference(x, w, b, gy)
    xt = _t(_laid_out(x, x_layout), requires_grad=True)
    wt, bt = _t(w, requires_grad=True), _t(b, requires_grad=True)
    y = F.batch_norm(xt, None, None, wt, bt, training=True)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-10, atol=1e-12)
    y.backward(_laid_out(gy, gy_layout))
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(wt.grad.numpy(), gw_ref, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(bt.grad.numpy(), gb_ref, rtol=1e-10, atol=1e-11)
