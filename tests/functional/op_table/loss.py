"""Op-table rows for losses, dropout and embedding.

References are plain NumPy written from PyTorch's documented formulas (class axis 1,
``weight``/``ignore_index``/``label_smoothing`` normalised as torch does); torch parity
checks the same rows against ``torch.nn.functional``. Class-index targets are int64 and
get no gradient; probability targets are differentiated only where a row says so.
"""

from __future__ import annotations

import numpy as np

import lucidnn
from lucidnn import functional as F
from tests.functional.op_table import OpCase, away_from

W = np.array([0.5, 1.0, 2.0, 0.25, 1.5])  # per-class weight for C = 5
C = len(W)
BW = np.array([0.5, 2.0, 1.0, 0.75])  # elementwise BCE weight along the last axis (size 4)
PW = np.array([3.0, 0.5, 1.0, 2.0])  # BCE-with-logits pos_weight along the last axis

_NC = [(4, C), (1, C), (6, C), (C,)]  # (N, C), batch 1, and a single sample (C,)
_NCD = [(2, C, 2, 3), (1, C, 2, 2), (3, C, 1, 2)]  # (N, C, d1, d2)
_ELEMENTWISE = [(5, 4), (1, 4), (2, 3, 4)]  # last axis 4 so BW and PW broadcast


# --------------------------------------------------------------------------- samples


def _target_shape(shape):
    return (shape[0], *shape[2:]) if len(shape) > 1 else ()


def _class_samples(shapes, ignore_index=None):
    """(logits, int64 targets); with ``ignore_index``, every third target is ignored (never all)."""
    def samples(rng):
        out = []
        for shape in shapes:
            x = rng.standard_normal(shape) * 2.0
            t = rng.integers(0, C, _target_shape(shape)).astype(np.int64)
            if ignore_index is not None and t.size > 1:
                t[t == ignore_index] = (ignore_index + 1) % C
                t.flat[::3] = ignore_index
            out.append((x, t))
        return out
    return samples


def _prob_samples(shapes):
    """(logits, class probabilities of the same shape, summing to 1 over axis 1)."""
    def samples(rng):
        out = []
        for shape in shapes:
            q = rng.random(shape) + 0.1
            q /= q.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
            out.append((rng.standard_normal(shape) * 2.0, q))
        return out
    return samples


def _pair_samples(kinks=(0.0,), scale=1.0):
    """(input, target) with input - target kept 0.05 away from ``kinks``."""
    def samples(rng):
        out = []
        for shape in _ELEMENTWISE:
            t = rng.standard_normal(shape)
            d = away_from(rng.standard_normal(shape) * scale, kinks, margin=0.05)
            out.append((t + d, t))
        return out
    return samples


def _bce_samples(rng):
    return [(rng.uniform(0.05, 0.95, s), rng.uniform(0.0, 1.0, s)) for s in _ELEMENTWISE]


def _logit_samples(rng):
    return [(rng.standard_normal(s) * 3.0, rng.uniform(0.0, 1.0, s)) for s in _ELEMENTWISE]


def _dropout_samples(rng):
    return [(rng.standard_normal(s),) for s in [(8, 6), (1, 10), (2, 3, 4)]]


def _embedding_samples(rng):
    """(int64 indices with repeats and every row index, (V=6, D=3) table)."""
    out = []
    for shape in [(5,), (2, 4), (1, 3)]:
        idx = rng.integers(0, 6, shape).astype(np.int64)
        idx.flat[0] = idx.flat[-1] = 2  # the padding row, repeated
        out.append((idx, rng.standard_normal((6, 3))))
    return out


# --------------------------------------------------------------------------- references


def _reduce(per, reduction, denominator=None):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / (per.size if denominator is None else denominator)


