r"""Activation functions: sigmoid, tanh, the ReLU family, softplus, swish, GELU (softmax: softmax.py).

Each activation is one fused Function whose backward is the textbook derivative written
in terms of values the forward pass already computed (``y`` for sigmoid and tanh,
:math:`\sigma(\beta x)` for swish, :math:`\Phi(x)` for GELU). The forward formulas are
the numerically stable ones: no op here overflows or warns for finite inputs as large as
:math:`\pm 10^4` (float32) or :math:`\pm 10^{300}` (float64), and constants are Python
floats so that float32 inputs stay float32 (NumPy scalars would upcast).

Reference: the course notes on activation functions; semantics follow
``torch.nn.functional`` wherever PyTorch has the op.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function, unbroadcast
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional._workspace import output_as

_np = backend.numpy

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_GELU_K = math.sqrt(2.0 / math.pi)
_TANH_GELU_C = 0.044715
_SIGMOID_GELU_BETA = 1.702
_GELU_MODES = ("none", "tanh", "sigmoid")


def sigmoid_array(xp: Any, z: Any) -> Any:
    """The logistic function 1 / (1 + e^-z), stable for any z."""
    # e^{-|z|} lies in (0, 1], so nothing overflows; for z < 0 use e^z / (1 + e^z).
    e = xp.exp(-xp.abs(z))
    r = 1.0 / (1.0 + e)
    return xp.where(z >= 0, r, e * r)


# --------------------------------------------------------------------------- Functions


class SigmoidFn(Function):
    r"""y = 1 / (1 + e^{-x});  gx = gy * y * (1 - y)."""

    def forward(self, x):
        self.y = sigmoid_array(backend.get_array_module(x), x)
        return self.y

    def backward(self, gy):
        y = self.y
        return (gy * y * (1.0 - y),)


class TanhFn(Function):
    r"""y = tanh x;  gx = gy * (1 - y^2)."""

    def forward(self, x):
        self.y = backend.get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        y = self.y
        return (gy * (1.0 - y * y),)


class ReluFn(Function):
    """y = max(x, 0);  gx = gy where x > 0, else 0 (0 at x = 0, as in torch)."""

    def forward(self, x):
        # greater + multiply beats np.maximum(x, 0) by ~1.45x (PERFORMANCE.md)
        xp = backend.get_array_module(x)
        self.positive = xp.greater(x, 0, out=output_as(x, bool))
        return xp.multiply(x, self.positive, out=output_as(x))

    def backward(self, gy):
        # the result takes x's memory layout (a channels-last x gets a channels-last gradient)
        # even when gy arrives transposed, so the layers below work on matching layouts
        xp = backend.get_array_module(gy)
        return (xp.multiply(gy, self.positive, out=output_as(self.positive, gy.dtype)),)


class LeakyReluFn(Function):
    """y = x for x > 0, a x otherwise;  gx = gy for x > 0, a gy otherwise."""

    def forward(self, x, negative_slope):
        self.positive, self.a = x > 0, negative_slope
        return backend.get_array_module(x).where(self.positive, x, x * negative_slope)

    def backward(self, gy):
        return (backend.get_array_module(gy).where(self.positive, gy, gy * self.a),)


class PreluFn(Function):
    r"""y = x for x > 0, w_c x otherwise (w per channel c = axis 1);
    gx = gy for x > 0, w_c gy otherwise;  gw_c = \sum_{x \le 0, channel c} gy x."""

    def forward(self, x, w):
        xp = backend.get_array_module(x)
        self.x, self.w_shape = x, w.shape
        # weight (C,) lines up with axis 1 of (N, C, *); a single weight broadcasts as it is
        self.w = w.reshape((-1,) + (1,) * (x.ndim - 2)) if w.size > 1 else w.reshape(())
        self.positive = x > 0
        return xp.where(self.positive, x, x * self.w)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        need_x, need_w = self.needs_input_grad
        gx = gw = None
        if need_x:
            gx = xp.where(self.positive, gy, gy * self.w)
        if need_w:
            g = xp.where(self.positive, 0.0, gy * self.x)
            if g.ndim >= 2 and self.w.ndim > 0:
                g = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))  # (C,)
            else:
                g = g.sum()
            gw = g.reshape(self.w_shape)
        return gx, gw


class EluFn(Function):
    r"""y = x for x > 0, \alpha (e^x - 1) otherwise;  gx = gy for x > 0, gy (y + \alpha) otherwise."""

    def forward(self, x, alpha):
        xp = backend.get_array_module(x)
        self.positive, self.alpha = x > 0, alpha
        # expm1 of min(x, 0): accurate near 0 and never overflows for large positive x
        self.y = xp.where(self.positive, x, alpha * xp.expm1(xp.minimum(x, 0.0)))
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        # for x <= 0, d/dx alpha (e^x - 1) = alpha e^x = y + alpha
        return (xp.where(self.positive, gy, gy * (self.y + self.alpha)),)


class SoftplusFn(Function):
    r"""y = \log(1 + e^{\beta x}) / \beta, or x where \beta x > threshold;
    gx = gy \sigma(\beta x), or gy where \beta x > threshold."""

    def forward(self, x, beta, threshold):
        xp = backend.get_array_module(x)
        with _np.errstate(over="ignore"):  # beta * x = +-inf still picks the right branch
            z = x * beta
        self.z, self.linear = z, z > threshold
        # log(1 + e^z) = max(z, 0) + log(1 + e^{-|z|}): the exponent is never positive
        sp = xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.where(self.linear, x, sp / beta)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return (xp.where(self.linear, gy, gy * sigmoid_array(xp, self.z)),)


class SwishFn(Function):
    r"""y = x \sigma(\beta x) with s = \sigma(\beta x);
    gx = gy (s + \beta y (1 - s));  g\beta = \sum gy x^2 s (1 - s) = \sum gy x y (1 - s).

    ``beta`` is either a tensor input (learnable) or a Python float param (fixed).
    """

    def forward(self, x, beta):
        xp = backend.get_array_module(x)
        self.x, self.beta = x, beta
        self.s = sigmoid_array(xp, x * beta)
        self.y = x * self.s
        return self.y

    def backward(self, gy):
        x, y, s, beta = self.x, self.y, self.s, self.beta
        one_minus_s = 1.0 - s
        need = self.needs_input_grad
        gx = gy * (s + beta * y * one_minus_s) if need[0] else None
        if len(need) == 1:  # fixed beta
            return (gx,)
        gbeta = unbroadcast(gy * x * y * one_minus_s, beta.shape) if need[1] else None
        return gx, gbeta


class GeluFn(Function):
    r"""Exact: y = x \Phi(x);  gx = gy (\Phi(x) + x \varphi(x)), \varphi(x) = e^{-x^2/2} / \sqrt{2\pi}.

    Tanh form: y = x (1 + t) / 2, t = \tanh(k (x + c x^3)), k = \sqrt{2/\pi}, c = 0.044715;
    gx = gy ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2).
    """

    def forward(self, x, approximate):
        xp = backend.get_array_module(x)
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = xp.tanh(_TANH_GELU_K * (x + _TANH_GELU_C * (x * x * x)))
            return 0.5 * x * (1.0 + self.t)
        self.phi_cdf = 0.5 * (1.0 + backend.erf(x * _SQRT_HALF))
        return x * self.phi_cdf

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            dt = (1.0 - t * t) * (_TANH_GELU_K * (1.0 + (3.0 * _TANH_GELU_C) * (x * x)))
            return (gy * (0.5 * (1.0 + t) + 0.5 * x * dt),)
        with _np.errstate(over="ignore"):  # x^2 = inf gives e^-inf = 0, the right limit
            pdf = _INV_SQRT_2PI * xp.exp(-0.5 * (x * x))
        return (gy * (self.phi_cdf + x * pdf),)


# --------------------------------------------------------------------------- argument checks


def _real(value: Any, name: str, op: str) -> float:
    """``value`` as a Python float (so it never upcasts float32), or TypeError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{op}: {name} must not be NaN")
    return value


