"""The op table: one row (OpCase) per differentiable op and setting, driving every op test.

Each family of ops has a module here that defines ``CASES = [OpCase(...), ...]``; the
modules are found automatically. ``tests/functional/test_op_table.py`` runs every row
through forward-vs-reference, gradcheck (float64), the float32 dtype contract and, when
PyTorch is installed, forward and backward parity with torch. Adding an op means adding
rows here, not writing a test body.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OpCase:
    """One op with fixed settings.

    Attributes:
        name: test id, e.g. ``"gelu-tanh"``.
        fn: lucidnn callable taking the sample's inputs as Tensors, returning a Tensor.
        samples: ``samples(rng) -> [tuple of numpy arrays, ...]``; float arrays are float64
            (the driver casts them to float32 where it tests float32), integer arrays are
            labels/indices and never get gradients. Give at least three samples: one with
            broadcasting where the op broadcasts, one with batch 1, and the driver adds a
            non-contiguous (Fortran-ordered) copy of each sample itself. Keep inputs at
            least 1e-2 away from kinks (``away_from``) (relu/abs at 0, ties of max).
        reference: NumPy/SciPy oracle on the same arrays (float64), or None.
        torch_fn: ``torch_fn(torch, *torch_tensors) -> torch.Tensor``, or None when torch
            has no counterpart.
        grad_inputs: positions of the inputs to differentiate; None = every float input.
        fwd_rtol, fwd_atol: float32 forward tolerance against reference and torch.
        gradcheck_kwargs: extra arguments for gradcheck (e.g. a looser eps), rarely needed.
    """

    name: str
    fn: Callable[..., Any]
    samples: Callable[[np.random.Generator], list]
    reference: Callable[..., Any] | None = None
    torch_fn: Callable[..., Any] | None = None
    grad_inputs: tuple | None = None
    fwd_rtol: float = 1e-5
    fwd_atol: float = 1e-6
    gradcheck_kwargs: dict | None = None

    def __repr__(self) -> str:
        return f"OpCase({self.name})"


def away_from(x: np.ndarray, points: tuple = (0.0,), margin: float = 1e-2) -> np.ndarray:
    """Push values of ``x`` that lie within ``margin`` of a kink out to ``point +- margin``."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin)
    return x


def all_cases() -> list[OpCase]:
    """Every OpCase of every module in this package."""
    cases = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        cases.extend(getattr(module, "CASES", []))
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"op table: duplicate case names {sorted(duplicates)}")
    return cases
