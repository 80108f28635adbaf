r"""Parameter initialization: fill a tensor in place from a distribution, as ``torch.nn.init``.

Every function writes into ``t.data`` without recording a graph, keeps ``t``'s dtype and
device, and returns ``t``. Randomness comes only from a :class:`lucidnn.Generator` passed as
``rng`` (default: ``lucidnn.default_generator(t.device)``, which ``lucidnn.manual_seed``
reseeds), never from NumPy's global state.

The variance-scaling rules keep the variance of activations (fan_in) or of gradients
(fan_out) constant across layers. For a weight of shape (out, in, *kernel),
:math:`\text{fan\_in} = \text{in} \cdot \prod \text{kernel}` and
:math:`\text{fan\_out} = \text{out} \cdot \prod \text{kernel}`.

Reference: Glorot and Bengio, "Understanding the difficulty of training deep feedforward
neural networks", 2010; He et al., "Delving Deep into Rectifiers", 2015; Saxe et al., "Exact
solutions to the nonlinear dynamics of learning in deep linear neural networks", 2014.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DeviceError, DTypeError

_LINEAR_GAINS = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                 "conv_transpose2d", "conv_transpose3d", "sigmoid")
_MODES = ("fan_in", "fan_out")


# --------------------------------------------------------------------------- helpers


def _check_tensor(t: Any, op: str, *, floating: bool = True) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor (e.g. a Parameter), got {type(t).__name__}")
    if floating and not backend.is_floating(t.dtype):
        raise DTypeError(f"{op}: the tensor must be floating point to be filled from a distribution, "
                         f"got {t.dtype}")


def _generator(rng: Any, t: Tensor, op: str) -> backend.Generator:
    if rng is None:
        return backend.default_generator(t.device)
    if not isinstance(rng, backend.Generator):
        raise TypeError(f"{op}: rng must be a lucidnn.Generator, got {type(rng).__name__}")
    if rng.device != t.device:
        raise DeviceError(f"{op}: the Generator is on '{rng.device}' but the tensor is on '{t.device}'; "
                          f"use lucidnn.Generator(seed, device='{t.device}')")
    return rng


def _number(value: Any, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"{op}: {name} must not be NaN")
    return float(value)


def _fill(t: Tensor, values: Any) -> Tensor:
    # writing through data[...] keeps the array object, so views and state-dict entries see it
    t.data[...] = values
    return t


def calculate_fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    r"""(fan_in, fan_out) of a weight of shape (out, in, *kernel).

    :math:`\text{fan\_in} = \text{in} \cdot r`, :math:`\text{fan\_out} = \text{out} \cdot r`
    with :math:`r = \prod \text{kernel}` the receptive field (1 for a Linear weight).

    Raises:
        ValueError: for tensors with fewer than 2 dimensions.
    """
    shape = tuple(t.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions (out, in, ...), "
                         f"got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's (private) name


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    ======================  ==========================================
    nonlinearity            gain
    ======================  ==========================================
    linear, conv*, sigmoid  1
    tanh                    5/3
    relu                    :math:`\sqrt 2`
    leaky_relu              :math:`\sqrt{2 / (1 + a^2)}`, a = ``param`` (0.01)
    selu                    3/4
    ======================  ==========================================

    Args:
        nonlinearity: the name, e.g. ``'relu'``.
        param: the negative slope for ``'leaky_relu'`` (default 0.01).
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _number(param, "param (negative slope)", "calculate_gain")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    known = ", ".join(repr(n) for n in (*_LINEAR_GAINS, "tanh", "relu", "leaky_relu", "selu"))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of {known}")


def _fan(t: Tensor, mode: str, op: str) -> int:
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


# --------------------------------------------------------------------------- simple fills


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, rng: backend.Generator | None = None) -> Tensor:
    r"""Fill ``t`` with samples of :math:`\mathcal U(a, b)`.

    Args:
        t: the tensor to fill (floating).
        a: lower bound (0.0).
        b: upper bound (1.0), at least ``a``.
        rng: the Generator to draw from (default: the device's default generator).
    """
    _check_tensor(t, "uniform_")
    a, b = _number(a, "a", "uniform_"), _number(b, "b", "uniform_")
    if a > b:
        raise ValueError(f"uniform_: the lower bound a={a} is above the upper bound b={b}")
    return _fill(t, _generator(rng, t, "uniform_").uniform(t.shape, low=a, high=b, dtype=t.dtype))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, rng: backend.Generator | None = None) -> Tensor:
    r"""Fill ``t`` with samples of :math:`\mathcal N(\text{mean}, \text{std}^2)`.

    Args:
        t: the tensor to fill (floating).
        mean: the mean (0.0).
        std: the standard deviation, >= 0 (1.0).
        rng: the Generator to draw from (default: the device's default generator).
    """
    _check_tensor(t, "normal_")
    mean, std = _number(mean, "mean", "normal_"), _number(std, "std", "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(t, _generator(rng, t, "normal_").normal(t.shape, mean=mean, std=std, dtype=t.dtype))


def constant_(t: Tensor, val: float) -> Tensor:
    """Fill ``t`` with the value ``val``."""
    _check_tensor(t, "constant_", floating=False)
    return _fill(t, val)


def zeros_(t: Tensor) -> Tensor:
    """Fill ``t`` with zeros."""
    return constant_(t, 0)


def ones_(t: Tensor) -> Tensor:
    """Fill ``t`` with ones."""
    return constant_(t, 1)


# --------------------------------------------------------------------------- variance scaling


def xavier_uniform_(t: Tensor, gain: float = 1.0, *, rng: backend.Generator | None = None) -> Tensor:
    r"""Glorot uniform: :math:`\mathcal U(-a, a)`, :math:`a = \text{gain}\sqrt{6 / (\text{fan\_in} + \text{fan\_out})}`.

    The standard deviation is :math:`\text{gain}\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`.

    Args:
        t: a weight with at least 2 dimensions.
        gain: scale factor (1.0); see :func:`calculate_gain`.
        rng: the Generator to draw from.
    """
    _check_tensor(t, "xavier_uniform_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    if t.numel() == 0:  # nothing to fill (and the fans are 0)
        return t
    std = _number(gain, "gain", "xavier_uniform_") * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-a, a) has standard deviation a / sqrt(3)
    return uniform_(t, -bound, bound, rng=rng)


def xavier_normal_(t: Tensor, gain: float = 1.0, *, rng: backend.Generator | None = None) -> Tensor:
    r"""Glorot normal: :math:`\mathcal N(0, \text{std}^2)`.

    :math:`\text{std} = \text{gain}\sqrt{2 / (\text{fan\_in} + \text{fan\_out})}`.

    Args:
        t: a weight with at least 2 dimensions.
        gain: scale factor (1.0).
        rng: the Generator to draw from.
    """
    _check_tensor(t, "xavier_normal_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(t)
    if t.numel() == 0:  # nothing to fill (and the fans are 0)
        return t
    std = _number(gain, "gain", "xavier_normal_") * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(t, 0.0, std, rng=rng)


def kaiming_uniform_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                     rng: backend.Generator | None = None) -> Tensor:
    r"""He uniform: :math:`\mathcal U(-b, b)` with :math:`b = \text{gain}\sqrt{3 / \text{fan}}`.

    ``gain = calculate_gain(nonlinearity, a)``; the standard deviation is
    :math:`\text{gain} / \sqrt{\text{fan}}`. PyTorch's default Linear and Conv weights are
    ``kaiming_uniform_(w, a=math.sqrt(5))``, i.e. :math:`\mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`.

    Args:
        t: a weight with at least 2 dimensions.
        a: the negative slope of the leaky ReLU that follows (0; used by ``'leaky_relu'``).
        mode: ``'fan_in'`` (default; keeps the forward variance) or ``'fan_out'`` (backward).
        nonlinearity: ``'leaky_relu'`` (default), ``'relu'``, ``'tanh'``, ...
        rng: the Generator to draw from.
    """
    _check_tensor(t, "kaiming_uniform_")
    fan = _fan(t, mode, "kaiming_uniform_")
    if t.numel() == 0:  # nothing to fill (and the fan is 0)
        return t
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(t, -bound, bound, rng=rng)


def kaiming_normal_(t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                    rng: backend.Generator | None = None) -> Tensor:
    r"""He normal: :math:`\mathcal N(0, \text{std}^2)`, :math:`\text{std} = \text{gain} / \sqrt{\text{fan}}`.

    Args: as :func:`kaiming_uniform_`.
    """
    _check_tensor(t, "kaiming_normal_")
    fan = _fan(t, mode, "kaiming_normal_")
    if t.numel() == 0:  # nothing to fill (and the fan is 0)
        return t
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng=rng)


def orthogonal_(t: Tensor, gain: float = 1.0, *, rng: backend.Generator | None = None) -> Tensor:
    r"""A (semi-)orthogonal matrix times ``gain``: :math:`W W^\top = \text{gain}^2 I` (rows <= cols).

    As PyTorch: draw A ~ N(0, 1) of shape (rows, cols) with rows = ``t.shape[0]`` and cols
    the product of the other dimensions (transposed when rows < cols), take A = QR and
    multiply each column of Q by the sign of :math:`R_{ii}`, which makes Q uniformly
    distributed over the orthogonal matrices. The QR runs in float64 for accuracy.

    Args:
        t: a tensor with at least 2 dimensions.
        gain: scale factor (1.0).
        rng: the Generator to draw from.
    """
    _check_tensor(t, "orthogonal_")
    gain = _number(gain, "gain", "orthogonal_")
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dimensions, got shape {t.shape}")
    if t.numel() == 0:
        return t
    rows = t.shape[0]
    cols = t.numel() // rows
    xp = backend.get_array_module(t.data)
    a = _generator(rng, t, "orthogonal_").normal((rows, cols), dtype=backend.float64)
    if rows < cols:
        a = a.T
    q, r = xp.linalg.qr(a)  # (max, min), (min, min)
    q *= xp.sign(xp.diag(r))  # sign correction: a unique, uniformly distributed Q
    if rows < cols:
        q = q.T
    return _fill(t, (gain * q).reshape(t.shape).astype(t.dtype, copy=False))


__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "orthogonal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]
