"""Op-table rows for pooling (lucidnn.functional.pool, pool_adaptive) and local response norm.

References are naive loops over output positions that restate PyTorch's rules independently of
the library's strided passes: output sizes (with ceil mode), windows clipped to the real input
(so -inf / zero padding never enters), average divisors (``count_include_pad``,
``divisor_override``), lp_pool's ``K * avg_pool(x^p)`` and adaptive windows
``[floor(iL/out), ceil((i+1)L/out))``. Max-pool inputs are a shuffled grid of values 0.05 apart,
so no window has a tie within gradcheck's reach; Lp inputs with p != 2 are positive, and no L2
window is all zero (that case is tested in test_pool.py, where the gradient is defined as 0).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase

# batched, batch 1, odd sizes that floor mode does not cover exactly
_SHAPES_2D = [(2, 3, 6, 8), (1, 2, 5, 5), (2, 1, 7, 9)]
_SHAPES_1D = [(2, 3, 9), (1, 2, 8), (3, 1, 11)]
_UNBATCHED_2D = [(3, 6, 7), (1, 5, 5)]


# --------------------------------------------------------------------------- samples


def _distinct(shapes):
    """A shuffled grid 0.05 apart per sample: no max-pool ties, all windows separated by >= 0.05."""
    def samples(rng):
        out = []
        for shape in shapes:
            n = math.prod(shape)
            out.append((((rng.permutation(n) - n / 2) * 0.05).reshape(shape),))
        return out
    return samples


def _normal(shapes):
    def samples(rng):
        return [(rng.standard_normal(shape),) for shape in shapes]
    return samples


def _positive(shapes):
    def samples(rng):
        return [(rng.uniform(0.2, 2.0, shape),) for shape in shapes]
    return samples


# --------------------------------------------------------------------------- naive references


def _out_size(length, k, s, p, d, ceil_mode):
    span = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(length + 2 * p - span) // s) + 1
        return out - 1 if (out - 1) * s >= length + p else out
    return (length + 2 * p - span) // s + 1


def _window(o, length, k, s, p, d):
    """Real (unpadded) positions of window o, and its extent clipped to the padded input."""
    start = o * s - p
    taps = [start + j * d for j in range(k)]
    return [t for t in taps if 0 <= t < length], min(start + k, length + p) - start


def _pool_ref(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, reduce=None):
    """y[..., o] = reduce(x[..., window o], clipped extents) looping over output positions."""
    def tup(v):
        return (v,) * n if isinstance(v, int) else tuple(v)

    k = tup(kernel_size)
    s = k if stride is None else tup(stride)
    p, d = tup(padding), tup(dilation)

    def ref(x):
        sizes = x.shape[-n:]
        outs = [_out_size(L, *args, ceil_mode) for L, *args in zip(sizes, k, s, p, d)]
        y = np.empty(x.shape[:-n] + tuple(outs))
        for pos in itertools.product(*[range(o) for o in outs]):
            windows = [_window(o, L, *args) for o, L, args in zip(pos, sizes, zip(k, s, p, d))]
            idx = np.ix_(*[w[0] for w in windows])
            block = x[(Ellipsis,) + idx].reshape(x.shape[:-n] + (-1,))
            y[(Ellipsis,) + pos] = reduce(block, [w[1] for w in windows], [len(w[0]) for w in windows])
        return y
    return ref


def _max_ref(n, *args, **kwargs):
    return _pool_ref(n, *args, **kwargs, reduce=lambda b, extent, real: b.max(axis=-1))


def _avg_ref(n, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    def reduce(block, extent, real):
        if divisor_override is not None:
            return block.sum(axis=-1) / divisor_override
        return block.sum(axis=-1) / math.prod(extent if count_include_pad else real)
    return _pool_ref(n, kernel_size, stride, padding, 1, ceil_mode, reduce=reduce)


def _kernel_area(n, kernel_size):
    return kernel_size**n if isinstance(kernel_size, int) else math.prod(kernel_size)


def _lp_ref(n, norm, kernel_size, stride=None, ceil_mode=False):
    """PyTorch's definition: (K * avg_pool(x^p)) ** (1/p)."""
    avg = _avg_ref(n, kernel_size, stride, 0, ceil_mode)
    big_k = _kernel_area(n, kernel_size)
    return lambda x: (avg(x**norm) * big_k) ** (1.0 / norm)


