"""Op-table rows for reductions over axes."""

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase


def _inputs(rng):
    return [(rng.standard_normal(s),) for s in [(3, 4), (2, 3, 4), (1, 5), (6,)]]


def _distinct(rng):
    """Inputs without ties, so max/min are differentiable."""
    out = []
    for s in [(3, 4), (2, 3, 4), (1, 5), (6,)]:
        n = int(np.prod(s))
        out.append((rng.permutation(n).reshape(s) * 0.1 + rng.uniform(0, 0.01, s),))
    return out


def _matrices(rng):
    return [(rng.standard_normal(s),) for s in [(3, 4), (2, 3, 4), (1, 5)]]


def _row(name, fn, ref, tfn, samples=_inputs):
    return OpCase(name, fn, samples, ref, tfn)


CASES = [
    _row("sum-all", lambda x: F.sum(x), np.sum, lambda torch, x: x.sum()),
    _row("sum-axis0", lambda x: F.sum(x, 0), lambda x: np.sum(x, 0), lambda torch, x: x.sum(0)),
    _row("sum-last-keepdims", lambda x: F.sum(x, -1, keepdims=True), lambda x: np.sum(x, -1, keepdims=True),
         lambda torch, x: x.sum(-1, keepdim=True)),
    _row("sum-tuple", lambda x: F.sum(x, (0, -1)), lambda x: np.sum(x, (0, -1)),
         lambda torch, x: x.sum((0, -1)), _matrices),
    _row("mean-all", lambda x: F.mean(x), np.mean, lambda torch, x: x.mean()),
    _row("mean-last", lambda x: F.mean(x, dim=-1), lambda x: np.mean(x, -1), lambda torch, x: x.mean(-1)),
    _row("var-unbiased", lambda x: F.var(x, -1), lambda x: np.var(x, -1, ddof=1), lambda torch, x: x.var(-1)),
    _row("var-biased-keepdims", lambda x: F.var(x, 0, keepdims=True, correction=0),
         lambda x: np.var(x, 0, keepdims=True), lambda torch, x: x.var(0, keepdim=True, unbiased=False)),
    _row("std", lambda x: F.std(x, -1), lambda x: np.std(x, -1, ddof=1), lambda torch, x: x.std(-1)),
    _row("std-all", lambda x: F.std(x), lambda x: np.std(x, ddof=1), lambda torch, x: x.std()),
    _row("max-all", lambda x: F.max(x), np.max, lambda torch, x: x.amax(), _distinct),
    _row("max-axis", lambda x: F.max(x, -1), lambda x: np.max(x, -1), lambda torch, x: x.amax(-1), _distinct),
    _row("min-axis0-keepdims", lambda x: F.min(x, 0, keepdims=True), lambda x: np.min(x, 0, keepdims=True),
         lambda torch, x: x.amin(0, keepdim=True), _distinct),
    _row("logsumexp", lambda x: F.logsumexp(x, -1), lambda x: np.log(np.exp(x).sum(-1)),
         lambda torch, x: torch.logsumexp(x, -1)),
    _row("logsumexp-all", lambda x: F.logsumexp(x), lambda x: np.log(np.exp(x).sum()),
         lambda torch, x: torch.logsumexp(x.reshape(-1), 0)),
]
