"""Tensor construction, conversion, indexing, comparison and the method surface."""

import numpy as np
import pytest

import lucidnn
from lucidnn.errors import AxisError, DTypeError, IndexingError, ShapeError


def test_python_floats_become_float32_and_arrays_keep_their_dtype():
    assert lucidnn.tensor([1.0, 2.0]).dtype == np.float32
    assert lucidnn.tensor(3.5).dtype == np.float32
    assert lucidnn.tensor([1, 2]).dtype == np.int64
    assert lucidnn.tensor(np.zeros(2)).dtype == np.float64
    assert lucidnn.tensor([1.0], dtype="float64").dtype == np.float64


def test_non_numeric_data_is_refused():
    with pytest.raises(DTypeError, match="non-numeric"):
        lucidnn.tensor(["a", {}])


def test_conversions():
    t = lucidnn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(t.numpy(), np.ndarray)
    assert lucidnn.tensor([7.0]).item() == 7.0
    assert float(lucidnn.tensor(2.5)) == 2.5 and int(lucidnn.tensor([3])) == 3
    with pytest.raises(ShapeError, match="one-element"):
        t.item()
    with pytest.raises(ShapeError, match="ambiguous"):
        bool(t)
    np.testing.assert_array_equal(np.asarray(t), t.numpy())


def test_shape_accessors():
    t = lucidnn.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24 and t.size() == (2, 3, 4) and t.size(1) == 3 and len(t) == 2
    assert [s.shape for s in t] == [(3, 4), (3, 4)]
    assert t.device == "cpu"


def test_repr_shows_dtype_and_grad_state():
    assert "requires_grad=True" in repr(lucidnn.ones(2, requires_grad=True))
    assert "float64" in repr(lucidnn.ones(2, dtype="float64"))
    assert "grad_fn=MulFn" in repr(lucidnn.ones(2, requires_grad=True) * 2.0)


def test_scalar_operands_keep_the_tensor_dtype():
    x = lucidnn.ones(3)
    for y in (x * 0.5, 0.5 * x, x + 1, x / 3.0, 2.0 - x, x**2, 2.0**x, -x):
        assert y.dtype == np.float32
    assert (lucidnn.arange(3) * 0.5).dtype == np.float32


def test_numpy_array_on_the_left_defers_to_tensor():
    x = lucidnn.ones(3, requires_grad=True)
    y = np.full(3, 2.0, dtype=np.float32) * x
    assert isinstance(y, lucidnn.Tensor) and y.requires_grad


def test_comparisons_are_boolean_and_never_differentiable():
    x = lucidnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for m in (x > 1.5, x >= 2.0, x < 2.0, x <= 2.0, x == 2.0, x != 2.0):
        assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])
    assert {x: 1}[x] == 1  # still hashable by identity


def test_indexing_kinds_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = lucidnn.tensor(a)
    for index in [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (None, 0), [1, 0],
                  (slice(None), [0, 2], slice(1, 3)), a > 10]:
        np.testing.assert_array_equal(t[index].numpy(), a[index])
    np.testing.assert_array_equal(t[lucidnn.tensor([1, 1])].numpy(), a[[1, 1]])


def test_index_errors_are_typed_and_say_the_shape():
    t = lucidnn.zeros(2, 3)
    with pytest.raises(IndexingError, match=r"out of bounds.*tensor shape \(2, 3\)"):
        t[5]
    with pytest.raises(IndexingError, match="float"):
        t[np.array([0.5])]