def _log_softmax(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _ce_ref(weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, log_input=False):
    """torch.nn.functional.cross_entropy (or nll_loss when ``log_input``), written out."""
    eps = label_smoothing

    def ref(x, t):
        axis = 1 if x.ndim > 1 else 0
        n_classes = x.shape[axis]
        log_p = x if log_input else _log_softmax(x, axis)
        w = np.ones(n_classes) if weight is None else weight
        w_b = w.reshape([n_classes if a == axis else 1 for a in range(x.ndim)])
        if t.dtype.kind == "f":
            per = -((t * (1 - eps) + eps / n_classes) * w_b * log_p).sum(axis=axis)
            return _reduce(per, reduction, x.size / n_classes)
        valid = t != ignore_index
        t_safe = np.where(valid, t, 0)
        picked = np.take_along_axis(log_p, np.expand_dims(t_safe, axis), axis).squeeze(axis)
        per = -(1 - eps) * w[t_safe] * picked - eps / n_classes * (w_b * log_p).sum(axis=axis)
        per = np.where(valid, per, 0.0)
        return _reduce(per, reduction, np.where(valid, w[t_safe], 0.0).sum())
    return ref


def _bce_ref(weight=None, reduction="mean"):
    def ref(x, t):
        per = -(t * np.log(x) + (1 - t) * np.log(1 - x))
        return _reduce(per if weight is None else per * weight, reduction)
    return ref


def _bce_logits_ref(weight=None, pos_weight=None, reduction="mean"):
    def ref(x, t):
        s = 1.0 / (1.0 + np.exp(-x))
        pw = 1.0 if pos_weight is None else pos_weight
        per = -(pw * t * np.log(s) + (1 - t) * np.log(1 - s))
        return _reduce(per if weight is None else per * weight, reduction)
    return ref


def _smooth_l1_ref(beta, reduction):
    def ref(x, t):
        d = np.abs(x - t)
        return _reduce(np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)
    return ref


def _dropout_ref(p, seed):
    def ref(x):
        keep = np.random.Generator(np.random.PCG64(seed)).random(size=x.shape, dtype=np.float32) < 1.0 - p
        return x * keep / (1.0 - p)
    return ref


# --------------------------------------------------------------------------- rows


def _const(torch, value, like):
    return torch.tensor(value, dtype=like.dtype)


def _ce_rows():
    rows = []
    for reduction in ("mean", "sum", "none"):
        rows += [
            OpCase(f"cross_entropy-index-{reduction}",
                   lambda x, t, r=reduction: F.cross_entropy(x, t, reduction=r), _class_samples(_NC),
                   _ce_ref(reduction=reduction),
                   lambda torch, x, t, r=reduction: torch.nn.functional.cross_entropy(x, t, reduction=r)),
            OpCase(f"cross_entropy-index-nd-{reduction}",
                   lambda x, t, r=reduction: F.cross_entropy(x, t, reduction=r), _class_samples(_NCD),
                   _ce_ref(reduction=reduction),
                   lambda torch, x, t, r=reduction: torch.nn.functional.cross_entropy(x, t, reduction=r)),
            OpCase(f"cross_entropy-prob-{reduction}",
                   lambda x, q, r=reduction: F.cross_entropy(x, q, reduction=r), _prob_samples(_NC),
                   _ce_ref(reduction=reduction),
                   lambda torch, x, q, r=reduction: torch.nn.functional.cross_entropy(x, q, reduction=r),
                   grad_inputs=(0,)),
            OpCase(f"nll_loss-{reduction}",
                   lambda x, t, r=reduction: F.nll_loss(x, t, reduction=r), _class_samples(_NC),
                   _ce_ref(reduction=reduction, log_input=True),
                   lambda torch, x, t, r=reduction: torch.nn.functional.nll_loss(x, t, reduction=r)),
        ]
    rows += [
        OpCase("cross_entropy-weight", lambda x, t: F.cross_entropy(x, t, weight=W), _class_samples(_NC),
               _ce_ref(weight=W),
               lambda torch, x, t: torch.nn.functional.cross_entropy(x, t, weight=_const(torch, W, x))),
        OpCase("cross_entropy-weight-nd-sum",
               lambda x, t: F.cross_entropy(x, t, weight=W, reduction="sum"), _class_samples(_NCD),
               _ce_ref(weight=W, reduction="sum"),
               lambda torch, x, t: torch.nn.functional.cross_entropy(x, t, weight=_const(torch, W, x),
                                                                     reduction="sum")),
        OpCase("cross_entropy-ignore", lambda x, t: F.cross_entropy(x, t), _class_samples(_NC, -100),
               _ce_ref(), lambda torch, x, t: torch.nn.functional.cross_entropy(x, t)),
        OpCase("cross_entropy-ignore-nd-none", lambda x, t: F.cross_entropy(x, t, reduction="none"),
               _class_samples(_NCD, -100), _ce_ref(reduction="none"),
               lambda torch, x, t: torch.nn.functional.cross_entropy(x, t, reduction="none")),
        OpCase("cross_entropy-smoothing", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
               _class_samples(_NC), _ce_ref(label_smoothing=0.1),
               lambda torch, x, t: torch.nn.functional.cross_entropy(x, t, label_smoothing=0.1)),
        OpCase("cross_entropy-weight-smoothing-ignore",
               lambda x, t: F.cross_entropy(x, t, weight=W, ignore_index=2, label_smoothing=0.1),
               _class_samples(_NC, 2), _ce_ref(weight=W, ignore_index=2, label_smoothing=0.1),
               lambda torch, x, t: torch.nn.functional.cross_entropy(
                   x, t, weight=_const(torch, W, x), ignore_index=2, label_smoothing=0.1)),
        OpCase("cross_entropy-weight-smoothing-ignore-nd-none",
               lambda x, t: F.cross_entropy(x, t, weight=W, label_smoothing=0.2, reduction="none"),
               _class_samples(_NCD, -100), _ce_ref(weight=W, label_smoothing=0.2, reduction="none"),
               lambda torch, x, t: torch.nn.functional.cross_entropy(
                   x, t, weight=_const(torch, W, x), label_smoothing=0.2, reduction="none")),
        OpCase("cross_entropy-prob-smoothing-weight",
               lambda x, q: F.cross_entropy(x, q, weight=W, label_smoothing=0.1),
               _prob_samples(_NC), _ce_ref(weight=W, label_smoothing=0.1),
               lambda torch, x, q: torch.nn.functional.cross_entropy(
                   x, q, weight=_const(torch, W, x), label_smoothing=0.1)),
        OpCase("cross_entropy-prob-nd-target-grad",
               lambda x, q: F.cross_entropy(x, q, label_smoothing=0.1), _prob_samples(_NCD),
               _ce_ref(label_smoothing=0.1),
               lambda torch, x, q: torch.nn.functional.cross_entropy(x, q, label_smoothing=0.1)),
        OpCase("nll_loss-weight-ignore", lambda x, t: F.nll_loss(x, t, weight=W, ignore_index=2),
               _class_samples(_NC, 2), _ce_ref(weight=W, ignore_index=2, log_input=True),
               lambda torch, x, t: torch.nn.functional.nll_loss(x, t, weight=_const(torch, W, x),
                                                                ignore_index=2)),
        OpCase("nll_loss-weight-ignore-nd", lambda x, t: F.nll_loss(x, t, weight=W),
               _class_samples(_NCD, -100), _ce_ref(weight=W, log_input=True),
               lambda torch, x, t: torch.nn.functional.nll_loss(x, t, weight=_const(torch, W, x))),
    ]
    return rows


def _binary_rows():
    rows = []
    for reduction in ("mean", "sum", "none"):
        rows += [
            OpCase(f"binary_cross_entropy-{reduction}",
                   lambda x, t, r=reduction: F.binary_cross_entropy(x, t, reduction=r), _bce_samples,
                   _bce_ref(reduction=reduction),
                   lambda torch, x, t, r=reduction: torch.nn.functional.binary_cross_entropy(
                       x, t, reduction=r)),
            OpCase(f"binary_cross_entropy_with_logits-{reduction}",
                   lambda x, t, r=reduction: F.binary_cross_entropy_with_logits(x, t, reduction=r),
                   _logit_samples, _bce_logits_ref(reduction=reduction),
                   lambda torch, x, t, r=reduction: torch.nn.functional.binary_cross_entropy_with_logits(
                       x, t, reduction=r)),
        ]
    rows += [
        OpCase("binary_cross_entropy-weight", lambda x, t: F.binary_cross_entropy(x, t, weight=BW),
               _bce_samples, _bce_ref(weight=BW),
               lambda torch, x, t: torch.nn.functional.binary_cross_entropy(x, t, weight=_const(torch, BW, x))),
        OpCase("binary_cross_entropy_with_logits-weight",
               lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=BW), _logit_samples,
               _bce_logits_ref(weight=BW),
               lambda torch, x, t: torch.nn.functional.binary_cross_entropy_with_logits(
                   x, t, weight=_const(torch, BW, x))),
        OpCase("binary_cross_entropy_with_logits-pos_weight",
               lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=PW), _logit_samples,
               _bce_logits_ref(pos_weight=PW),
               lambda torch, x, t: torch.nn.functional.binary_cross_entropy_with_logits(
                   x, t, pos_weight=_const(torch, PW, x))),
        OpCase("binary_cross_entropy_with_logits-weight-pos_weight-none",
               lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=BW, pos_weight=PW,
                                                               reduction="none"),
               _logit_samples, _bce_logits_ref(weight=BW, pos_weight=PW, reduction="none"),
               lambda torch, x, t: torch.nn.functional.binary_cross_entropy_with_logits(
                   x, t, weight=_const(torch, BW, x), pos_weight=_const(torch, PW, x), reduction="none")),
    ]
    return rows


