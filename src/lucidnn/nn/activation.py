r"""Activation layers: one Module per function in :mod:`lucidnn.functional.activation`.

Each layer stores its settings and calls the functional op; the formulas, gradients and
numerical care are documented there. Reprs follow PyTorch's text (``LeakyReLU(negative_slope=0.01)``).
Two layers learn parameters: :class:`PReLU` (its slopes, named ``weight`` as in PyTorch)
and :class:`Swish` with ``learnable=True`` (its :math:`\beta`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.nn import init
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter

_GELU_MODES = ("none", "tanh", "sigmoid")


def _real(value: Any, name: str, layer: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a real number, got {value!r}")
    if math.isnan(value):
        raise ValueError(f"{layer}: {name} must not be NaN")
    return float(value)


def _channel_shaped(t: Tensor, x: Tensor) -> Tensor:
    """A (C,) parameter reshaped to (C, 1, ..., 1) so it lines up with axis 1 of ``x``."""
    if t.shape[0] == 1 or x.ndim < 2:
        return t
    return F.reshape(t, (t.shape[0],) + (1,) * (x.ndim - 2))


class Sigmoid(Module):
    r"""Logistic sigmoid :math:`\sigma(x) = 1/(1 + e^{-x})`, elementwise. Shape: any."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    r"""Hyperbolic tangent :math:`\tanh x`, elementwise. Shape: any."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    r"""Rectified linear unit :math:`\max(x, 0)`, elementwise. Shape: any."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, :math:`a x` otherwise.

    Args:
        negative_slope: :math:`a` (0.01).

    Shape: any.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = _real(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class PReLU(Module):
    r"""Parametric ReLU: :math:`x` for :math:`x > 0`, :math:`w_c x` otherwise, with learned slopes.

    Args:
        num_parameters: 1 (one slope shared by every entry, default) or C, one slope per
            channel (axis 1 of the input).
        init: the initial slope (0.25).
        dtype, device: of the parameter.

    Shape: input (N, C, *) (or any shape when ``num_parameters=1``); output alike.

    Attributes:
        weight: (num_parameters,), initialized to the constant ``init``.

    Reference: He et al., "Delving Deep into Rectifiers", 2015.
    """

    def __init__(self, num_parameters: int = 1, *, init: float = 0.25, dtype: Any = None,
                 device: str | None = None) -> None:
        super().__init__()
        self.num_parameters = positive_int(num_parameters, "num_parameters", "PReLU")
        self.init = _real(init, "init", "PReLU")
        self.weight = Parameter(zeros(self.num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Set every slope to ``init`` (deterministic; ``rng`` is accepted for uniformity)."""
        init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    r"""Exponential linear unit: :math:`x` for :math:`x > 0`, :math:`\alpha(e^x - 1)` otherwise.

    Args:
        alpha: :math:`\alpha` (1.0).

    Shape: any.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _real(alpha, "alpha", "ELU")

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    r"""Softplus :math:`\frac{1}{\beta}\log(1 + e^{\beta x})`, linear where :math:`\beta x > \text{threshold}`.

    Args:
        beta: :math:`\beta > 0` (1.0).
        threshold: (20.0).

    Shape: any.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _real(beta, "beta", "Softplus")
        if self.beta <= 0:
            raise ValueError(f"Softplus: beta must be positive, got {self.beta}")
        self.threshold = _real(threshold, "threshold", "Softplus")

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Swish(Module):
    r"""Swish :math:`x\,\sigma(\beta x)` with a fixed or a learnable :math:`\beta` (PyTorch has no Swish).

    Args:
        beta: :math:`\beta`, fixed value or initial value (1.0).
        learnable: learn :math:`\beta` (False).
        num_parameters: with ``learnable``, 1 (one shared :math:`\beta`, default) or C, one per
            channel (axis 1 of the input, like :class:`PReLU`).
        dtype, device: of the learnable parameter.

    Shape: any (input (N, C, *) when ``num_parameters = C``); output alike.

    Attributes:
        beta: a float when fixed; when learnable a Parameter of shape (num_parameters,),
            initialized to the constant ``beta``.

    Reference: Ramachandran et al., "Searching for Activation Functions", 2017.
    """

    def __init__(self, beta: float = 1.0, *, learnable: bool = False, num_parameters: int = 1,
                 dtype: Any = None, device: str | None = None) -> None:
        super().__init__()
        self.init = _real(beta, "beta", "Swish")
        self.learnable = bool(learnable)
        self.num_parameters = positive_int(num_parameters, "num_parameters", "Swish")
        if not self.learnable and self.num_parameters != 1:
            raise ValueError(f"Swish: num_parameters={self.num_parameters} needs learnable=True "
                             "(a fixed beta is a single number)")
        if self.learnable:
            self.beta = Parameter(zeros(self.num_parameters, dtype=dtype, device=device))
        else:
            self.beta = self.init
        self.reset_parameters()

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Set a learnable beta back to its initial value (deterministic)."""
        if self.learnable:
            init.constant_(self.beta, self.init)

    def forward(self, x: Tensor) -> Tensor:
        beta = _channel_shaped(self.beta, x) if self.learnable else self.beta
        return F.swish(x, beta)

    def extra_repr(self) -> str:
        if not self.learnable:
            return f"beta={self.init}"
        return f"beta={self.init}, learnable=True, num_parameters={self.num_parameters}"


class SiLU(Module):
    r"""Sigmoid linear unit :math:`x\,\sigma(x)` (Swish with :math:`\beta = 1`). Shape: any."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class GELU(Module):
    r"""Gaussian error linear unit :math:`x\,\Phi(x)`, exact or approximated.

    Args:
        approximate: ``'none'`` (default, exact), ``'tanh'`` (as PyTorch) or ``'sigmoid'``
            (:math:`x\,\sigma(1.702x)`, lucidnn only).

    Shape: any.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in _GELU_MODES:
            raise ValueError(f"GELU: approximate must be one of {', '.join(map(repr, _GELU_MODES))}, "
                             f"got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    r"""Softmax :math:`e^{x_i}/\sum_j e^{x_j}` along ``dim``.

    Args:
        dim: the axis whose entries sum to one (-1, the last).

    Shape: any; output alike.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    r"""Log-softmax :math:`x_i - \log\sum_j e^{x_j}` along ``dim``.

    Args:
        dim: the axis to normalize over (-1, the last).

    Shape: any; output alike.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
