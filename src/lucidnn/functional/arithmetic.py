"""Elementwise arithmetic: + - * / ** and the unary maths functions, with broadcasting.

Binary ops follow NumPy broadcasting; each backward sums its gradient back to the
operand's shape with ``unbroadcast``. A Python number mixed with a tensor takes the
tensor's dtype (``x * 0.5`` stays float32), as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function, unbroadcast
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional._workspace import output_as

_np = backend.numpy


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """``value`` as a Tensor; Python numbers take ``like``'s dtype and device."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(like.data)
    dtype = like.data.dtype
    if isinstance(value, float) and not backend.is_floating(dtype):
        dtype = backend.get_default_dtype()
    if backend.is_array(value):
        return Tensor._from_op(value, None)
    return Tensor._from_op(xp.asarray(value, dtype=dtype), None)


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors (at least one of them already is one).

    An integer operand meeting a floating one is converted to the floating dtype (PyTorch's
    rule: ``int64 * float32 -> float32``, where NumPy would give float64).
    """
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError("at least one operand must be a Tensor")
        a = as_tensor_like(a, b)
    else:
        b = as_tensor_like(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        if da.kind in "biu" and db.kind == "f":
            a = Tensor._from_op(a.data.astype(db), None)
        elif db.kind in "biu" and da.kind == "f":
            b = Tensor._from_op(b.data.astype(da), None)
    return a, b


def check_broadcast(op: str, *shapes: tuple) -> None:
    """Raise ShapeError naming ``op``, the shapes and the first clashing dimension."""
    try:
        _np.broadcast_shapes(*shapes)
    except ValueError:
        width = max(len(s) for s in shapes)
        padded = [(1,) * (width - len(s)) + tuple(s) for s in shapes]
        for axis in range(width - 1, -1, -1):
            sizes = {p[axis] for p in padded} - {1}
            if len(sizes) > 1:
                raise ShapeError(
                    f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast "
                    f"together (dimension {axis - width}: sizes {' vs '.join(str(p[axis]) for p in padded)})"
                ) from None
        raise


def _apply_binary(fn_class: type, a: Any, b: Any) -> Tensor:
    a, b = binary_operands(a, b)
    if a.data.shape != b.data.shape:
        check_broadcast(fn_class.op_name(), a.data.shape, b.data.shape)
    return fn_class.apply(a, b)


class AddFn(Function):
    """y = a + b;  ga = gy, gb = gy (each summed over its broadcast axes)."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        if a.shape == b.shape and a.dtype == b.dtype and a.ndim:  # a residual add: a pooled result in a's layout
            return backend.get_array_module(a).add(a, b, out=output_as(a))
        return a + b

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(gy, self.a_shape) if need_a else None,
                unbroadcast(gy, self.b_shape) if need_b else None)


class SubFn(Function):
    """y = a - b;  ga = gy, gb = -gy."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(gy, self.a_shape) if need_a else None,
                unbroadcast(-gy, self.b_shape) if need_b else None)


class MulFn(Function):
    """y = a * b;  ga = gy * b, gb = gy * a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(gy * self.b, self.a.shape) if need_a else None,
                unbroadcast(gy * self.a, self.b.shape) if need_b else None)


class DivFn(Function):
    """y = a / b;  ga = gy / b, gb = -gy * a / b^2 = -gy * y / b."""

    def forward(self, a, b):
        self.a_shape, self.b = a.shape, b
        self.y = a / b
        return self.y

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        ga = gy / self.b
        return (unbroadcast(ga, self.a_shape) if need_a else None,
                unbroadcast(-ga * self.y, self.b.shape) if need_b else None)


