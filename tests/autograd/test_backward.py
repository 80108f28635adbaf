"""The backward pass: graph walk, accumulation, freeing, gradient mode, hooks and errors."""

import gc
import tracemalloc

import numpy as np
import pytest

import lucidnn
import lucidnn.autograd.function
from lucidnn import functional as F
from lucidnn.errors import DTypeError, GraphError, ShapeError


def _nodes(y):
    found, todo = [], [y._ctx]
    while todo:
        fn = todo.pop()
        if fn is None or fn in found:
            continue
        found.append(fn)
        todo.extend(t._ctx for t in fn.inputs)
    return found


def test_chain_of_ten_thousand_ops_backpropagates():
    x = lucidnn.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-3)


def test_diamond_accumulates_both_paths():
    x = lucidnn.tensor([2.0, -3.0], dtype="float64", requires_grad=True)
    a = x * 3.0
    b = x.exp()
    y = (a * b + a).sum()  # dy/dx = 3 e^x + 3 x e^x + 3
    y.backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(xv) + 3 * xv * np.exp(xv) + 3, rtol=1e-12)


def test_same_leaf_used_twice_in_one_op():
    x = lucidnn.tensor([1.5, 2.0], dtype="float64", requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


def test_backward_frees_saved_arrays_of_every_node():
    x = lucidnn.randn(4, 3, requires_grad=True)
    y = (F.exp(x) * x + x[1:].sum()).sum()
    nodes = _nodes(y)
    assert len(nodes) >= 5
    y.backward()
    assert all(fn.freed and "inputs" not in vars(fn) for fn in nodes)


def test_second_backward_through_freed_graph_raises():
    x = lucidnn.randn(3, requires_grad=True)
    y = (x * 2.0).exp().sum()
    y.backward()
    with pytest.raises(GraphError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward_and_accumulates():
    x = lucidnn.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_grads_accumulate_across_calls_until_reset():
    x = lucidnn.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_leaf_grads_never_alias_each_other():
    a = lucidnn.zeros(3, requires_grad=True)
    b = lucidnn.zeros(3, requires_grad=True)
    (a + b).backward(lucidnn.ones(3))
    a.grad.data *= 5.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])


def test_non_scalar_backward_needs_a_gradient():
    x = lucidnn.randn(2, 3, requires_grad=True)
    y = x * 2.0
    with pytest.raises(GraphError, match=r"one-element outputs.*shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ShapeError, match=r"gradient has shape \(3,\) but the tensor has shape \(2, 3\)"):
        y.backward(np.ones(3, dtype=np.float32))
    y.backward(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 2.0))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(GraphError, match="does not require grad"):
        lucidnn.ones(2).sum().backward()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(DTypeError, match="only floating-point tensors can require gradients"):
        lucidnn.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(DTypeError, match="int64"):
        lucidnn.arange(3).requires_grad_()


def test_no_grad_records_nothing_and_enable_grad_reenables():
    x = lucidnn.randn(3, requires_grad=True)
    with lucidnn.no_grad():
        y = x * 2.0
        with lucidnn.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert lucidnn.is_grad_enabled()


def test_no_grad_as_decorator_restores_mode_after_exception():
    @lucidnn.no_grad()
    def evaluate(t):
        assert not lucidnn.is_grad_enabled()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        evaluate(lucidnn.ones(1))
    assert lucidnn.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_data():
    x = lucidnn.randn(3, requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    y = (d * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = lucidnn.randn(2, requires_grad=True) * 2.0
    with pytest.raises(GraphError, match="detach"):
        y.requires_grad_(False)


def test_retain_grad_keeps_intermediate_gradient():
    x = lucidnn.tensor([1.0, -2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert (x * 1.0).grad is None


def test_hooks_see_and_replace_gradients():
    x = lucidnn.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x * 2.0
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    h.register_hook(lambda g: g * 10.0)
    x.register_hook(lambda g: g + 1.0)
    h.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [21.0, 21.0])


def test_register_hook_needs_grad():
    with pytest.raises(GraphError):
        lucidnn.ones(2).register_hook(lambda g: g)


def test_inputs_not_requiring_grad_get_none():
    x = lucidnn.randn(3, requires_grad=True)
    c = lucidnn.randn(3)
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


def test_setitem_refused_on_tensor_requiring_grad_but_allowed_in_no_grad():
    x = lucidnn.zeros(3, requires_grad=True)
    with pytest.raises(GraphError, match="in-place"):
        x[0] = 1.0
    with lucidnn.no_grad():
        x[0] = 1.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 0.0, 0.0])


def _train_steps(n, w, x, target):
    for _ in range(n):
        loss = ((F.linear(x, w) - target) ** 2).mean()
        w.grad = None
        loss.backward()
        with lucidnn.no_grad():
            w.data -= 0.01 * w.grad.data


def test_memory_does_not_grow_from_step_to_step():
    rng = lucidnn.Generator(0)
    w = lucidnn.randn(64, 256, rng=rng, requires_grad=True)
    x = lucidnn.randn(128, 256, rng=rng)
    target = lucidnn.randn(128, 64, rng=rng)
    _train_steps(5, w, x, target)
    gc.collect()
    tracemalloc.start()
    try:
        _train_steps(5, w, x, target)
        gc.collect()
        after_5 = tracemalloc.get_traced_memory()[0]
        _train_steps(50, w, x, target)
        gc.collect()
        after_55 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after_55 - after_5 < 64 * 1024, f"memory grew by {after_55 - after_5} bytes over 50 steps"


class _SplitScale(lucidnn.autograd.function.Function):
    """A two-output op for the engine tests: (2x, 3x); backward(g2, g3) = 2 g2 + 3 g3."""

    def forward(self, x):
        return x * 2, x * 3

    def backward(self, g2, g3):
        self.seen = (g2 is None, g3 is None)
        total = np.zeros_like(g2 if g2 is not None else g3)
        if g2 is not None:
            total += 2 * g2
        if g3 is not None:
            total += 3 * g3
        return (total,)


def test_multi_output_function_returns_a_tensor_per_output_and_sums_their_gradients():
    x = lucidnn.tensor(np.arange(3.0), requires_grad=True)
    a, b = _SplitScale.apply(x)
    assert a.grad_fn is b.grad_fn and a.grad_fn.n_outputs == 2
    (a * a + b).sum().backward()  # d/dx (4x^2 + 3x) = 8x + 3
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.arange(3.0) + 3)


def test_multi_output_function_gets_none_for_an_output_without_gradient():
    x = lucidnn.tensor(np.ones(2), requires_grad=True)
    a, b = _SplitScale.apply(x)
    node = b.grad_fn
    b.sum().backward(retain_graph=True)
    assert node.seen == (True, False)
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    a.sum().backward()  # the root is the first output this time
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_multi_output_hooks_and_retain_grad_are_per_output():
    x = lucidnn.tensor(np.ones(2), requires_grad=True)
    a, b = _SplitScale.apply(x)
    a.retain_grad()
    b.register_hook(lambda g: g * 10)
    (a * 5 + b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [5.0, 5.0])
    assert b.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [2 * 5 + 3 * 10] * 2)


def test_multi_output_function_under_no_grad_returns_plain_tensors():
    x = lucidnn.tensor(np.ones(2), requires_grad=True)
    with lucidnn.no_grad():
        a, b = _SplitScale.apply(x)
    assert not a.requires_grad and not b.requires_grad and a.grad_fn is None
