"""Reverse-mode automatic differentiation: Tensor, Function, gradient mode, gradcheck."""

from lucidnn.autograd.tensor import Tensor  # noqa: I001  (tensor must load before function)
from lucidnn.autograd.function import Function, unbroadcast
from lucidnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from lucidnn.autograd.gradcheck import gradcheck  # noqa: E402  (the function shadows its module's name, as in torch)