def _l2_ref(n, kernel_size, stride=None, padding=0, mean=False):
    big_k = _kernel_area(n, kernel_size)
    total = _pool_ref(n, kernel_size, stride, padding, reduce=lambda b, e, r: (b * b).sum(axis=-1))
    return lambda x: np.sqrt(total(x) / (big_k if mean else 1))


def _adaptive_ref(n, output_size, reduce):
    def ref(x):
        sizes = x.shape[-n:]
        outs = [L if o is None else o for L, o in zip(sizes, output_size)]
        y = np.empty(x.shape[:-n] + tuple(outs))
        for pos in itertools.product(*[range(o) for o in outs]):
            ranges = [range(math.floor(i * L / o), math.ceil((i + 1) * L / o)) for i, L, o in zip(pos, sizes, outs)]
            block = x[(Ellipsis,) + np.ix_(*ranges)].reshape(x.shape[:-n] + (-1,))
            y[(Ellipsis,) + pos] = reduce(block, axis=-1)
        return y
    return ref


def _lrn_ref(size, alpha, beta, k):
    def ref(x):
        channels = x.shape[1]
        y = np.empty_like(x)
        for c in range(channels):
            lo, hi = max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)
            d = k + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)
            y[:, c] = x[:, c] / d**beta
        return y
    return ref


# --------------------------------------------------------------------------- rows


