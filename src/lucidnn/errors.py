"""Typed exceptions raised by lucidnn.

Every error a user can trigger with bad input is one of these: each subclasses the
built-in exception a Python programmer would catch (``ValueError``, ``TypeError``,
``RuntimeError``), so ``except ValueError`` keeps working, while ``except LucidError``
catches everything lucidnn raises on purpose.
"""


class LucidError(Exception):
    """Base class of every exception lucidnn raises on purpose."""


class ShapeError(LucidError, ValueError):
    """Operand shapes are incompatible for an op (the message names the op and both shapes)."""


class AxisError(LucidError, ValueError):
    """A reduction or shape op was given an axis the tensor does not have."""


class DTypeError(LucidError, TypeError):
    """A tensor has a dtype the op cannot accept (for example an integer tensor asked for grad)."""


class DeviceError(LucidError, RuntimeError):
    """A device is unavailable (``cuda`` without CuPy or a GPU) or two devices are mixed."""


class GraphError(LucidError, RuntimeError):
    """The autograd graph cannot be used as asked (freed graph, non-scalar backward, ...)."""


class GradcheckError(LucidError, RuntimeError):
    """Analytical and numerical gradients disagree; the message names input, element, values."""


class IndexingError(LucidError, IndexError):
    """An index is out of range or of a kind tensors cannot be indexed with."""


class NonFiniteError(LucidError, ValueError):
    """A value that must be finite is NaN or infinite (the message says where)."""
