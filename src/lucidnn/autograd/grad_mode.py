"""Gradient mode: whether ops record the autograd graph.

:class:`no_grad` turns recording off for evaluation (a context manager and a decorator);
:class:`enable_grad` turns it back on inside such a block.
"""

from __future__ import annotations

import functools
from typing import Any

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward (the default)."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets gradient recording on or off."""

    mode = True

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):  # noqa: N801  (named like torch.no_grad)
    """Within this block (or decorated function) no graph is recorded: for evaluation."""

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Turn graph recording back on inside a :class:`no_grad` block."""

    mode = True
