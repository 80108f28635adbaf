"""The Function contract and ``unbroadcast``.

A :class:`Function` subclass is one differentiable op. It implements ``forward`` and
``backward`` over raw ``xp`` arrays; the instance created for one call is the graph node
and keeps whatever backward needs as attributes. Users never call a Function directly:
each one has a lowercase wrapper beside it (``SigmoidFn`` -> ``sigmoid``) that carries the
docstring and calls ``SigmoidFn.apply(x)``.

Gradient mode (``grad_mode.no_grad``) decides whether ``apply`` records the node at all;
outside it an op costs its NumPy calls plus a few attribute writes.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd import grad_mode
from lucidnn.autograd.tensor import Tensor


def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    Broadcasting prepends axes and stretches size-1 axes; the gradient of a stretched
    operand is the sum over the stretched axes.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if not backend.is_array(grad):  # a full reduction gives a NumPy scalar, not a 0-d array
        grad = backend.numpy.asarray(grad)
    return grad


class Function:
    """Base class of differentiable ops: one graph node per call.

    Subclasses implement:

    * ``forward(self, *arrays, **params) -> array``: the op on raw arrays. Tensor inputs
      arrive as arrays, in order; non-tensor settings arrive as keyword params. Save what
      backward needs on ``self``.
    * ``backward(self, gy) -> tuple``: one gradient per tensor input, in order, already
      reduced to that input's shape; ``None`` for inputs with
      ``self.needs_input_grad[i]`` false (skipping that work is the point).

    A forward may return a tuple of arrays (a fused LSTM returns its outputs and its final
    states): ``apply`` then returns a tuple of Tensors, and backward is called as
    ``backward(self, *gys)`` with one gradient per output, ``None`` for an output no
    gradient reached (treat it as zeros, or skip its work).

    After backward has run (without ``retain_graph``) the node's attributes are dropped
    so saved arrays are freed at once.
    """

    #: set once backward has released the node's saved arrays
    freed = False
    #: how many arrays forward returned (set per call by ``apply`` when it is more than one)
    n_outputs = 1
    #: inputs of the call that recorded this node (tuple of Tensors); absent when not recorded
    inputs: tuple
    needs_input_grad: tuple

    def forward(self, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError  # abstract

    def backward(self, gy: Any) -> tuple:
        raise NotImplementedError  # abstract

    @classmethod
    def apply(cls, *inputs: Any, **params: Any):
        """Run the op on Tensors and, in grad mode, record the node in the graph."""
        fn = cls()
        arrays = [t.data for t in inputs]
        if backend._cupy is not None:
            backend.check_same_device(arrays, cls.op_name())
        y = fn.forward(*arrays, **params)
        node = None
        if grad_mode._grad_enabled:
            needs = tuple(t.requires_grad for t in inputs)
            if any(needs):
                fn.inputs = inputs
                fn.needs_input_grad = needs
                node = fn
        if type(y) is tuple:
            if node is not None:
                fn.n_outputs = len(y)
            return tuple(Tensor._from_op(a, node, i) for i, a in enumerate(y))
        return Tensor._from_op(y, node)

    @classmethod
    def op_name(cls) -> str:
        """The user-facing name of the op: ``SigmoidFn`` -> ``sigmoid``."""
        name = cls.__name__
        return name[:-2].lower() if name.endswith("Fn") else name.lower()

    def release(self) -> None:
        """Drop inputs and saved arrays (called by backward unless the graph is retained)."""
        self.__dict__.clear()
        self.freed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__}{' (freed)' if self.freed else ''}>"

