"""Op-table rows for matmul (every rank combination) and linear."""

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase


def _matmul_samples(rng):
    shapes = [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
              ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 4), (4, 1))]
    return [(rng.standard_normal(a), rng.standard_normal(b)) for a, b in shapes]


def _linear_samples(rng):
    return [(rng.standard_normal(x), rng.standard_normal((5, x[-1])), rng.standard_normal(5))
            for x in [(3, 4), (1, 4), (2, 3, 4), (4,)]]


CASES = [
    OpCase("matmul", F.matmul, _matmul_samples, np.matmul, lambda torch, a, b: torch.matmul(a, b)),
    OpCase("matmul-operator", lambda a, b: a @ b, _matmul_samples, np.matmul, lambda torch, a, b: a @ b),
    OpCase("linear", F.linear, _linear_samples, lambda x, w, b: x @ w.T + b,
           lambda torch, x, w, b: torch.nn.functional.linear(x, w, b)),
    OpCase("linear-no-bias", lambda x, w: F.linear(x, w),
           lambda rng: [s[:2] for s in _linear_samples(rng)], lambda x, w: x @ w.T,
           lambda torch, x, w: torch.nn.functional.linear(x, w)),
]
