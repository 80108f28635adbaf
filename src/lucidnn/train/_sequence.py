"""Shared plumbing of the sequence learners (BPTT, truncated BPTT, RTRL).

Checks of the sequences and window sizes at the public boundary, the handling of a recurrent
state that is a Tensor or a (nested) tuple of Tensors, and one clipped optimizer update.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterator
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import NonFiniteError, ShapeError

REDUCTIONS = ("sum", "mean")


def as_sequence(x: Any, where: str, name: str = "x") -> Tensor:
    """``x`` as a Tensor whose first axis is time; arrays are wrapped (keeping their dtype)."""
    if not isinstance(x, Tensor):
        if not backend.is_array(x):
            raise TypeError(f"{where}: {name} must be a Tensor or an array of shape (T, N, ...), "
                            f"got {type(x).__name__}")
        x = Tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"{where}: {name} must be time-major, (T, N, ...), got shape {x.shape}; "
                         "add a batch axis of size 1 for a single sequence")
    return x


def check_pair(x: Tensor, y: Any, where: str) -> int:
    """The number of steps T shared by inputs ``x`` and targets ``y``; errors for T = 0 or a mismatch."""
    steps = x.shape[0]
    if steps == 0:
        raise ShapeError(f"{where}: the sequence x has no time steps (T = 0, shape {x.shape}); "
                         "pass at least one step")
    y_steps = len(y) if hasattr(y, "__len__") else None
    if y_steps != steps:
        raise ShapeError(f"{where}: x has {steps} time steps but the targets y have "
                         f"{y_steps if y_steps is not None else 'no time axis'} (shape "
                         f"{getattr(y, 'shape', '?')}); both must be time-major, x (T, N, ...) and y (T, N, ...)")
    return steps


def window_sizes(k1: Any, k2: Any, where: str) -> tuple[int, int]:
    """Validated (k1, k2) of BPTT(k2; k1); ``k2=None`` means k2 = k1."""
    def as_int(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, backend.numpy.integer)):
            raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
        return int(value)

    k1 = as_int(k1, "k1")
    if k1 < 1:
        raise ValueError(f"{where}: k1 (the number of new steps between two updates) must be >= 1, got {k1}")
    k2 = k1 if k2 is None else as_int(k2, "k2")
    if k2 < k1:
        raise ValueError(f"{where}: k2 (how many steps back the gradient flows) must be >= k1 = {k1}, got {k2}; "
                         "every step of a window must be reached by its own update's gradient")
    return k1, k2


def check_reduction(reduction: Any, where: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction must be 'sum' or 'mean' (of the per-step losses over time), "
                         f"got {reduction!r}")
    return reduction


def check_clip(clip_norm: Any, clip_value: Any, optimizer: Any, where: str) -> None:
    for name, value in (("clip_norm", clip_norm), ("clip_value", clip_value)):
        if value is not None and not (isinstance(value, numbers.Real) and value > 0):
            raise ValueError(f"{where}: {name} must be a positive number or None, got {value!r}")
    if optimizer is None and (clip_norm is not None or clip_value is not None):
        raise ValueError(f"{where}: clip_norm/clip_value clip each update's gradient before the optimizer steps; "
                         "without an optimizer (gradient accumulation only) call lucidnn.optim.clip_grad_norm_ "
                         "yourself on the accumulated gradients")


# --------------------------------------------------------------------------- states


def state_tensors(state: Any) -> Iterator[Tensor]:
    """The Tensors of a state that is a Tensor, None, or a (nested) tuple/list of them, in order."""
    if isinstance(state, Tensor):
        yield state
    elif isinstance(state, (tuple, list)):
        for s in state:
            yield from state_tensors(s)


def map_state(state: Any, fn: Any) -> Any:
    """``state`` with ``fn`` applied to each of its Tensors, keeping the tuple structure."""
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(s, fn) for s in state)
    return state


def detach_state(state: Any) -> Any:
    """The state cut from the graph (shares the data)."""
    return map_state(state, Tensor.detach)


def state_leaf(state: Any) -> Any:
    """A detached copy of the state whose Tensors are leaves that collect the gradient reaching them."""
    return map_state(state, lambda s: s.detach().requires_grad_(s.dtype.kind == "f"))


# --------------------------------------------------------------------------- updates


def optimizer_parameters(optimizer: Any) -> list[Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def finite_loss(value: float, where: str, when: str) -> bool:
    """False (with a warning) for a NaN/infinite loss, whose update is then skipped; ``when``: 'update 3'."""
    if math.isfinite(value):
        return True
    warnings.warn(f"{where}: the loss is {value} at {when}; that update was skipped",
                  RuntimeWarning, stacklevel=3)
    return False


def clipped_step(optimizer: Any, clip_norm: float | None, clip_value: float | None, where: str,
                 when: str) -> bool:
    """Clip the gradients (by value, then by global L2 norm) and step; False if skipped for NaN/inf gradients.

    Clipping by value first and by norm second guarantees the norm bound for the step taken.
    """
    from lucidnn.optim import clip_grad_norm_, clip_grad_value_  # noqa: PLC0415  (optim sits beside train)

    params = optimizer_parameters(optimizer)
    if clip_value is not None:
        clip_grad_value_(params, clip_value)
    if clip_norm is not None:
        try:
            clip_grad_norm_(params, clip_norm, error_if_nonfinite=True)
        except NonFiniteError:
            warnings.warn(f"{where}: non-finite gradient norm at {when}; that update was skipped",
                          RuntimeWarning, stacklevel=3)
            return False
    optimizer.step()
    return True