def _regression_rows():
    rows = []
    for reduction in ("mean", "sum", "none"):
        rows += [
            OpCase(f"mse_loss-{reduction}", lambda x, t, r=reduction: F.mse_loss(x, t, reduction=r),
                   _pair_samples(), lambda x, t, r=reduction: _reduce((x - t) ** 2, r),
                   lambda torch, x, t, r=reduction: torch.nn.functional.mse_loss(x, t, reduction=r)),
            OpCase(f"l1_loss-{reduction}", lambda x, t, r=reduction: F.l1_loss(x, t, reduction=r),
                   _pair_samples(), lambda x, t, r=reduction: _reduce(np.abs(x - t), r),
                   lambda torch, x, t, r=reduction: torch.nn.functional.l1_loss(x, t, reduction=r)),
            OpCase(f"smooth_l1_loss-{reduction}",
                   lambda x, t, r=reduction: F.smooth_l1_loss(x, t, reduction=r),
                   _pair_samples((-1.0, 0.0, 1.0), scale=1.5), _smooth_l1_ref(1.0, reduction),
                   lambda torch, x, t, r=reduction: torch.nn.functional.smooth_l1_loss(x, t, reduction=r)),
        ]
    rows += [
        OpCase("smooth_l1_loss-beta0.5", lambda x, t: F.smooth_l1_loss(x, t, beta=0.5),
               _pair_samples((-0.5, 0.0, 0.5)), _smooth_l1_ref(0.5, "mean"),
               lambda torch, x, t: torch.nn.functional.smooth_l1_loss(x, t, beta=0.5)),
        OpCase("smooth_l1_loss-beta0.5-none", lambda x, t: F.smooth_l1_loss(x, t, reduction="none", beta=0.5),
               _pair_samples((-0.5, 0.0, 0.5)), _smooth_l1_ref(0.5, "none"),
               lambda torch, x, t: torch.nn.functional.smooth_l1_loss(x, t, reduction="none", beta=0.5)),
    ]
    return rows


_OTHER_ROWS = [
    OpCase("dropout-p0.3", lambda x: F.dropout(x, 0.3, rng=lucidnn.Generator(7)), _dropout_samples,
           _dropout_ref(0.3, 7)),
    OpCase("dropout-p0.5", lambda x: F.dropout(x, rng=lucidnn.Generator(11)), _dropout_samples,
           _dropout_ref(0.5, 11)),
    OpCase("embedding", lambda i, w: F.embedding(i, w), _embedding_samples, lambda i, w: w[i],
           lambda torch, i, w: torch.nn.functional.embedding(i, w)),
    # padding_idx's zero gradient is a convention, not a derivative, so finite differences would
    # disagree; masking the padding positions out of the output makes the two agree again
    OpCase("embedding-padding_idx", lambda i, w: F.embedding(i, w, padding_idx=2) * (i.data != 2)[..., None],
           _embedding_samples, lambda i, w: w[i] * (i != 2)[..., None],
           lambda torch, i, w: torch.nn.functional.embedding(i, w, padding_idx=2) * (i != 2)[..., None]),
]

CASES = _ce_rows() + _binary_rows() + _regression_rows() + _OTHER_ROWS
