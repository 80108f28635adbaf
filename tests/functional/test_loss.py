"""Loss functions beyond the op table: extreme logits (R05), argument errors (R21), empty means.

The op table (tests/functional/op_table/loss.py) checks every loss and setting against a
NumPy reference, finite differences and PyTorch; these tests cover what a row cannot.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import DTypeError, GraphError, IndexingError, ShapeError

EXTREMES = [(np.float32, 1e4), (np.float32, 1e8), (np.float64, 1e300)]


def _softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- R05 extreme logits


@pytest.mark.parametrize("target", [0, 1])
def test_cross_entropy_of_equal_huge_logits_is_ln2(target):
    x = lucidnn.tensor(np.array([[1e8, 1e8]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.array([target]))
    assert loss.dtype == np.float32
    assert abs(loss.item() - math.log(2)) <= 1e-6
    loss.backward()
    expected = np.array([[0.5, 0.5]]) - np.eye(2)[[target]]
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("dtype, v", EXTREMES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cross_entropy_extreme_logits_finite_and_exact(dtype, v, sign):
    logits = (sign * np.array([[v, -v, 0.0], [-v, v, v], [v, v, -v], [0.0, -v, v]])).astype(dtype)
    target = np.array([0, 2, 1, 0])
    x = lucidnn.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, reduction="sum")
    assert loss.dtype == dtype
    log_p = _log_softmax(logits.astype(np.float64))
    expected = -log_p[np.arange(4), target].sum()
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    loss.backward()
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad.numpy(), _softmax(logits.astype(np.float64)) - np.eye(3)[target],
                               atol=1e-6)


@pytest.mark.parametrize("dtype, v", EXTREMES)
def test_cross_entropy_extreme_logits_with_smoothing_and_probabilities(dtype, v):
    logits = np.array([[v, -v, 0.0], [-v, v, v]], dtype=dtype)
    q = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=dtype)
    for target in (np.array([0, 1]), q):
        x = lucidnn.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, target, label_smoothing=0.1)
        loss.backward()
        assert np.isfinite(loss.item()) and np.isfinite(x.grad.numpy()).all()
        assert x.grad.dtype == dtype


@pytest.mark.parametrize("dtype, v", EXTREMES)
def test_bce_with_logits_extreme_logits(dtype, v):
    x_np = np.array([-v, -v, v, v, 0.0], dtype=dtype)
    t_np = np.array([1.0, 0.0, 1.0, 0.0, 1.0], dtype=dtype)
    x = lucidnn.tensor(x_np, requires_grad=True)
    t = lucidnn.tensor(t_np, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=np.array(2.0))
    expected = np.array([2 * v, 0.0, 0.0, v, 2 * math.log(2)])
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
    loss.backward(np.ones(5, dtype=dtype))
    for g in (x.grad.numpy(), t.grad.numpy()):
        assert g.dtype == dtype and np.isfinite(g).all()
    sigma = np.array([0.0, 0.0, 1.0, 1.0, 0.5])
    np.testing.assert_allclose(x.grad.numpy(), (1 + t_np) * sigma - 2 * t_np, atol=1e-6)


def test_bce_with_logits_large_negative_logit_positive_target_is_1e4():
    x = lucidnn.tensor(np.array([-1e4], dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(x, lucidnn.tensor(np.array([1.0], dtype=np.float32)))
    assert loss.dtype == np.float32
    assert abs(loss.item() - 1e4) <= 1e-6 * 1e4


def test_bce_with_logits_keeps_small_losses_accurate():
    x = lucidnn.tensor(np.array([-30.0, 30.0]))
    loss = F.binary_cross_entropy_with_logits(x, lucidnn.tensor(np.array([0.0, 1.0])), reduction="none")
    np.testing.assert_allclose(loss.numpy(), np.log1p(np.exp(-30.0)), rtol=1e-12)


def test_bce_of_saturated_probabilities_is_clamped_and_finite():
    x = lucidnn.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    t = lucidnn.tensor(np.array([1.0, 0.0, 0.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(x, t, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.isfinite(t.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0, 0.0])  # PyTorch's clamped form


# --------------------------------------------------------------------------- empty means


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 3.0])}])
def test_cross_entropy_all_ignored_mean_is_nan_with_zero_gradient(kwargs):
    x = lucidnn.tensor(np.zeros((4, 3), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, np.full(4, -100), **kwargs)
    assert math.isnan(loss.item())
    loss.backward()  # warnings are errors: neither pass may warn
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    assert F.cross_entropy(x, np.full(4, -100), reduction="sum", **kwargs).item() == 0.0


def test_nll_loss_all_ignored_mean_is_nan_with_zero_gradient():
    x = lucidnn.tensor(np.full((2, 3, 2), -np.inf), requires_grad=True)  # ignored rows are never read
    loss = F.nll_loss(x, np.full((2, 2), 1), ignore_index=1)
    assert math.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


@pytest.mark.parametrize("loss_fn, target", [
    (F.cross_entropy, np.zeros(0, dtype=np.int64)),
    (F.cross_entropy, np.zeros((0, 3))),
    (F.nll_loss, np.zeros(0, dtype=np.int64)),
    (F.mse_loss, np.zeros((0, 3))),
    (F.binary_cross_entropy_with_logits, np.zeros((0, 3))),
    (F.binary_cross_entropy, np.zeros((0, 3))),
])
def test_mean_over_an_empty_batch_is_nan_silently(loss_fn, target):
    x = lucidnn.tensor(np.zeros((0, 3)), requires_grad=True)
    loss = loss_fn(x, target)
    assert math.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 3)


# --------------------------------------------------------------------------- semantics


def test_nll_of_log_softmax_equals_cross_entropy(rng):
    logits = rng.standard_normal((6, 4, 3))
    target = rng.integers(0, 4, (6, 3))
    target[0, 0] = -100
    w = rng.random(4)
    ce = F.cross_entropy(lucidnn.tensor(logits), target, weight=w)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = F.nll_loss(lucidnn.tensor(log_p), target, weight=w)
    np.testing.assert_allclose(ce.item(), nll.item(), rtol=1e-12)


def test_cross_entropy_single_sample_and_list_targets():
    x = lucidnn.tensor(np.array([1.0, 2.0, 3.0]))
    single = F.cross_entropy(x, np.array(2), reduction="none")
    assert single.shape == ()
    np.testing.assert_allclose(single.item(), -_log_softmax(np.array([1.0, 2.0, 3.0]))[2])
    batched = F.cross_entropy(lucidnn.tensor(np.array([[1.0, 2.0, 3.0]])), [2])
    np.testing.assert_allclose(batched.item(), single.item())


@pytest.mark.parametrize("loss_fn", [F.mse_loss, F.l1_loss, F.smooth_l1_loss])
def test_regression_losses_differentiate_the_target(loss_fn, rng):
    x = lucidnn.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = lucidnn.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    loss_fn(x, t).backward()
    np.testing.assert_allclose(t.grad.numpy(), -x.grad.numpy())


def test_smooth_l1_with_beta_zero_is_l1(rng):
    x, t = lucidnn.tensor(rng.standard_normal(5)), lucidnn.tensor(rng.standard_normal(5))
    np.testing.assert_allclose(F.smooth_l1_loss(x, t, beta=0.0).item(), F.l1_loss(x, t).item())


def test_losses_accept_array_targets_in_the_input_dtype():
    x = lucidnn.tensor(np.array([0.2, 0.7], dtype=np.float32))
    for loss_fn in (F.mse_loss, F.l1_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        assert loss_fn(x, [0.0, 1.0]).dtype == np.float32


# --------------------------------------------------------------------------- argument errors

_X = np.zeros((2, 3))


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.cross_entropy(x, np.array([0, 3])), IndexingError,
     r"cross_entropy: target value 3 is out of range for 3 classes"),
    (lambda x: F.cross_entropy(x, np.array([-1, 0])), IndexingError, r"target value -1 .*3 classes"),
    (lambda x: F.cross_entropy(x, np.array([-100, 7]), ignore_index=-100), IndexingError, r"value 7"),
    (lambda x: F.nll_loss(x, np.array([5, 0])), IndexingError, r"nll_loss: target value 5 .*3 classes"),
    (lambda x: F.cross_entropy(x, np.zeros((2, 4))), ShapeError,
     r"target shape \(2, 4\) does not match input shape \(2, 3\)"),
    (lambda x: F.cross_entropy(x, np.array([0, 1, 2])), ShapeError,
     r"target shape \(3,\) does not match input shape \(2, 3\).*need shape \(2,\)"),
    (lambda x: F.cross_entropy(x, np.array([[0], [1]])), ShapeError, r"target shape \(2, 1\)"),
    (lambda x: F.cross_entropy(x, np.array([True, False])), DTypeError, r"integer class indices, got bool"),
    (lambda x: F.cross_entropy(x, np.array([0, 1]), weight=np.ones(4)), ShapeError,
     r"weight has shape \(4,\) but the input has 3 classes"),
    (lambda x: F.nll_loss(x, np.array([0, 1]), weight=np.ones((3, 1))), ShapeError, r"weight has shape \(3, 1\)"),
    (lambda x: F.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5), ValueError,
     r"label_smoothing must be in \[0, 1\], got 1.5"),
    (lambda x: F.cross_entropy(x[0, 0], np.array(0)), ShapeError, r"must have a class axis"),
    (lambda x: F.cross_entropy(lucidnn.tensor(np.zeros((2, 0))), np.array([0, 0])), ShapeError, r"0 classes"),
    (lambda x: F.cross_entropy(lucidnn.tensor(np.zeros((2, 3), dtype=np.int64)), np.array([0, 1])),
     DTypeError, r"input must be a floating tensor, got int64"),
    (lambda x: F.cross_entropy(x, np.array([0, 1]), weight=lucidnn.tensor(np.ones(3), requires_grad=True)),
     GraphError, r"weight requires grad"),
    (lambda x: F.mse_loss(x, np.zeros((3, 2))), ShapeError,
     r"mse_loss: target shape \(3, 2\) does not match input shape \(2, 3\)"),
    (lambda x: F.l1_loss(x, np.zeros((2, 1))), ShapeError, r"\(2, 1\) does not match input shape \(2, 3\)"),
    (lambda x: F.mse_loss(x, lucidnn.tensor(np.zeros((2, 3), dtype=np.float32))), DTypeError,
     r"input is float64 but target is float32"),
    (lambda x: F.binary_cross_entropy(x, lucidnn.tensor(np.zeros((2, 3), dtype=np.int64))), DTypeError,
     r"target must be a floating tensor, got int64"),
    (lambda x: F.smooth_l1_loss(x, np.zeros((2, 3)), beta=-1.0), ValueError, r"beta must be >= 0, got -1.0"),
    (lambda x: F.binary_cross_entropy(x + 1.5, np.zeros((2, 3))), ValueError,
     r"probabilities in \[0, 1\], found 1.5"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), weight=np.ones(2)), ShapeError,
     r"weight of shape \(2,\) does not broadcast to the input shape \(2, 3\)"),
    (lambda x: F.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), pos_weight=np.ones((4, 2, 3))),
     ShapeError, r"pos_weight of shape \(4, 2, 3\) does not broadcast"),
    (lambda x: F.mse_loss(_X, np.zeros((2, 3))), TypeError, r"input must be a Tensor, got ndarray"),
])
def test_invalid_arguments_raise_typed_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(lucidnn.tensor(_X))


@pytest.mark.parametrize("loss_fn, target", [
    (F.mse_loss, _X), (F.l1_loss, _X), (F.smooth_l1_loss, _X), (F.cross_entropy, np.array([0, 1])),
    (F.nll_loss, np.array([0, 1])), (F.binary_cross_entropy, _X), (F.binary_cross_entropy_with_logits, _X),
])
def test_unknown_reduction_is_rejected(loss_fn, target):
    with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        loss_fn(lucidnn.tensor(_X), target, reduction="avg")


# --------------------------------------------------------------------------- torch parity at extremes


@pytest.mark.torch
@pytest.mark.parametrize("dtype, v", EXTREMES)
def test_extreme_logits_match_torch(dtype, v):
    torch = pytest.importorskip("torch")
    logits = np.array([[v, -v, 0.0], [-v, v, v]], dtype=dtype)
    target = np.array([0, 2])
    x = lucidnn.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, label_smoothing=0.1)
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(target), label_smoothing=0.1)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-6)
    xb = lucidnn.tensor(logits, requires_grad=True)
    bce = F.binary_cross_entropy_with_logits(xb, np.full(logits.shape, 0.25, dtype=dtype))
    bce.backward()
    txb = torch.tensor(logits, requires_grad=True)
    tbce = torch.nn.functional.binary_cross_entropy_with_logits(txb, torch.full(logits.shape, 0.25, dtype=tx.dtype))
    tbce.backward()
    np.testing.assert_allclose(bce.item(), tbce.item(), rtol=1e-6)
    np.testing.assert_allclose(xb.grad.numpy(), txb.grad.numpy(), atol=1e-6)