def _check_tensor(x: Any, name: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


def _check_same_dtype(x: Tensor, other: Tensor, name: str, op: str) -> None:
    if other.dtype != x.dtype:
        raise DTypeError(f"{op}: {name} is {other.dtype} but the input is {x.dtype}; convert one of "
                         f"them with .astype() so no silent up/down-cast happens")


# --------------------------------------------------------------------------- wrappers


def sigmoid(x: Tensor) -> Tensor:
    r"""Logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, elementwise.

    Gradient: :math:`\sigma(x)(1 - \sigma(x))`. Computed from :math:`e^{-|x|}`, so no input
    overflows (``sigmoid(-1e300)`` is 0 without a warning).

    Args:
        x: input tensor.

    Shape:
        Input (*), output (*): any shape.
    """
    return SigmoidFn.apply(x)


def tanh(x: Tensor) -> Tensor:
    r"""Hyperbolic tangent :math:`\tanh x = (e^x - e^{-x}) / (e^x + e^{-x})`, elementwise.

    Gradient: :math:`1 - \tanh^2 x`.

    Args:
        x: input tensor.

    Shape:
        Input (*), output (*).
    """
    return TanhFn.apply(x)


def relu(x: Tensor) -> Tensor:
    r"""Rectified linear unit :math:`\max(x, 0)`, elementwise.

    Gradient: 1 for :math:`x > 0`, else 0 (0 at :math:`x = 0`, as in PyTorch).

    Args:
        x: input tensor.

    Shape:
        Input (*), output (*).
    """
    return ReluFn.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, :math:`a x` otherwise.

    Gradient: 1 for :math:`x > 0`, :math:`a` otherwise (also at 0, as in PyTorch).

    Args:
        x: input tensor.
        negative_slope: :math:`a`, the slope for negative inputs (0.01).

    Shape:
        Input (*), output (*).
    """
    a = _real(negative_slope, "negative_slope", "leaky_relu")
    return LeakyReluFn.apply(x, negative_slope=a)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    r"""Parametric ReLU: :math:`x` for :math:`x > 0`, :math:`w_c x` otherwise, with a learned slope.

    Gradients: :math:`\partial y/\partial x = 1` for :math:`x > 0`, else :math:`w_c`;
    :math:`\partial L/\partial w_c = \sum gy \cdot x` over the non-positive entries of channel c.
    Same semantics as ``torch.nn.functional.prelu``: the channel axis is axis 1.

    Args:
        x: input tensor.
        weight: the slopes, shape (C,) with C = ``x.shape[1]`` (one per channel), or a
            single slope of shape (1,) or () shared by all entries.

    Shape:
        Input (N, C, *) or any shape with a single weight; weight (C,), (1,) or ();
        output like the input.

    Reference: He et al., "Delving Deep into Rectifiers", 2015.
    """
    _check_tensor(weight, "weight", "prelu")
    _check_same_dtype(x, weight, "weight", "prelu")
    if weight.ndim > 1:
        raise ShapeError(f"prelu: weight must be a 1-D tensor of size 1 or C, got shape {weight.shape}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ShapeError(
            f"prelu: weight has {weight.numel()} slopes but the input of shape {x.shape} has "
            f"{channels} channels (axis 1); give weight of size {channels} or 1"
        )
    return PreluFn.apply(x, weight)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    r"""Exponential linear unit: :math:`x` for :math:`x > 0`, :math:`\alpha (e^x - 1)` otherwise.

    Gradient: 1 for :math:`x > 0`, :math:`\alpha e^x` otherwise. The exponential is taken of
    :math:`\min(x, 0)` with ``expm1``, so large positive inputs never overflow.

    Args:
        x: input tensor.
        alpha: :math:`\alpha`, the value approached as :math:`x \to -\infty` is
            :math:`-\alpha` (1.0).

    Shape:
        Input (*), output (*).

    Reference: Clevert et al., "Fast and Accurate Deep Network Learning by ELUs", 2016.
    """
    return EluFn.apply(x, alpha=_real(alpha, "alpha", "elu"))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    r"""Softplus :math:`\frac{1}{\beta} \log(1 + e^{\beta x})`, a smooth ReLU.

    Where :math:`\beta x > \text{threshold}` it returns :math:`x` itself (PyTorch's rule);
    elsewhere it uses :math:`\max(z, 0) + \log(1 + e^{-|z|})` with :math:`z = \beta x`,
    which never overflows. Gradient: :math:`\sigma(\beta x)` (1 in the linear region).

    Args:
        x: input tensor.
        beta: :math:`\beta > 0`, the sharpness (1.0).
        threshold: above this value of :math:`\beta x` the function is linear (20.0).

    Shape:
        Input (*), output (*).
    """
    beta = _real(beta, "beta", "softplus")
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return SoftplusFn.apply(x, beta=beta, threshold=_real(threshold, "threshold", "softplus"))


def swish(x: Tensor, beta: float | Tensor = 1.0) -> Tensor:
    r"""Swish :math:`x \, \sigma(\beta x)`, with a fixed or a learnable :math:`\beta`.

    Gradients, with :math:`s = \sigma(\beta x)` and :math:`y = x s`:
    :math:`\partial y / \partial x = s + \beta y (1 - s)` and
    :math:`\partial y / \partial \beta = x^2 s (1 - s)`, summed over the entries that share
    each :math:`\beta`.

    Args:
        x: input tensor.
        beta: a Python number (fixed, 1.0) or a Tensor (learnable) whose shape broadcasts to
            ``x``'s shape, e.g. () or (1,) for one shared value or (C, 1, 1) per channel of
            an (N, C, H, W) input; it must have ``x``'s dtype.

    Shape:
        Input (*), output (*); a tensor beta of any shape that broadcasts to the input's.

    Reference: Ramachandran et al., "Searching for Activation Functions", 2017.
    """
    if isinstance(beta, Tensor):
        _check_same_dtype(x, beta, "beta", "swish")
        try:
            out_shape = _np.broadcast_shapes(x.shape, beta.shape)
        except ValueError:
            out_shape = None
        if out_shape != tuple(x.shape):
            raise ShapeError(f"swish: beta of shape {beta.shape} does not broadcast to the input's "
                             f"shape {x.shape}; use shape (), (1,) or one that lines up with the input")
        return SwishFn.apply(x, beta)
    return SwishFn.apply(x, beta=_real(beta, "beta", "swish"))


def silu(x: Tensor) -> Tensor:
    r"""SiLU :math:`x \, \sigma(x)`, i.e. :func:`swish` with :math:`\beta = 1`.

    Gradient: :math:`\sigma(x) (1 + x (1 - \sigma(x)))`.

    Args:
        x: input tensor.

    Shape:
        Input (*), output (*).
    """
    return SwishFn.apply(x, beta=1.0)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    r"""Gaussian error linear unit :math:`x \, \Phi(x)`, exact or approximated.

    * ``'none'``: :math:`x \Phi(x)`, :math:`\Phi(x) = \frac12 (1 + \operatorname{erf}(x/\sqrt2))`
      the standard normal CDF; gradient :math:`\Phi(x) + x \varphi(x)`.
    * ``'tanh'``: :math:`\frac{x}{2} (1 + \tanh(\sqrt{2/\pi}(x + 0.044715 x^3)))`, PyTorch's
      ``approximate='tanh'``.
    * ``'sigmoid'``: :math:`x \, \sigma(1.702 x)`, the course notes' second approximation
      (:func:`swish` with :math:`\beta = 1.702`; PyTorch has no counterpart).

    Args:
        x: input tensor.
        approximate: ``'none'`` (default), ``'tanh'`` or ``'sigmoid'``.

    Shape:
        Input (*), output (*).

    Reference: Hendrycks and Gimpel, "Gaussian Error Linear Units (GELUs)", 2016.
    """
    if approximate not in _GELU_MODES:
        raise ValueError(f"gelu: approximate must be one of {', '.join(map(repr, _GELU_MODES))}, "
                         f"got {approximate!r}")
    if approximate == "sigmoid":
        return SwishFn.apply(x, beta=_SIGMOID_GELU_BETA)
    return GeluFn.apply(x, approximate=approximate)
