"""Dropout layer: inverted dropout while training, the identity in evaluation mode."""

from __future__ import annotations

import numbers
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.nn.module import Module


class Dropout(Module):
    r"""Zero each element with probability p while training and scale the survivors by 1/(1-p).

    .. math:: y = \frac{m \odot x}{1 - p}, \qquad m_i \sim \mathrm{Bernoulli}(1 - p)

    In evaluation mode (``model.eval()``) it returns its input unchanged.

    Args:
        p: probability of zeroing an element, in [0, 1] (0.5).
        rng: the Generator that draws the masks (default: the input device's default
            generator, which ``lucidnn.manual_seed`` reseeds).

    Shape: any; output alike.

    Reference: Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
    Overfitting", JMLR 2014.
    """

    def __init__(self, p: float = 0.5, *, rng: backend.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"{type(self).__name__}: p must be a number in [0, 1], got {type(p).__name__} {p!r}")
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        if rng is not None and not isinstance(rng, backend.Generator):
            raise TypeError(f"{type(self).__name__}: rng must be a lucidnn.Generator, got {type(rng).__name__}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Tensor) -> Any:
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    r"""Channel dropout: zero each whole channel with probability p while training, scale the rest by 1/(1-p).

    .. math:: y_{nc\cdots} = \frac{m_{nc}\, x_{nc\cdots}}{1 - p}, \qquad m_{nc} \sim \mathrm{Bernoulli}(1 - p)

    One draw per (sample, channel) zeroes a whole feature map, which regularizes conv layers
    whose neighbouring pixels are correlated. The identity in evaluation mode.

    Args:
        p: probability of zeroing a channel, in [0, 1] (0.5).
        rng: the Generator that draws the masks (default: the input device's default generator).

    Shape:
        input (N, C, H, W) or any (N, C, *) with at least 3 dimensions; output alike.

    Reference: Tompson et al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015.
    """

    def forward(self, x: Tensor) -> Any:
        return F.dropout2d(x, self.p, self.training, rng=self.rng)
