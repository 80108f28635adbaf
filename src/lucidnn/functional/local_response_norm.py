r"""Local response normalization across channels (AlexNet), as one fused Function.

Each activation is divided by a power of the energy of its ``n`` neighbouring channels,

.. math:: y_c = x_c\, d_c^{-\beta}, \qquad
          d_c = k + \frac{\alpha}{n} \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor} x_{c'}^2

(channels outside [0, C) count as 0; the sum is divided by n, PyTorch's convention, where the
AlexNet paper multiplies by :math:`\alpha` alone). With :math:`t_c = g_{y_c} y_c / d_c` the gradient is

.. math:: g_{x_m} = g_{y_m} d_m^{-\beta} - \frac{2 \alpha \beta}{n}\, x_m
          \sum_{c:\, m \in W(c)} t_c ,

a window sum of the same width run the other way round (``before`` and ``after`` swapped).
Fused rather than composed from square/pad/avg_pool/pow/div: one node instead of six, and the
channel window sum is ``n`` slice additions over the channel axis in both directions.

Reference: Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012, section 3.3.
"""

from __future__ import annotations

import numbers
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError


def _channel_window_sum(a: Any, before: int, after: int) -> Any:
    """out[:, c] = sum of a[:, c - before .. c + after] along axis 1, zeros outside."""
    xp = backend.get_array_module(a)
    channels = a.shape[1]
    padded = xp.zeros((a.shape[0], channels + before + after) + a.shape[2:], dtype=a.dtype)
    padded[:, before:before + channels] = a
    out = padded[:, 0:channels].copy()
    for j in range(1, before + after + 1):
        out += padded[:, j:j + channels]
    return out


class LocalResponseNormFn(Function):
    r"""y = x d^{-β}, d = k + (α/n) Σ_window x²;  gx = gy d^{-β} − (2αβ/n) x Σ_{transposed window} gy y / d."""

    def forward(self, x, *, size, alpha, beta, k):
        self.size, self.alpha, self.beta = size, alpha, beta
        d = _channel_window_sum(x * x, size // 2, (size - 1) // 2)
        d *= alpha / size
        d += k
        self.d = d
        self.inv_b = d ** (-beta)  # (N, C, *) d^{-beta}
        self.x = x
        self.y = x * self.inv_b
        return self.y

    def backward(self, gy):
        t = gy * self.y
        t /= self.d
        window = _channel_window_sum(t, (self.size - 1) // 2, self.size // 2)
        window *= self.x
        window *= 2.0 * self.alpha * self.beta / self.size
        gx = gy * self.inv_b
        gx -= window
        return (gx,)


def _real(value: Any, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def local_response_norm(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    r"""Local response normalization over neighbouring channels (axis 1), PyTorch's semantics.

    .. math:: y_c = x_c \Big(k + \frac{\alpha}{n} \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor}
              x_{c'}^2\Big)^{-\beta}

    with n = ``size`` and absent channels counted as 0. See the module docstring for the gradient.

    Args:
        x: input with channels on axis 1.
        size: n, the number of neighbouring channels summed over (>= 1).
        alpha: multiplicative factor :math:`\alpha` (1e-4).
        beta: exponent :math:`\beta` (0.75).
        k: additive constant (1.0).

    Shape:
        x (N, C, *) with at least 3 dimensions, e.g. (N, C, H, W); output alike.

    Reference: Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural
    Networks", NIPS 2012 (AlexNet used n = 5, alpha = 1e-4, beta = 0.75, k = 2).
    """
    op = "local_response_norm"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 3:
        raise ShapeError(f"{op}: expected an input of 3 or more dimensions (N, C, *), got shape {x.shape}")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be floating point, got {x.dtype}")
    if isinstance(size, bool) or not isinstance(size, (numbers.Integral, backend.numpy.integer)):
        raise TypeError(f"{op}: size must be an int, got {type(size).__name__} {size!r}")
    if size < 1:
        raise ValueError(f"{op}: size must be a positive number of channels, got {size}")
    return LocalResponseNormFn.apply(x, size=int(size), alpha=_real(alpha, "alpha", op),
                                     beta=_real(beta, "beta", op), k=_real(k, "k", op))
