"""Linear (fully connected) layers and the shape-only layers Identity and Flatten.

``Linear`` holds its weight in PyTorch's (out_features, in_features) layout and is initialized
as PyTorch does, so a state dict moves between the two libraries by name.
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
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter


def positive_int(value: Any, name: str, layer: str) -> int:
    """``value`` as an int >= 1, or ValueError/TypeError naming the layer, parameter and value."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, backend.numpy.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value}")
    return int(value)


class Linear(Module):
    r"""Fully connected layer :math:`y = x W^\top + b`.

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (True).
        dtype: parameter dtype (default: the default float dtype, float32).
        device: ``'cpu'`` (default) or ``'cuda'``.
        rng: Generator for the initialization (default: the device's default generator).

    Shape:
        input (*, in_features), output (*, out_features).

    Attributes:
        weight: (out_features, in_features), initialized from
            :math:`\mathcal U(-1/\sqrt{\text{in\_features}}, 1/\sqrt{\text{in\_features}})`
            (PyTorch's ``kaiming_uniform_(a=sqrt(5))``).
        bias: (out_features,), from the same distribution; None when ``bias=False``.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        self.weight = Parameter(zeros(self.out_features, self.in_features, dtype=dtype, device=device))
        self.bias = Parameter(zeros(self.out_features, dtype=dtype, device=device)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw weight and bias again from U(-1/sqrt(in_features), 1/sqrt(in_features))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged: a placeholder layer (arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge the axes ``start_axis..end_axis`` (inclusive) into one, e.g. (N, C, H, W) -> (N, C*H*W).

    Args:
        start_axis: first axis to merge (1, keeping the batch axis).
        end_axis: last axis to merge (-1).
        start_dim, end_dim: PyTorch's names for the two, accepted as aliases.

    Shape:
        input (N, d1, ..., dk), output (N, d1 * ... * dk) with the defaults.
    """

    def __init__(self, start_axis: int = 1, end_axis: int = -1, *, start_dim: int | None = None,
                 end_dim: int | None = None) -> None:
        super().__init__()
        self.start_axis = _alias(start_axis, 1, start_dim, "start_axis", "start_dim")
        self.end_axis = _alias(end_axis, -1, end_dim, "end_axis", "end_dim")

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x, self.start_axis, self.end_axis)

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}, end_axis={self.end_axis}"


def _alias(value: int, default: int, alias: int | None, name: str, alias_name: str) -> int:
    if alias is None:
        return int(value)
    if value != default:
        raise TypeError(f"Flatten: give either {name} or {alias_name}, not both")
    return int(alias)
