"""Tensor factories: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``eye``, random ones, ``*_like``.

Shapes may be given as separate ints or one tuple (``zeros(2, 3)`` or ``zeros((2, 3))``).
Floating results get the default dtype (float32) unless ``dtype`` says otherwise. Random
factories draw from ``rng`` (a :class:`lucidnn.Generator`) or the device's default one.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DeviceError, ShapeError


def _shape(shape: tuple, op: str) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"{op}: shape must be ints, got {shape!r}") from None
    if any(n < 0 for n in shape):
        raise ShapeError(f"{op}: negative dimension in shape {shape}")
    return shape


def _make(array: Any, requires_grad: bool) -> Tensor:
    t = Tensor._from_op(array, None)
    if requires_grad:
        t.requires_grad = True
    return t


def _generator(rng: backend.Generator | None, device: str) -> backend.Generator:
    if rng is None:
        return backend.default_generator(device)
    if rng.device != device:
        raise DeviceError(f"the Generator is on '{rng.device}' but the tensor is created on '{device}'")
    return rng


def tensor(data: Any, *, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding ``data`` (lists, scalars, arrays); Python floats become float32."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def from_numpy(array: Any) -> Tensor:
    """A tensor sharing ``array``'s memory and keeping its dtype."""
    return Tensor._from_op(backend.numpy.asarray(array), None)


def zeros(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    xp = backend.xp_for(backend.as_device(device))
    return _make(xp.zeros(_shape(shape, "zeros"), dtype=backend.as_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    xp = backend.xp_for(backend.as_device(device))
    return _make(xp.ones(_shape(shape, "ones"), dtype=backend.as_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: float, *, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    xp = backend.xp_for(backend.as_device(device))
    shape = _shape(shape if isinstance(shape, (tuple, list)) else (shape,), "full")
    return _make(xp.full(shape, fill_value, dtype=backend.as_dtype(dtype)), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, end); int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = backend.int64 if integral else backend.get_default_dtype()
    xp = backend.xp_for(backend.as_device(device))
    return _make(xp.arange(start, end, step, dtype=backend.as_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: str | None = None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m = n by default)."""
    xp = backend.xp_for(backend.as_device(device))
    return _make(xp.eye(n, m, dtype=backend.as_dtype(dtype)), requires_grad)


def randn(*shape: Any, rng: backend.Generator | None = None, dtype: Any = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """Samples of the standard normal distribution N(0, 1)."""
    dev = backend.as_device(device)
    data = _generator(rng, dev).normal(_shape(shape, "randn"), dtype=dtype)
    return _make(data, requires_grad)


def rand(*shape: Any, rng: backend.Generator | None = None, dtype: Any = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """Samples of the uniform distribution on [0, 1)."""
    dev = backend.as_device(device)
    data = _generator(rng, dev).uniform(_shape(shape, "rand"), dtype=dtype)
    return _make(data, requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), *, rng: backend.Generator | None = None,
            dtype: Any = backend.int64, device: str | None = None) -> Tensor:
    """Integers drawn uniformly from [low, high) (``randint(high, size=...)`` draws from [0, high))."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    dev = backend.as_device(device)
    shape = _shape(size if isinstance(size, (tuple, list)) else (size,), "randint")
    return _make(_generator(rng, dev).integers(low, high, shape, dtype=dtype), False)


def _like(x: Tensor, dtype: Any) -> tuple:
    return x.shape, (x.dtype if dtype is None else dtype), x.device


def zeros_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``x``'s shape, dtype and device."""
    shape, dt, dev = _like(x, dtype)
    return zeros(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``x``'s shape, dtype and device."""
    shape, dt, dev = _like(x, dtype)
    return ones(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value: float, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``x``'s shape, dtype and device."""
    shape, dt, dev = _like(x, dtype)
    return full(shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(x: Tensor, *, rng: backend.Generator | None = None, dtype: Any = None,
               requires_grad: bool = False) -> Tensor:
    """Standard normal samples with ``x``'s shape, dtype and device."""
    shape, dt, dev = _like(x, dtype)
    return randn(shape, rng=rng, dtype=dt, device=dev, requires_grad=requires_grad)


def rand_like(x: Tensor, *, rng: backend.Generator | None = None, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples with ``x``'s shape, dtype and device."""
    shape, dt, dev = _like(x, dtype)
    return rand(shape, rng=rng, dtype=dt, device=dev, requires_grad=requires_grad)
