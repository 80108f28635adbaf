"""Parameter: a Tensor that a Module owns and an optimizer updates."""

from __future__ import annotations

from typing import Any

from lucidnn.autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor marked as a learnable parameter of a Module.

    Modules find their parameters by walking their attributes; any attribute holding a
    Parameter is one. ``requires_grad`` is True unless asked otherwise.

    Args:
        data: the initial values (a Tensor, an array or nested lists).
        requires_grad: whether the optimizer should train it (True).
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
