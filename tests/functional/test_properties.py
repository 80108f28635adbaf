"""Property tests (hypothesis): broadcasting binary ops and reductions over random shapes and axes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lucidnn
from lucidnn import functional as F

BINARY = {
    "add": (F.add, np.add, lambda a, b, g: (g, g)),
    "sub": (F.sub, np.subtract, lambda a, b, g: (g, -g)),
    "mul": (F.mul, np.multiply, lambda a, b, g: (g * b, g * a)),
    "div": (F.div, np.divide, lambda a, b, g: (g / b, -g * a / b**2)),
}


def _sum_to(g, shape):
    """Reference unbroadcast: sum over added leading axes and over stretched size-1 axes."""
    while g.ndim > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdims=True)
    return g


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_binary_ops_forward_and_backward(shapes, op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = rng.uniform(0.5, 2.0, sa)
    b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1.0, 1.0], sb)
    ours, reference, grads = BINARY[op]
    ta, tb = lucidnn.tensor(a, requires_grad=True), lucidnn.tensor(b, requires_grad=True)
    y = ours(ta, tb)
    np.testing.assert_allclose(y.numpy(), reference(a, b), rtol=1e-12)
    assert y.shape == shapes.result_shape
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ga, gb = grads(np.broadcast_to(a, y.shape), np.broadcast_to(b, y.shape), g)
    assert ta.grad.shape == sa and tb.grad.shape == sb
    np.testing.assert_allclose(ta.grad.numpy(), _sum_to(ga, sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), _sum_to(gb, sb), rtol=1e-10, atol=1e-12)


@st.composite
def _shape_and_axes(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    axes = draw(st.one_of(
        st.none(),
        st.integers(-len(shape), len(shape) - 1),
        st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True).map(tuple),
    ))
    return shape, axes, draw(st.booleans())


REDUCTIONS = {
    "sum": (F.sum, np.sum),
    "mean": (F.mean, np.mean),
    "max": (F.max, np.max),
    "min": (F.min, np.min),
}


@settings(max_examples=60, deadline=None)
@given(case=_shape_and_axes(), name=st.sampled_from(sorted(REDUCTIONS)), seed=st.integers(0, 2**16))
def test_reductions_over_any_axes(case, name, seed):
    shape, axes, keepdims = case
    rng = np.random.default_rng(seed)
    x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)  # distinct: no ties
    ours, reference = REDUCTIONS[name]
    t = lucidnn.tensor(x, requires_grad=True)
    y = ours(t, axes, keepdims)
    expected = reference(x, axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    y.backward(np.ones(y.shape))
    assert t.grad.shape == shape
    total = float(t.grad.numpy().sum())
    if name == "sum":
        assert total == x.size
    elif name == "mean":
        assert abs(total - 1.0 * np.asarray(expected).size) < 1e-9
    else:  # one unit of gradient per output element lands on exactly one input element
        assert total == np.asarray(expected).size
        assert set(np.unique(t.grad.numpy())) <= {0.0, 1.0}


@settings(max_examples=40, deadline=None)
@given(case=_shape_and_axes(), seed=st.integers(0, 2**16))
def test_var_matches_numpy_and_its_gradient_sums_to_zero(case, seed):
    shape, axes, keepdims = case
    x = np.random.default_rng(seed).standard_normal(shape)
    n = x.size if axes is None else int(np.prod([shape[a] for a in np.atleast_1d(axes)]))
    if n < 2:
        return
    t = lucidnn.tensor(x, requires_grad=True)
    y = F.var(t, axes, keepdims)
    np.testing.assert_allclose(y.numpy(), np.var(x, axis=axes, keepdims=keepdims, ddof=1), rtol=1e-10)
    y.backward(np.ones(y.shape))
    # d var / dx sums to zero over each reduced group (shifting x leaves var unchanged)
    np.testing.assert_allclose(t.grad.numpy().sum(axis=axes), 0.0, atol=1e-9)