def _max_rows():
    rows = []
    settings_2d = [
        ("k2", dict(kernel_size=2), _SHAPES_2D),
        ("k3-s2-p1", dict(kernel_size=3, stride=2, padding=1), _SHAPES_2D),
        ("k3-s1-overlap", dict(kernel_size=3, stride=1), _SHAPES_2D),
        ("k2x3-s1x2-d2x1-p1", dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), padding=1), _SHAPES_2D),
        ("k3-s2-ceil", dict(kernel_size=3, stride=2, ceil_mode=True), _SHAPES_2D),
        ("k3-s2-p1-ceil", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), _SHAPES_2D),
        ("k1x2", dict(kernel_size=(1, 2)), _SHAPES_2D),
        ("k4-s1", dict(kernel_size=4, stride=1), _SHAPES_2D),
        ("unbatched-k2", dict(kernel_size=2), _UNBATCHED_2D),
    ]
    for name, kw, shapes in settings_2d:
        rows.append(OpCase(f"max_pool2d-{name}", lambda x, kw=kw: F.max_pool2d(x, **kw), _distinct(shapes),
                           _max_ref(2, **kw), lambda torch, x, kw=kw: torch.nn.functional.max_pool2d(x, **kw)))
    settings_1d = [
        ("k2", dict(kernel_size=2)),
        ("k3-s2-p1-ceil", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ("k3-s1-d2", dict(kernel_size=3, stride=1, dilation=2)),
        ("k4-s3-d2-p2", dict(kernel_size=4, stride=3, dilation=2, padding=2)),  # only taps 0 and 3 collide
    ]
    for name, kw in settings_1d:
        rows.append(OpCase(f"max_pool1d-{name}", lambda x, kw=kw: F.max_pool1d(x, **kw), _distinct(_SHAPES_1D),
                           _max_ref(1, **kw), lambda torch, x, kw=kw: torch.nn.functional.max_pool1d(x, **kw)))
    return rows


def _avg_rows():
    rows = []
    settings_2d = [
        ("k2", dict(kernel_size=2), _SHAPES_2D),
        ("k3-s2-p1", dict(kernel_size=3, stride=2, padding=1), _SHAPES_2D),
        ("k3-s2-p1-exclude-pad", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), _SHAPES_2D),
        ("k3-s2-p1-ceil-exclude-pad",
         dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), _SHAPES_2D),
        ("k3-s2-ceil", dict(kernel_size=3, stride=2, ceil_mode=True), _SHAPES_2D),
        ("k2x3-s1x2-overlap", dict(kernel_size=(2, 3), stride=(1, 2)), _SHAPES_2D),
        ("k2-divisor3", dict(kernel_size=2, divisor_override=3), _SHAPES_2D),
        ("unbatched-k3-s1-p1", dict(kernel_size=3, stride=1, padding=1), _UNBATCHED_2D),
    ]
    for name, kw, shapes in settings_2d:
        rows.append(OpCase(f"avg_pool2d-{name}", lambda x, kw=kw: F.avg_pool2d(x, **kw), _normal(shapes),
                           _avg_ref(2, **kw), lambda torch, x, kw=kw: torch.nn.functional.avg_pool2d(x, **kw)))
    settings_1d = [
        ("k2", dict(kernel_size=2)),
        ("k3-s1-p1-exclude-pad", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
        ("k4-s3-p2-ceil", dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    ]
    for name, kw in settings_1d:
        rows.append(OpCase(f"avg_pool1d-{name}", lambda x, kw=kw: F.avg_pool1d(x, **kw), _normal(_SHAPES_1D),
                           _avg_ref(1, **kw), lambda torch, x, kw=kw: torch.nn.functional.avg_pool1d(x, **kw)))
    return rows


def _lp_rows():
    rows = []
    settings = [  # (name, n, p, kwargs, samples)
        ("lp_pool2d-p2-k2", 2, 2, dict(kernel_size=2), _normal(_SHAPES_2D)),
        ("lp_pool2d-p3-k3-s1", 2, 3, dict(kernel_size=3, stride=1), _positive(_SHAPES_2D)),
        ("lp_pool2d-p1.5-k2x3-s1x2", 2, 1.5, dict(kernel_size=(2, 3), stride=(1, 2)), _positive(_SHAPES_2D)),
        ("lp_pool2d-p2-k3-s2-ceil", 2, 2, dict(kernel_size=3, stride=2, ceil_mode=True), _normal(_SHAPES_2D)),
        ("lp_pool2d-p1-k2", 2, 1, dict(kernel_size=2), _positive(_SHAPES_2D)),
        ("lp_pool1d-p2-k3-s2", 1, 2, dict(kernel_size=3, stride=2), _normal(_SHAPES_1D)),
        ("lp_pool1d-p3-k2-s3-ceil", 1, 3, dict(kernel_size=2, stride=3, ceil_mode=True), _positive(_SHAPES_1D)),
    ]
    for name, n, p, kw, samples in settings:
        op = F.lp_pool2d if n == 2 else F.lp_pool1d
        rows.append(OpCase(
            name, lambda x, op=op, p=p, kw=kw: op(x, p, **kw), samples, _lp_ref(n, p, **kw),
            lambda torch, x, n=n, p=p, kw=kw: getattr(torch.nn.functional, f"lp_pool{n}d")(x, p, **kw)))
    return rows


def _l2_torch(n, kernel_size, stride=None, padding=0, mean=False):
    """PyTorch has no L2 pool with padding or mean: lp_pool(pad(x), 2) / sqrt(K)."""
    def torch_fn(torch, x):
        pads = [padding] * (2 * n) if isinstance(padding, int) else [q for q in reversed(padding) for _ in (0, 1)]
        y = getattr(torch.nn.functional, f"lp_pool{n}d")(torch.nn.functional.pad(x, pads), 2, kernel_size, stride)
        return y / math.sqrt(_kernel_area(n, kernel_size)) if mean else y
    return torch_fn


def _l2_rows():
    rows = []
    settings = [
        ("l2_pool2d-k2", 2, dict(kernel_size=2), _SHAPES_2D),
        ("l2_pool2d-k3-s2-p1", 2, dict(kernel_size=3, stride=2, padding=1), _SHAPES_2D),
        ("l2_pool2d-k2x3-s1-mean", 2, dict(kernel_size=(2, 3), stride=1, mean=True), _SHAPES_2D),
        ("l2_pool2d-unbatched-k2", 2, dict(kernel_size=2), _UNBATCHED_2D),
        ("l2_pool1d-k2-p1-mean", 1, dict(kernel_size=2, padding=1, mean=True), _SHAPES_1D),
        ("l2_pool1d-k3-s1", 1, dict(kernel_size=3, stride=1), _SHAPES_1D),
    ]
    for name, n, kw, shapes in settings:
        op = F.l2_pool2d if n == 2 else F.l2_pool1d
        rows.append(OpCase(name, lambda x, op=op, kw=kw: op(x, **kw), _normal(shapes), _l2_ref(n, **kw),
                           _l2_torch(n, **kw)))
    return rows


def _adaptive_rows():
    rows = []
    for name, size, shapes in [("1", (1, 1), _SHAPES_2D), ("3x4-overlap", (3, 4), [(2, 3, 7, 9), (1, 2, 5, 6)]),
                               ("5xNone", (5, None), _SHAPES_2D), ("same-size", (5, 5), [(2, 2, 5, 5), (1, 3, 5, 5)]),
                               ("upsample-7x3", (7, 3), [(2, 2, 4, 2), (1, 1, 3, 3)])]:
        arg = size if name != "1" else 1
        rows.append(OpCase(f"adaptive_avg_pool2d-{name}", lambda x, a=arg: F.adaptive_avg_pool2d(x, a),
                           _normal(shapes), _adaptive_ref(2, size, np.mean),
                           lambda torch, x, a=arg: torch.nn.functional.adaptive_avg_pool2d(x, a), fwd_atol=1e-5))
        rows.append(OpCase(f"adaptive_max_pool2d-{name}", lambda x, a=arg: F.adaptive_max_pool2d(x, a),
                           _distinct(shapes), _adaptive_ref(2, size, np.max),
                           lambda torch, x, a=arg: torch.nn.functional.adaptive_max_pool2d(x, a)))
    for out in (3, 4, 13):
        rows.append(OpCase(f"adaptive_avg_pool1d-{out}", lambda x, o=out: F.adaptive_avg_pool1d(x, o),
                           _normal(_SHAPES_1D), _adaptive_ref(1, (out,), np.mean),
                           lambda torch, x, o=out: torch.nn.functional.adaptive_avg_pool1d(x, o), fwd_atol=1e-5))
        rows.append(OpCase(f"adaptive_max_pool1d-{out}", lambda x, o=out: F.adaptive_max_pool1d(x, o),
                           _distinct(_SHAPES_1D), _adaptive_ref(1, (out,), np.max),
                           lambda torch, x, o=out: torch.nn.functional.adaptive_max_pool1d(x, o)))
    for keepdims in (False, True):
        rows.append(OpCase(f"global_avg_pool2d-keepdims{keepdims}",
                           lambda x, k=keepdims: F.global_avg_pool2d(x, keepdims=k),
                           _normal(_SHAPES_2D + _UNBATCHED_2D), lambda x, k=keepdims: x.mean(axis=(-2, -1), keepdims=k),
                           lambda torch, x, k=keepdims: x.mean(dim=(-2, -1), keepdim=k), fwd_atol=1e-5))
    return rows


def _lrn_rows():
    rows = []
    shapes = [(2, 6, 3, 4), (1, 4, 5), (2, 5, 2, 2, 3)]  # 4-D, 3-D batch 1, 5-D
    for size, alpha, beta, k in [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.75, 1.5), (2, 1.0, 0.6, 2.0), (1, 0.3, 1.2, 1.0),
                                 (8, 0.8, 0.75, 1.0)]:
        rows.append(OpCase(
            f"local_response_norm-size{size}-alpha{alpha}",
            lambda x, a=(size, alpha, beta, k): F.local_response_norm(x, *a), _normal(shapes),
            _lrn_ref(size, alpha, beta, k),
            lambda torch, x, a=(size, alpha, beta, k): torch.nn.functional.local_response_norm(x, *a)))
    return rows


CASES = _max_rows() + _avg_rows() + _lp_rows() + _l2_rows() + _adaptive_rows() + _lrn_rows()
