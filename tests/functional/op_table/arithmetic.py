"""Op-table rows for elementwise arithmetic, comparisons excluded (they have no gradient)."""

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase, away_from


def _pairs(rng, low=-2.0, high=2.0, positive_b=False):
    """Broadcasting, same-shape, batch-1 and scalar-like operand pairs."""
    shapes = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((1, 5), (3, 1)), ((1,), (2, 3)), ((), (3,))]
    out = []
    for sa, sb in shapes:
        a = rng.uniform(low, high, sa)
        b = rng.uniform(0.5, 2.0, sb) if positive_b else rng.uniform(low, high, sb)
        out.append((a, b))
    return out


def _unary(rng, low=-2.0, high=2.0, kinks=()):
    return [(away_from(rng.uniform(low, high, s), kinks),) for s in [(3, 4), (1, 6), (2, 3, 2), (5,)]]


def _widen_and_back(x):
    """Cast to a wider float and back: both casts are differentiable and lossless."""
    wider = np.float64 if x.dtype == np.float32 else np.longdouble
    return F.astype(F.astype(x, wider), x.dtype)


CASES = [
    OpCase("add", F.add, _pairs, np.add, lambda torch, a, b: a + b),
    OpCase("sub", F.sub, _pairs, np.subtract, lambda torch, a, b: a - b),
    OpCase("mul", F.mul, _pairs, np.multiply, lambda torch, a, b: a * b),
    OpCase("div", F.div, lambda rng: _pairs(rng, positive_b=True), np.divide, lambda torch, a, b: a / b),
    OpCase("neg", F.neg, _unary, np.negative, lambda torch, x: -x),
    OpCase("add-scalar", lambda x: x + 2.5, _unary, lambda x: x + 2.5, lambda torch, x: x + 2.5),
    OpCase("rsub-scalar", lambda x: 1.0 - x, _unary, lambda x: 1.0 - x, lambda torch, x: 1.0 - x),
    OpCase("rdiv-scalar", lambda x: 3.0 / x, lambda rng: _unary(rng, 0.5, 2.0),
           lambda x: 3.0 / x, lambda torch, x: 3.0 / x),
    OpCase("pow-2", lambda x: x**2, _unary, np.square, lambda torch, x: x**2),
    OpCase("pow-1.5", lambda x: x**1.5, lambda rng: _unary(rng, 0.2, 3.0),
           lambda x: x**1.5, lambda torch, x: x**1.5),
    OpCase("pow-neg", lambda x: F.pow(x, -2), lambda rng: _unary(rng, 0.5, 2.0),
           lambda x: x**-2.0, lambda torch, x: x**-2),
    OpCase("pow-tensor", F.pow, lambda rng: [(rng.uniform(0.5, 2.0, sa), b) for (sa, b) in
                                             [((3, 4), rng.uniform(-2, 2, (3, 4))),
                                              ((2, 3), rng.uniform(-2, 2, (3,))),
                                              ((1,), rng.uniform(-2, 2, (2, 2)))]],
           np.power, lambda torch, a, b: a**b),
    OpCase("rpow-scalar", lambda x: 2.0**x, _unary, lambda x: 2.0**x, lambda torch, x: 2.0**x),
    OpCase("exp", F.exp, _unary, np.exp, lambda torch, x: torch.exp(x)),
    OpCase("log", F.log, lambda rng: _unary(rng, 0.1, 5.0), np.log, lambda torch, x: torch.log(x)),
    OpCase("sqrt", F.sqrt, lambda rng: _unary(rng, 0.1, 5.0), np.sqrt, lambda torch, x: torch.sqrt(x)),
    OpCase("abs", F.abs, lambda rng: _unary(rng, kinks=(0.0,)), np.abs, lambda torch, x: torch.abs(x)),
    OpCase("clip", lambda x: F.clip(x, -0.5, 0.7), lambda rng: _unary(rng, kinks=(-0.5, 0.7)),
           lambda x: np.clip(x, -0.5, 0.7), lambda torch, x: torch.clamp(x, -0.5, 0.7)),
    OpCase("clip-min-only", lambda x: F.clip(x, min=0.2), lambda rng: _unary(rng, kinks=(0.2,)),
           lambda x: np.maximum(x, 0.2), lambda torch, x: torch.clamp(x, min=0.2)),
    OpCase("maximum", F.maximum, _pairs, np.maximum, lambda torch, a, b: torch.maximum(a, b)),
    OpCase("minimum", F.minimum, _pairs, np.minimum, lambda torch, a, b: torch.minimum(a, b)),
    OpCase("where", lambda a, b: F.where(a > b, a, b * 2.0), _pairs,
           lambda a, b: np.where(a > b, a, b * 2.0), lambda torch, a, b: torch.where(a > b, a, b * 2.0)),
    OpCase("clone", F.clone, _unary, np.copy, lambda torch, x: x.clone()),
    OpCase("astype-round-trip", _widen_and_back, _unary, lambda x: x,
           lambda torch, x: x.to(torch.float64).to(x.dtype)),
]
