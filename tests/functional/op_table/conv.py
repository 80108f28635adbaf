"""Op-table rows for conv1d/conv2d (every padding mode, stride, dilation, groups, flip) and
conv_transpose1d/2d (stride, padding, output_padding, groups, dilation).

The NumPy references are naive loops over the kernel offsets (gather for conv, scatter for
the transposed conv), independent of the im2col machinery. Rows with at least 6 channels per
group take the channels-last layout, the others the K-major one, so both are covered.
Torch parity: ``torch.nn.functional.conv*``; ``flip`` flips torch's kernel; ``'same'`` with a
stride or an even kernel, and ``'full'``, pad explicitly with ``F.pad`` (the asymmetric split
computed by :func:`_pads`), since torch's own ``padding='same'`` only exists for stride 1.
"""

from __future__ import annotations

import math

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase

# --------------------------------------------------------------------------- references


def _pads(size: int, k: int, stride: int, padding, dilation: int) -> tuple:
    """(before, after) zeros for one axis, as the docstring of conv2d defines the modes."""
    dk = dilation * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return dk - 1, dk - 1
    if padding == "same":
        total = max((math.ceil(size / stride) - 1) * stride + dk - size, 0)
        return total // 2, total - total // 2
    return padding, padding


def _conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, flip=False):
    """Naive cross-correlation: one gather and one einsum per kernel offset and group."""
    if flip:
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = (_pads(h, kh, stride[0], padding[0], dilation[0]),
                          _pads(wd, kw, stride[1], padding[1], dilation[1]))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    for gi in range(groups):
        xg, wg = xp[:, gi * cg:(gi + 1) * cg], w[gi * og:(gi + 1) * og]
        for u in range(kh):
            for v in range(kw):
                r0, c0 = u * dilation[0], v * dilation[1]
                patch = xg[:, :, r0:r0 + (ho - 1) * stride[0] + 1:stride[0], c0:c0 + (wo - 1) * stride[1] + 1:stride[1]]
                y[:, gi * og:(gi + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, u, v])
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _conv_transpose2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                          dilation=(1, 1)):
    """Naive transposed conv: every input pixel scatters the kernel times its value."""
    n, c_in, h, wd = x.shape
    _, og, kh, kw = w.shape
    ho = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    wo = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((n, og * groups, ho + 2 * padding[0], wo + 2 * padding[1]))
    cg = c_in // groups
    for gi in range(groups):
        xg, wg = x[:, gi * cg:(gi + 1) * cg], w[gi * cg:(gi + 1) * cg]
        for u in range(kh):
            for v in range(kw):
                r0, c0 = u * dilation[0], v * dilation[1]
                full[:, gi * og:(gi + 1) * og, r0:r0 + (h - 1) * stride[0] + 1:stride[0],
                     c0:c0 + (wd - 1) * stride[1] + 1:stride[1]] += np.einsum("nchw,co->nohw", xg, wg[:, :, u, v])
    y = full[:, :, padding[0]:padding[0] + ho, padding[1]:padding[1] + wo]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# --------------------------------------------------------------------------- rows


def _per_axis(value, spatial: int) -> tuple:
    return value if isinstance(value, tuple) else (value,) * spatial


