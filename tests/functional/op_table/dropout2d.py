"""Op-table rows for channel dropout (``dropout2d``), which reuses DropoutFn with an (N, C, 1, ...) mask.

A fresh Generator per call makes every call of the row draw the same mask, so gradcheck sees
one function. The reference draws the same stream: one float32 uniform per (sample, channel).
"""

from __future__ import annotations

import numpy as np

import lucidnn
from lucidnn import functional as F
from tests.functional.op_table import OpCase


def _samples(rng):
    return [(rng.standard_normal(s),) for s in [(4, 6, 3, 3), (1, 5, 2, 4), (3, 4, 5), (2, 3, 2, 2, 2)]]


def _ref(p, seed):
    def ref(x):
        shape = x.shape[:2] + (1,) * (x.ndim - 2)
        keep = np.random.Generator(np.random.PCG64(seed)).random(size=shape, dtype=np.float32) < 1.0 - p
        return x * keep / (1.0 - p)
    return ref


CASES = [
    OpCase("dropout2d-p0.5", lambda x: F.dropout2d(x, rng=lucidnn.Generator(3)), _samples, _ref(0.5, 3)),
    OpCase("dropout2d-p0.2", lambda x: F.dropout2d(x, 0.2, rng=lucidnn.Generator(8)), _samples, _ref(0.2, 8)),
]