def test_repeated_integer_indices_accumulate_gradients():
    x = lucidnn.zeros(3, requires_grad=True)
    x[lucidnn.tensor([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_shape_methods():
    x = lucidnn.randn(2, 3, 4)
    assert x.reshape(6, 4).shape == (6, 4) and x.view(-1).shape == (24,)
    assert x.reshape((4, 6)).shape == (4, 6)
    assert x.transpose(0, 2).shape == (4, 3, 2) and x.transpose().shape == (4, 3, 2)
    assert x.permute(1, 0, 2).shape == (3, 2, 4) and x.T.shape == (4, 3, 2)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert lucidnn.zeros(1, 3, 1).squeeze().shape == (3,)
    assert lucidnn.zeros(1, 3, 1).squeeze(0).shape == (3, 1)
    assert lucidnn.zeros(3, 1).expand(2, 3, 5).shape == (2, 3, 5)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda x: x.reshape(5, -1), ShapeError, r"reshape: cannot reshape a tensor of shape \(2, 3, 4\)"),
    (lambda x: x.reshape(-1, -1), ShapeError, "cannot reshape"),
    (lambda x: x.permute(0, 1), AxisError, "permute: 2 axes"),
    (lambda x: x.transpose(0, 3), AxisError, "axis 3 is out of range"),
    (lambda x: x.unsqueeze(5), AxisError, "unsqueeze: axis 5"),
    (lambda x: x.expand(5, 3, 4), ShapeError, "dimension 0 has size 2"),
    (lambda x: x.sum(axis=3), AxisError, r"sum: axis 3 is out of range for a tensor with 3 dimensions"),
    (lambda x: x.mean(axis=(0, 0)), AxisError, "repeats"),
    (lambda x: x.max(axis=-4), AxisError, "max: axis -4"),
    (lambda x: x.argmax(axis=(0, 1)), AxisError, "single int"),
    (lambda x: x + lucidnn.zeros(3, 3), ShapeError,
     r"add: shapes \(2, 3, 4\) and \(3, 3\) cannot be broadcast together \(dimension -1: sizes 4 vs 3\)"),
    (lambda x: x * lucidnn.zeros(5, 1, 1), ShapeError, "mul: shapes"),
    (lambda x: x - lucidnn.zeros(2), ShapeError, "sub: shapes"),
    (lambda x: x / lucidnn.zeros(3), ShapeError, "div: shapes"),
    (lambda x: lucidnn.maximum(x, lucidnn.zeros(2)), ShapeError, "maximum: shapes"),
    (lambda x: x > lucidnn.zeros(2), ShapeError, "greater: shapes"),
    (lambda x: lucidnn.cat([x, lucidnn.zeros(2, 4, 4)], axis=2), ShapeError, r"cat: .*\(2, 4, 4\)"),
    (lambda x: lucidnn.stack([x, lucidnn.zeros(2, 3)]), ShapeError, "stack: all tensors must have the same shape"),
    (lambda x: x.split([1, 1], axis=1), ShapeError, "do not add up to 3"),
    (lambda x: lucidnn.functional.pad(x, (1,)), ShapeError, "even length"),
    (lambda x: lucidnn.functional.pad(x, (-1, 0)), ValueError, "non-negative"),
    (lambda x: lucidnn.where(x, x, x), DTypeError, "condition must be boolean"),
    (lambda x: lucidnn.zeros(0).max(), ShapeError, "empty tensor"),
])
def test_bad_calls_raise_typed_errors_naming_op_and_shapes(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(lucidnn.zeros(2, 3, 4))


def test_matmul_error_message_names_both_shapes():
    a, b = lucidnn.zeros(32, 784), lucidnn.zeros(10, 256)
    with pytest.raises(ShapeError, match=r"^matmul: shapes \(32, 784\) and \(10, 256\) cannot be multiplied "
                                         r"\(784 != 10\)$"):
        a @ b
    with pytest.raises(ShapeError, match="batch shapes"):
        lucidnn.zeros(2, 3, 4) @ lucidnn.zeros(3, 4, 5)
    with pytest.raises(ShapeError, match="at least one dimension"):
        lucidnn.matmul(lucidnn.tensor(1.0), a)


def test_linear_error_message_names_input_and_weight():
    from lucidnn import functional as F

    with pytest.raises(ShapeError, match=r"input \(32x784\) and weight.T \(785x100\).*in_features=785"):
        F.linear(lucidnn.zeros(32, 784), lucidnn.zeros(100, 785))
    with pytest.raises(ShapeError, match="bias"):
        F.linear(lucidnn.zeros(2, 3), lucidnn.zeros(4, 3), lucidnn.zeros(3))


def test_reductions_with_torch_aliases():
    x = lucidnn.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.argmax(dim=1).tolist() == [2, 2] and x.argmin().item() == 0
    assert x.var(unbiased=False).item() == pytest.approx(np.var(np.arange(6.0)))
    assert bool(x.any()) and not bool(x.all())
    with pytest.raises(TypeError, match="not both"):
        x.sum(axis=0, dim=1)


def test_to_and_astype():
    x = lucidnn.ones(2, requires_grad=True)
    assert x.to("cpu") is x
    y = x.to(dtype="float64")
    assert y.dtype == np.float64 and y.requires_grad
    (y * 2.0).sum().backward()
    assert x.grad.dtype == np.float32
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    assert x.double().dtype == np.float64 and x.float() is x