def _conv_case(name: str, spatial: int, x_shapes: list, w_shape: tuple, *, bias: bool = True, stride=1,
               padding=0, dilation=1, groups=1, flip=False) -> OpCase:
    op = F.conv2d if spatial == 2 else F.conv1d
    st, dl = _per_axis(stride, spatial), _per_axis(dilation, spatial)
    pd = _per_axis(padding, spatial)

    def fn(x, w, b=None):
        return op(x, w, b, stride, padding, dilation, groups, flip=flip)

    def reference(x, w, b=None):
        if spatial == 2:
            return _conv2d_ref(x, w, b, st, pd, dl, groups, flip)
        return _conv2d_ref(x[:, :, None], w[:, :, None], b, (1,) + st, (0,) + pd, (1,) + dl, groups,
                           flip)[:, :, 0]

    def torch_fn(torch, x, w, b=None):
        if flip:
            w = w.flip(tuple(range(2, 2 + spatial)))
        pads = [_pads(size, k, s, p, d) for size, k, s, p, d in zip(x.shape[2:], w.shape[2:], st, pd, dl)]
        flat = [v for pair in reversed(pads) for v in pair]  # F.pad wants the last axis first
        tf = torch.nn.functional
        conv = tf.conv2d if spatial == 2 else tf.conv1d
        return conv(tf.pad(x, flat), w, b, st, 0, dl, groups)

    def samples(rng):
        return [(rng.standard_normal(s), rng.standard_normal(w_shape))
                + ((rng.standard_normal(w_shape[0]),) if bias else ()) for s in x_shapes]

    return OpCase(name, fn, samples, reference, torch_fn)


def _transpose_case(name: str, spatial: int, x_shapes: list, w_shape: tuple, *, bias: bool = True, stride=1,
                    padding=0, output_padding=0, groups=1, dilation=1) -> OpCase:
    op = F.conv_transpose2d if spatial == 2 else F.conv_transpose1d
    st, pd, opd, dl = (_per_axis(v, spatial) for v in (stride, padding, output_padding, dilation))
    c_out = w_shape[1] * groups

    def fn(x, w, b=None):
        return op(x, w, b, stride, padding, output_padding, groups, dilation)

    def reference(x, w, b=None):
        if spatial == 2:
            return _conv_transpose2d_ref(x, w, b, st, pd, opd, groups, dl)
        return _conv_transpose2d_ref(x[:, :, None], w[:, :, None], b, (1,) + st, (0,) + pd, (0,) + opd, groups,
                                     (1,) + dl)[:, :, 0]

    def torch_fn(torch, x, w, b=None):
        conv = torch.nn.functional.conv_transpose2d if spatial == 2 else torch.nn.functional.conv_transpose1d
        return conv(x, w, b, st, pd, opd, groups, dl)

    def samples(rng):
        return [(rng.standard_normal(s), rng.standard_normal(w_shape))
                + ((rng.standard_normal(c_out),) if bias else ()) for s in x_shapes]

    return OpCase(name, fn, samples, reference, torch_fn)


# x shapes per row: a batch, batch 1, and an odd size (the driver adds Fortran-ordered copies)
_X2 = [(2, 3, 5, 5), (1, 3, 4, 6), (2, 3, 6, 5)]
_X1 = [(2, 3, 7), (1, 3, 6), (3, 3, 5)]