class NegFn(Function):
    """y = -x;  gx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return (-gy,)


class PowFn(Function):
    """y = x^p for a constant exponent p;  gx = gy * p * x^(p-1)."""

    def forward(self, x, p):
        self.x, self.p = x, p
        return x**p

    def backward(self, gy):
        if self.p == 2:
            return (gy * (2.0 * self.x),)
        return (gy * (self.p * self.x ** (self.p - 1)),)


class TensorPowFn(Function):
    """y = a^b for tensors;  ga = gy * b * a^(b-1), gb = gy * y * log(a)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a**b
        return self.y

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        xp = backend.get_array_module(gy)
        ga = gb = None
        if need_a:
            ga = unbroadcast(gy * self.b * self.a ** (self.b - 1), self.a.shape)
        if need_b:
            # log(a) is -inf/nan for a <= 0; torch's convention gives 0 where y == 0
            with _np.errstate(divide="ignore", invalid="ignore"):
                gb = gy * self.y * xp.log(self.a)
            gb = xp.where(self.y == 0, 0, gb)
            gb = unbroadcast(gb, self.b.shape)
        return ga, gb


class ExpFn(Function):
    """y = e^x;  gx = gy * y."""

    def forward(self, x):
        self.y = backend.get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return (gy * self.y,)


class LogFn(Function):
    """y = ln x;  gx = gy / x."""

    def forward(self, x):
        self.x = x
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return (gy / self.x,)


class SqrtFn(Function):
    """y = sqrt(x);  gx = gy / (2 y)."""

    def forward(self, x):
        self.y = backend.get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return (gy / (2.0 * self.y),)


class AbsFn(Function):
    """y = |x|;  gx = gy * sign(x) (0 at x = 0)."""

    def forward(self, x):
        self.x = x
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        return (gy * backend.get_array_module(gy).sign(self.x),)


class ClipFn(Function):
    """y = min(max(x, lo), hi);  gx = gy where lo <= x <= hi, else 0 (as torch.clamp)."""

    def forward(self, x, lo, hi):
        xp = backend.get_array_module(x)
        self.x, self.lo, self.hi = x, lo, hi
        return xp.clip(x, lo, hi)

    def backward(self, gy):
        inside = True
        if self.lo is not None:
            inside = self.x >= self.lo
        if self.hi is not None:
            inside = inside & (self.x <= self.hi)
        return (gy * inside,)


class MaximumFn(Function):
    """y = max(a, b) elementwise; the gradient goes to the larger one, split evenly on ties."""

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        self.a, self.b = a, b
        return xp.maximum(a, b)

    def backward(self, gy):
        return _select_grads(self, gy, self.a > self.b)


class MinimumFn(Function):
    """y = min(a, b) elementwise; the gradient goes to the smaller one, split evenly on ties."""

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        self.a, self.b = a, b
        return xp.minimum(a, b)

    def backward(self, gy):
        return _select_grads(self, gy, self.a < self.b)


def _select_grads(fn: Function, gy: Any, a_wins: Any) -> tuple:
    share_a = (a_wins + (fn.a == fn.b) * 0.5).astype(gy.dtype, copy=False)  # bool * 0.5 is float64
    need_a, need_b = fn.needs_input_grad
    return (unbroadcast(gy * share_a, fn.a.shape) if need_a else None,
            unbroadcast(gy * (1.0 - share_a), fn.b.shape) if need_b else None)


class WhereFn(Function):
    """y = a where cond else b;  ga = gy * cond, gb = gy * (1 - cond)."""

    def forward(self, a, b, cond):
        self.a_shape, self.b_shape, self.cond = a.shape, b.shape, cond
        return backend.get_array_module(a).where(cond, a, b)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        need_a, need_b = self.needs_input_grad
        return (unbroadcast(xp.where(self.cond, gy, zero), self.a_shape) if need_a else None,
                unbroadcast(xp.where(self.cond, zero, gy), self.b_shape) if need_b else None)


