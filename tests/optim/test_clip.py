"""R07: gradient clipping by global norm (exact norm, bound after clipping, strict non-finite mode) and by value."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.errors import NonFiniteError

SHAPES = [(10, 7), (13,), (3, 2, 2)]


def _params(rng, dtype=np.float64, scale=1.0):
    params = [lucidnn.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]
    for p in params:
        p.grad = lucidnn.Tensor((scale * rng.standard_normal(p.shape)).astype(dtype))
    return params


def _norm(params, p=2.0):
    values = np.concatenate([q.grad.data.ravel().astype(np.float64) for q in params if q.grad is not None])
    if p == math.inf:
        return float(np.max(np.abs(values)))
    return math.fsum(np.abs(values) ** p) ** (1.0 / p)


def test_returns_the_exact_global_norm_float64(rng):
    params = _params(rng)
    expected = math.sqrt(math.fsum(float(x) ** 2 for q in params for x in q.grad.data.ravel()))
    total = optim.clip_grad_norm_(params, max_norm=1e9)
    assert isinstance(total, lucidnn.Tensor) and total.shape == () and total.dtype == np.float64
    assert abs(float(total) - expected) <= 1e-12 * expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clipped_norm_is_at_most_max_norm(rng, dtype, norm_type):
    params = _params(rng, dtype, scale=10.0)
    before = _norm(params, norm_type)
    total = optim.clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert total.dtype == dtype
    assert float(total) == pytest.approx(before, rel=rel)
    after = _norm(params, norm_type)
    assert after == pytest.approx(before * 0.5 / (before + 1e-6), rel=rel)
    assert after <= 0.5 * (1 + 1e-6)
    for p in params:
        assert p.grad.data.dtype == dtype


def test_small_gradients_are_unchanged(rng):
    params = _params(rng, scale=1e-3)
    before = [p.grad.data.tobytes() for p in params]
    optim.clip_grad_norm_(params, max_norm=1.0)
    assert [p.grad.data.tobytes() for p in params] == before


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_non_finite_in_strict_mode_raises_and_changes_nothing(rng, bad, norm_type):
    params = _params(rng, np.float32, scale=10.0)
    params[1].grad.data[4] = bad
    before = [p.grad.data.tobytes() for p in params]
    with pytest.raises(NonFiniteError, match=r"parameters \[1\]"):
        optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type, error_if_nonfinite=True)
    assert [p.grad.data.tobytes() for p in params] == before


def test_strict_mode_keeps_a_training_run_finite(rng):
    """A NaN gradient at step 50 of 100: the step is skipped, no NaN ever reaches a parameter."""
    params = _params(rng, np.float32)
    opt = optim.SGD(params, lr=0.01, momentum=0.9)
    skipped = 0
    for step in range(100):
        for p in params:
            p.grad = lucidnn.Tensor(rng.standard_normal(p.shape).astype(np.float32))
        if step == 50:
            params[2].grad.data[0, 0, 0] = np.nan
        try:
            optim.clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=True)
        except NonFiniteError:
            skipped += 1
            continue
        opt.step()
        assert all(np.isfinite(p.data).all() for p in params), f"step {step}"
    assert skipped == 1


def test_skips_parameters_without_gradient_and_accepts_one_tensor(rng):
    params = _params(rng)
    params[0].grad = None
    assert float(optim.clip_grad_norm_(params, 1e9)) == pytest.approx(_norm(params[1:]), rel=1e-12)
    assert float(optim.clip_grad_norm_(params[1], 1e9)) == pytest.approx(_norm(params[1:2]), rel=1e-12)
    for p in params:
        p.grad = None
    assert float(optim.clip_grad_norm_(params, 1.0)) == 0.0


@pytest.mark.parametrize(("kwargs", "match"), [(dict(max_norm=-1.0), "Invalid max_norm: -1.0"),
                                              (dict(max_norm=math.nan), "Invalid max_norm: nan"),
                                              (dict(max_norm=1.0, norm_type=0.0), "Invalid norm_type: 0.0")])
def test_invalid_arguments(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.clip_grad_norm_(_params(rng), **kwargs)


def test_clip_grad_value(rng):
    params = _params(rng, np.float32, scale=3.0)
    params[0].grad.data[0, 0] = np.nan
    expected = [np.clip(p.grad.data, -1.5, 1.5) for p in params]
    optim.clip_grad_value_(params, 1.5)
    for p, e in zip(params, expected):
        assert p.grad.data.dtype == np.float32
        np.testing.assert_array_equal(p.grad.data, e)
    with pytest.raises(ValueError, match="Invalid clip_value: -1.0"):
        optim.clip_grad_value_(params, -1.0)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_matches_torch(rng, dtype, norm_type, max_norm):
    torch = pytest.importorskip("torch")
    params = _params(rng, dtype, scale=2.0)
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    for p, q in zip(params, theirs):
        q.grad = torch.tensor(p.grad.data.copy())
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    tol = dict(rtol=1e-6, atol=0) if dtype == np.float32 else dict(rtol=1e-12, atol=0)
    np.testing.assert_allclose(total.data, expected.numpy(), **tol)
    for p, q in zip(params, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), **tol)
