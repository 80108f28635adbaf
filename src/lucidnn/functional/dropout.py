r"""Dropout: randomly zero units while training, scaling the survivors so the mean is kept.

Inverted dropout (Srivastava et al., 2014): during training each unit is kept with
probability 1 - p and divided by 1 - p, so evaluation needs no rescaling and is the
identity. The random mask comes from an explicit :class:`~lucidnn.backend.Generator`.
"""

from __future__ import annotations

import numbers

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError


class DropoutFn(Function):
    r"""y = x * mask, with mask = keep / (1 - p) and keep ~ Bernoulli(1 - p);  gx = gy * mask.

    The mask is drawn by the wrapper and saved in x's dtype for backward.
    """

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, gy):
        return (gy * self.mask,)  # a broadcast (N, C, 1, 1) mask (dropout2d) gives gy's shape too


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            rng: backend.Generator | None = None) -> Tensor:
    r"""Inverted dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p).

    .. math:: y = \frac{m \odot x}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p)

    Args:
        x: input tensor.
        p: probability of zeroing an element, in [0, 1] (default 0.5); p = 1 gives zeros.
        training: apply dropout (True, default) or return ``x`` itself (False).
        rng: the Generator that draws the mask; default ``lucidnn.default_generator(x.device)``.

    Shape: input (*), output (*), the same shape.

    Reference: Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
    Overfitting", JMLR 2014.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if rng is None:
        rng = backend.default_generator(x.device)
    elif not isinstance(rng, backend.Generator):
        raise TypeError(f"dropout: rng must be a lucidnn.Generator, got {type(rng).__name__}")
    xp = backend.get_array_module(x.data)
    if p == 1:
        mask = xp.zeros(x.shape, dtype=x.dtype)
    else:
        mask = rng.bernoulli(x.shape, 1.0 - p, dtype=x.dtype)
        mask *= 1.0 / (1.0 - p)  # in place: the mask stays in x's dtype
    return DropoutFn.apply(x, mask=mask)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True,
              rng: backend.Generator | None = None) -> Tensor:
    r"""Channel dropout: zero each whole channel (N, C) with probability ``p``, scale the rest by 1/(1-p).

    .. math:: y_{nc\cdots} = \frac{m_{nc}\, x_{nc\cdots}}{1 - p}, \qquad m_{nc} \sim \mathrm{Bernoulli}(1 - p)

    One draw per (sample, channel), shared by every position of the feature map: neighbouring
    pixels of a conv feature map are strongly correlated, so element-wise dropout barely
    regularizes them (Tompson et al.). Gradient: :math:`g_x = g_y\, m / (1 - p)`.

    Args:
        x: input with channels on axis 1.
        p: probability of zeroing a channel, in [0, 1] (0.5).
        training: apply it (True, default) or return ``x`` itself (False).
        rng: the Generator that draws the mask; default ``lucidnn.default_generator(x.device)``.

    Shape:
        x (N, C, H, W), or any (N, C, *) with at least 3 dimensions (a 3-D input is (N, C, L), as
        PyTorch's ``dropout2d`` treats it); output alike.

    Reference: Tompson et al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout2d: p must be a number in [0, 1], got {type(p).__name__} {p!r}")
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"dropout2d: probability p must be in [0, 1], got {p}")
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout2d: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 3:
        raise ShapeError(f"dropout2d: expected an input of 3 or more dimensions (N, C, *), got shape {x.shape}; "
                         "use dropout for (N, features) inputs")
    if not training or p == 0:
        return x
    if rng is None:
        rng = backend.default_generator(x.device)
    elif not isinstance(rng, backend.Generator):
        raise TypeError(f"dropout2d: rng must be a lucidnn.Generator, got {type(rng).__name__}")
    shape = x.shape[:2] + (1,) * (x.ndim - 2)  # one draw per channel, broadcast over the map
    xp = backend.get_array_module(x.data)
    if p == 1:
        mask = xp.zeros(shape, dtype=x.dtype)
    else:
        mask = rng.bernoulli(shape, 1.0 - p, dtype=x.dtype)
        mask *= 1.0 / (1.0 - p)
    return DropoutFn.apply(x, mask=mask)