CASES = [
    # conv2d
    _conv_case("conv2d", 2, _X2, (4, 3, 3, 3)),
    _conv_case("conv2d-no-bias", 2, _X2, (4, 3, 3, 3), bias=False),
    _conv_case("conv2d-1x1", 2, _X2, (2, 3, 1, 1)),
    _conv_case("conv2d-stride2", 2, _X2, (2, 3, 3, 3), stride=2, padding=1),
    # fewer column entries than image entries: the columns are gathered from the input's own memory
    _conv_case("conv2d-1x1-stride2", 2, _X2, (2, 3, 1, 1), stride=2),
    _conv_case("conv2d-channels-last-1x1-stride2", 2, [(2, 6, 4, 5), (1, 6, 5, 3)], (3, 6, 1, 1), stride=2),
    _conv_case("conv2d-stride-tuple", 2, [(2, 2, 7, 6), (1, 2, 5, 5)], (2, 2, 2, 3), stride=(2, 1)),
    _conv_case("conv2d-dilation2", 2, [(2, 2, 6, 6), (1, 2, 5, 7)], (3, 2, 2, 2), dilation=2),
    _conv_case("conv2d-dilation-tuple", 2, [(2, 2, 6, 6), (1, 2, 5, 7)], (3, 2, 2, 3), dilation=(2, 1), padding=1),
    _conv_case("conv2d-groups2", 2, [(2, 4, 4, 4), (1, 4, 5, 3)], (6, 2, 2, 2), groups=2),
    _conv_case("conv2d-depthwise", 2, [(2, 3, 4, 4), (1, 3, 5, 3)], (6, 1, 2, 2), groups=3, padding=1),
    _conv_case("conv2d-padding-tuple", 2, _X2, (2, 3, 2, 3), padding=(1, 2)),
    _conv_case("conv2d-valid", 2, _X2, (2, 3, 3, 2), padding="valid"),
    _conv_case("conv2d-same", 2, _X2, (2, 3, 3, 3), padding="same"),
    _conv_case("conv2d-same-even", 2, _X2, (2, 3, 2, 4), padding="same"),
    _conv_case("conv2d-same-stride2", 2, _X2, (2, 3, 3, 3), padding="same", stride=2),
    _conv_case("conv2d-same-stride2-even", 2, _X2, (2, 3, 2, 4), padding="same", stride=2),
    _conv_case("conv2d-same-dilation2", 2, _X2, (2, 3, 2, 3), padding="same", dilation=2),
    _conv_case("conv2d-full", 2, [(2, 2, 3, 4), (1, 2, 4, 3)], (2, 2, 3, 2), padding="full"),
    _conv_case("conv2d-flip", 2, _X2, (2, 3, 2, 3), flip=True),
    _conv_case("conv2d-flip-full", 2, [(2, 2, 3, 4), (1, 2, 4, 3)], (2, 2, 3, 2), padding="full", flip=True),
    _conv_case("conv2d-one-channel", 2, [(2, 1, 5, 5), (1, 1, 6, 4)], (3, 1, 3, 3), padding=1),
    # at least 6 channels per group: the channels-last layout
    _conv_case("conv2d-channels-last", 2, [(2, 6, 3, 4), (1, 6, 4, 4)], (2, 6, 2, 2), padding=1),
    _conv_case("conv2d-channels-last-groups2", 2, [(1, 12, 3, 3), (2, 12, 3, 2)], (4, 6, 2, 2), groups=2,
               stride=(1, 2), padding="same"),
    _conv_case("conv2d-channels-last-dilation", 2, [(1, 6, 5, 5), (2, 6, 4, 5)], (2, 6, 2, 2), dilation=2),
    # 16+ input channels, stride 1: the image gradient is the rotated-kernel correlation
    _conv_case("conv2d-rotated-gradient", 2, [(2, 16, 4, 4), (1, 16, 3, 5)], (3, 16, 3, 3), padding=1),
    _conv_case("conv2d-rotated-gradient-same-even", 2, [(1, 16, 4, 5), (2, 16, 3, 3)], (2, 16, 2, 4), padding="same",
               dilation=(2, 1)),
    _conv_case("conv2d-rotated-gradient-full-groups", 2, [(1, 32, 3, 3), (2, 32, 2, 4)], (4, 16, 2, 3),
               padding="full", groups=2),
    # few input channels, 16+ outputs: a K-major conv whose output lands channels-last
    _conv_case("conv2d-k-major-nhwc-output", 2, [(2, 3, 4, 4), (1, 3, 3, 5)], (16, 3, 3, 3), padding=1),
    # conv1d
    _conv_case("conv1d", 1, _X1, (4, 3, 3)),
    _conv_case("conv1d-no-bias", 1, _X1, (4, 3, 3), bias=False),
    _conv_case("conv1d-stride2", 1, _X1, (2, 3, 3), stride=2, padding=1),
    _conv_case("conv1d-dilation2", 1, _X1, (2, 3, 2), dilation=2),
    _conv_case("conv1d-groups2", 1, [(2, 4, 5), (1, 4, 6)], (6, 2, 3), groups=2),
    _conv_case("conv1d-depthwise", 1, [(2, 3, 5), (1, 3, 6)], (3, 1, 3), groups=3),
    _conv_case("conv1d-padding", 1, _X1, (2, 3, 2), padding=2),
    _conv_case("conv1d-valid", 1, _X1, (2, 3, 3), padding="valid"),
    _conv_case("conv1d-same", 1, _X1, (2, 3, 3), padding="same"),
    _conv_case("conv1d-same-even", 1, _X1, (2, 3, 4), padding="same"),
    _conv_case("conv1d-same-stride2", 1, _X1, (2, 3, 3), padding="same", stride=2),
    _conv_case("conv1d-same-stride2-even", 1, _X1, (2, 3, 2), padding="same", stride=2),
    _conv_case("conv1d-full", 1, _X1, (2, 3, 3), padding="full"),
    _conv_case("conv1d-flip", 1, _X1, (2, 3, 3), flip=True),
    _conv_case("conv1d-flip-same", 1, _X1, (2, 3, 4), flip=True, padding="same"),
    _conv_case("conv1d-channels-last", 1, [(2, 6, 5), (1, 6, 4)], (3, 6, 2), padding=1),
    # conv_transpose2d
    _transpose_case("conv_transpose2d", 2, [(2, 3, 3, 3), (1, 3, 2, 4)], (3, 2, 3, 3)),
    _transpose_case("conv_transpose2d-no-bias", 2, [(2, 3, 3, 3), (1, 3, 2, 4)], (3, 2, 3, 3), bias=False),
    _transpose_case("conv_transpose2d-stride2", 2, [(2, 2, 3, 3), (1, 2, 2, 3)], (2, 2, 3, 3), stride=2),
    _transpose_case("conv_transpose2d-padding", 2, [(2, 2, 3, 3), (1, 2, 4, 3)], (2, 2, 3, 2), padding=(1, 0)),
    _transpose_case("conv_transpose2d-output-padding", 2, [(2, 2, 3, 3), (1, 2, 2, 3)], (2, 2, 3, 3), stride=2,
                    padding=1, output_padding=1),
    _transpose_case("conv_transpose2d-output-padding-dilation", 2, [(1, 2, 3, 3), (2, 2, 2, 3)], (2, 2, 2, 2),
                    stride=1, output_padding=1, dilation=2),
    _transpose_case("conv_transpose2d-groups2", 2, [(2, 4, 3, 3), (1, 4, 2, 3)], (4, 3, 2, 2), groups=2,
                    stride=(2, 1)),
    _transpose_case("conv_transpose2d-dilation2", 2, [(2, 2, 3, 3), (1, 2, 2, 3)], (2, 2, 2, 2), dilation=2),
    _transpose_case("conv_transpose2d-channels-last", 2, [(1, 2, 3, 3), (2, 2, 2, 2)], (2, 6, 2, 2), stride=2,
                    padding=1, output_padding=1),
    # conv_transpose1d
    _transpose_case("conv_transpose1d", 1, [(2, 3, 4), (1, 3, 5)], (3, 2, 3)),
    _transpose_case("conv_transpose1d-no-bias", 1, [(2, 3, 4), (1, 3, 5)], (3, 2, 3), bias=False),
    _transpose_case("conv_transpose1d-stride2", 1, [(2, 3, 4), (1, 3, 5)], (3, 2, 3), stride=2, padding=1),
    _transpose_case("conv_transpose1d-output-padding", 1, [(2, 3, 4), (1, 3, 5)], (3, 2, 3), stride=3,
                    padding=1, output_padding=2),
    _transpose_case("conv_transpose1d-groups2", 1, [(2, 4, 4), (1, 4, 5)], (4, 2, 3), groups=2, dilation=2),
    _transpose_case("conv_transpose1d-channels-last", 1, [(2, 2, 4), (1, 2, 3)], (2, 6, 3), stride=2),
]
