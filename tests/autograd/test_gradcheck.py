"""gradcheck itself: it must pass correct backwards and fail wrong ones, with a useful report."""

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.autograd.function import Function
from lucidnn.autograd.gradcheck import gradcheck
from lucidnn.errors import DTypeError, GradcheckError, NonFiniteError


class WrongTanhFn(Function):
    """tanh with a deliberately wrong derivative (1 - y instead of 1 - y^2)."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, gy):
        return (gy * (1 - self.y),)


class ForgetsBroadcastFn(Function):
    """a + b whose backward forgets to sum b's gradient over the broadcast axis."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy[0]


def test_passes_correct_backward_in_both_modes():
    x = lucidnn.randn(3, 4, requires_grad=True)
    w = lucidnn.randn(2, 4, requires_grad=True)
    assert gradcheck(lambda x, w: F.linear(x, w).exp(), [x, w], mode="full")
    assert gradcheck(lambda x, w: F.linear(x, w).exp(), [x, w], mode="fast")


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_fails_on_wrong_backward_and_reports_input_values_and_tolerance(mode):
    x = lucidnn.randn(3, 4, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: WrongTanhFn.apply(t), [x], mode=mode)
    message = str(info.value)
    assert "numerical" in message and "analytical" in message and "atol" in message
    if mode == "full":
        assert "input 0 (shape (3, 4)) at element (" in message


def test_return_false_instead_of_raising():
    x = lucidnn.randn(5, requires_grad=True)
    assert gradcheck(lambda t: WrongTanhFn.apply(t), [x], raise_exception=False) is False


def test_names_the_second_input_when_it_is_wrong():
    a = lucidnn.randn(2, 3, requires_grad=True)
    b = lucidnn.randn(3, requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\)"):
        gradcheck(lambda a, b: ForgetsBroadcastFn.apply(a, b).sum(0), [a, b], mode="full")


def test_auto_mode_uses_directions_for_large_inputs():
    x = lucidnn.randn(40, 40, requires_grad=True)
    with pytest.raises(GradcheckError, match="fast mode"):
        gradcheck(lambda t: WrongTanhFn.apply(t), [x])


def test_rejects_non_finite_inputs():
    x = lucidnn.tensor([1.0, float("nan")], requires_grad=True)
    with pytest.raises(NonFiniteError, match=r"input 0 holds nan at index \(1,\)"):
        gradcheck(lambda t: t * 2.0, [x])
    y = lucidnn.tensor([float("inf")], requires_grad=True)
    with pytest.raises(NonFiniteError, match="inf"):
        gradcheck(lambda t: t * 2.0, [y])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda t: t * 2.0, [lucidnn.randn(2)])


def test_works_in_float64_even_for_float32_inputs():
    x = lucidnn.randn(4, requires_grad=True)
    seen = []

    def square(t):
        seen.append(t.dtype)
        return t * t

    gradcheck(square, [x])
    assert set(seen) == {np.dtype(np.float64)}
    assert x.dtype == np.float32  # the caller's tensor is untouched


def test_integer_inputs_pass_through_and_may_not_require_grad():
    x = lucidnn.randn(3, 4, requires_grad=True)
    idx = lucidnn.tensor([2, 0])
    assert gradcheck(lambda t, i: t[i], [x, idx])
    bad = lucidnn.Tensor(np.arange(3))
    bad._requires_grad = True  # forced past the public check
    with pytest.raises(DTypeError):
        gradcheck(lambda t: t, [bad])


def test_several_outputs():
    x = lucidnn.randn(3, requires_grad=True)
    assert gradcheck(lambda t: (t.exp(), t * t), [x])
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: (t.exp(), WrongTanhFn.apply(t)), [x])