class CloneFn(Function):
    """y = copy of x;  gx = gy."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return (gy,)


class CastFn(Function):
    """y = x converted to another floating dtype;  gx = gy converted back."""

    def forward(self, x, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, gy):
        return (gy.astype(self.dtype),)


class ToDeviceFn(Function):
    """y = x copied to another device;  gx = gy copied back."""

    def forward(self, x, device):
        self.device = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, gy):
        return (backend.to_device(gy, self.device),)


# --------------------------------------------------------------------------- wrappers


def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    return _apply_binary(AddFn, a, b)


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    return _apply_binary(SubFn, a, b)


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return _apply_binary(MulFn, a, b)


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting (true division)."""
    return _apply_binary(DivFn, a, b)


def neg(x: Tensor) -> Tensor:
    """``-x``."""
    return NegFn.apply(x)


def pow(x: Any, exponent: Any) -> Tensor:  # noqa: A001  (mirrors torch.pow)
    """``x ** exponent``: a constant exponent, or a tensor one (then ``x`` must be positive for its gradient)."""
    if isinstance(x, Tensor) and not isinstance(exponent, Tensor) and _np.ndim(exponent) == 0:
        return PowFn.apply(x, p=exponent.item() if hasattr(exponent, "item") else exponent)
    return _apply_binary(TensorPowFn, x, exponent)


def exp(x: Tensor) -> Tensor:
    r"""Elementwise :math:`e^x`."""
    return ExpFn.apply(x)


def log(x: Tensor) -> Tensor:
    r"""Elementwise natural logarithm :math:`\ln x`."""
    return LogFn.apply(x)


def sqrt(x: Tensor) -> Tensor:
    r"""Elementwise :math:`\sqrt{x}` (its gradient is infinite at 0)."""
    return SqrtFn.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """Elementwise ``|x|``; the gradient at 0 is 0."""
    return AbsFn.apply(x)


def sign(x: Tensor) -> Tensor:
    """Elementwise sign (-1, 0 or 1); not differentiable, so the result never requires grad."""
    return Tensor._from_op(backend.get_array_module(x.data).sign(x.data), None)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp ``x`` into ``[min, max]`` (either bound may be None); gradient 1 inside, 0 outside."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min ({min}) is greater than max ({max})")
    return ClipFn.apply(x, lo=min, hi=max)


clamp = clip


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum with broadcasting; ties split the gradient evenly."""
    return _apply_binary(MaximumFn, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum with broadcasting; ties split the gradient evenly."""
    return _apply_binary(MinimumFn, a, b)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` is true, else ``b`` (broadcasting all three)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    a, b = binary_operands(a, b)
    xp = backend.get_array_module(a.data)
    cond = xp.asarray(cond)
    if cond.dtype != bool:
        raise DTypeError(f"where: condition must be boolean, got {cond.dtype}")
    check_broadcast("where", cond.shape, a.data.shape, b.data.shape)
    return WhereFn.apply(a, b, cond=cond)


def clone(x: Tensor) -> Tensor:
    """A differentiable copy of ``x``."""
    return CloneFn.apply(x)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``; differentiable between floating dtypes."""
    dt = backend.as_dtype(dtype)
    if dt == x.data.dtype:
        return x
    if not backend.is_floating(dt):
        return Tensor._from_op(x.data.astype(dt), None)
    return CastFn.apply(x, dtype=dt)


def to_device(x: Tensor, device: str) -> Tensor:
    """``x`` on ``device`` ('cpu' or 'cuda'); differentiable."""
    dev = backend.as_device(device)
    if dev == x.device:
        return x
    return ToDeviceFn.apply(x, device=dev)


_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}


def compare(a: Any, b: Any, op: str) -> Tensor:
    """Elementwise comparison (``op`` a NumPy ufunc name); a boolean tensor, never differentiable."""
    if op not in _COMPARISONS:
        raise ValueError(f"compare: unknown comparison {op!r}")
    a, b = binary_operands(a, b)
    check_broadcast(op, a.data.shape, b.data.shape)
    xp = backend.get_array_module(a.data)
    return Tensor._from_op(getattr(xp, op)(a.data, b.data), None)
