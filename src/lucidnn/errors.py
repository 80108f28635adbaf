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


class CheckpointError(LucidError, ValueError):
    """A checkpoint file cannot be loaded; the message names the file, the field, expected vs found."""


class UnsafeCheckpointError(CheckpointError):
    """The file is a pickle, a PyTorch zip or a NumPy ``.npz``: formats that can run code when loaded."""


class TruncatedCheckpointError(CheckpointError):
    """The file ends before the header or the tensor data it declares (bytes expected vs found)."""


class CheckpointHeaderError(CheckpointError):
    """The safetensors header is too long, not UTF-8, not a JSON object, or has bad ``__metadata__``."""


class CheckpointTensorError(CheckpointError):
    """A tensor entry has an unknown dtype, a bad shape, or data_offsets that disagree with shape x dtype."""


class CheckpointLayoutError(CheckpointError):
    """Tensor data overlaps, leaves a gap, or is followed by trailing bytes (a possible polyglot file)."""


class CheckpointCorruptError(CheckpointError):
    """A stored checksum or lucidnn's JSON skeleton does not match the file's contents."""


class CheckpointTypeError(LucidError, TypeError):
    """``save`` was given a value it cannot store (a set, a function, an object array); names its path."""
