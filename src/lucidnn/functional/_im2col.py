r"""The column (im2col) machinery behind conv and conv_transpose, on raw ``xp`` arrays.

A 2-D convolution (cross-correlation) of an image ``x`` (N, C, H, W) with a weight ``w``
(O, C/g, kh, kw) in ``g`` groups is, per group, one matrix product: every output pixel's
receptive field is copied into one row of a column matrix (im2col) and multiplied by the
weight reshaped to a matrix. Three operations use that picture, and both conv and
conv_transpose are built from them:

* :func:`conv_forward` ``(image, w) -> (N, O, Ho, Wo)``: im2col, then one GEMM per group;
* :func:`grad_weight` ``(columns side, image) -> w``: the columns transposed times the output
  gradient, one GEMM per group;
* :func:`grad_input` ``(columns side, w) -> image``: for stride 1, the forward correlation
  of the zero-padded gy with the rotated kernel (:func:`_grad_input_by_rotation`); otherwise
  col2im, the adjoint of im2col: one batched GEMM gives a slab per kernel offset (u, v); each
  slab is added into the strided slice of the padded image it was read from (kh*kw
  slice-adds over long contiguous runs, never ``np.add.at``), or the separable variant.

Narrow stride-1 images (LeNet-5) skip the columns: :mod:`lucidnn.functional._rows` runs
each of the three as one square GEMM against the kernel laid out as a banded (Toeplitz)
matrix over image rows (docs/conv.md).

Two memory layouts (PERFORMANCE.md, items 3 and 4), chosen per conv by channels per group:

* **channels-last** (C/g >= :data:`CHANNELS_LAST_MIN_CHANNELS`): the padded image is NHWC and
  a column row is ordered (kh, kw, C/g), so building the columns copies runs of kw*C floats;
  the output lands in NHWC memory;
* **K-major** (few channels, e.g. an RGB stem): the padded image is CNHW and the columns are
  (C/g*kh*kw, N*Ho*Wo), copied in runs of Wo floats; the output lands in NHWC memory from
  :data:`KMAJOR_NHWC_MIN_OUT` outputs on, else in CNHW memory.

Either way the result is returned as an (N, C, H, W) *view* of that memory (``transpose``),
so no extra copy is made; NumPy and CuPy handle any strides, and the next conv's
``transpose`` back to its own layout is free when the layouts agree.

The batch is processed in chunks whose column matrix (or col2im slabs) stays under
:data:`COLUMN_CAP_BYTES`, small enough for the copy and the GEMM to meet in cache.
Temporaries (padded images, chunk columns, slabs) live in a per-thread workspace reused
from call to call (:func:`lucidnn.functional._workspace.scratch`). A forward that the weight
gradient will follow may instead fill kept columns (``keep``, from
:func:`lucidnn.functional._workspace.keep`) that backward reads back. Results come from the
workspace's pool of unreferenced arrays (:func:`lucidnn.functional._workspace.output`), so a
training loop does not fault in fresh pages every step; :func:`clear_workspace` frees it all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lucidnn import backend
from lucidnn.functional._workspace import clear_workspace
from lucidnn.functional._workspace import output as _output
from lucidnn.functional._workspace import scratch as _scratch

__all__ = ["Geometry", "choose_channels_last", "clear_workspace", "conv_forward", "grad_input", "grad_weight"]

#: upper bound on the bytes of one chunk's column matrix: the batch is chunked to stay under it,
#: so that the copy and its GEMM meet in cache (a ResNet 3x3 forward: 12 ms vs 17 ms unchunked)
COLUMN_CAP_BYTES = 4 * 2**20
#: the forwards of a graph keep their columns for the weight gradients up to this many bytes
#: in all (per thread); past it, backward rebuilds them chunk by chunk
KEEP_COLUMNS_MAX_BYTES = 512 * 2**20
#: channels per group from which the channels-last layout is used (K-major below)
CHANNELS_LAST_MIN_CHANNELS = 6
#: K-major convs with this many output channels (one group) write NHWC output
KMAJOR_NHWC_MIN_OUT = 16
#: stride-1 channels-last convs with this many input channels per group take the image
#: gradient as a forward correlation with the rotated kernel (:func:`_grad_input_by_rotation`)
ROTATION_MIN_CHANNELS = 16
#: ... while its work, (H*W) / (Ho*Wo) times the forward's, stays within this factor
ROTATION_MAX_WASTE = 1.5
#: stride-1 col2im is separable while the padded image is at most this many times the output
SEPARABLE_MAX_WASTE = 2.0


@dataclass(frozen=True)
class Geometry:
    """Sizes of one 2-D convolution, seen from the conv: image (N, C, H, W) -> output (N, O, Ho, Wo).

    ``top``/``left`` is the zero padding before the image, ``hp``/``wp`` the padded size (any
    padding after is ``hp - top - h``). ``ho``/``wo`` are given, not derived, because
    conv_transpose's ``output_padding`` can leave padded rows that no window reaches.
    """

    n: int
    c: int
    o: int
    groups: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    h: int
    w: int
    top: int
    left: int
    hp: int
    wp: int
    ho: int
    wo: int
    channels_last: bool

    @property
    def cg(self) -> int:
        return self.c // self.groups

    @property
    def og(self) -> int:
        return self.o // self.groups

    @property
    def column_size(self) -> int:
        """Elements of one sample's column matrix: Ho*Wo * kh*kw*C (all groups)."""
        return self.ho * self.wo * self.kh * self.kw * self.c

    def chunks(self, per_sample: int) -> list[slice]:
        """Batch slices of at most COLUMN_CAP_BYTES // per_sample samples (at least one)."""
        step = max(1, COLUMN_CAP_BYTES // max(per_sample, 1))
        return [slice(i, min(i + step, self.n)) for i in range(0, self.n, step)]


def choose_channels_last(channels_per_group: int) -> bool:
    """The layout rule: channels-last from :data:`CHANNELS_LAST_MIN_CHANNELS` channels per group."""
    return channels_per_group >= CHANNELS_LAST_MIN_CHANNELS


def output_channels_last(geo: Geometry) -> bool:
    """Whether :func:`conv_forward` writes NHWC memory (else CNHW).

    Channels-last convs do; so does a K-major conv (few input channels, e.g. an RGB stem) with
    one group and at least :data:`KMAJOR_NHWC_MIN_OUT` outputs, so that the batch norm,
    activation, residual add and next conv after it all see one layout (a mixed-layout add
    or a transposing copy costs more than the transposed product). A narrow K-major conv
    (LeNet's C1, 6 maps) stays CNHW, which its pooling reads fastest.
    """
    return geo.channels_last or (geo.groups == 1 and geo.o >= KMAJOR_NHWC_MIN_OUT)


# --------------------------------------------------------------------------- layout helpers


def padded_image(x: Any, geo: Geometry, rows: slice) -> Any:
    """Samples ``rows`` of the image (N, C, H, W), zero-padded: (n, Hp, Wp, C) or (C, n, Hp, Wp)."""
    x = x[rows]
    n = x.shape[0]
    unpadded = (geo.hp, geo.wp) == (geo.h, geo.w)
    # a subsampling conv (1x1 stride 2) reads fewer elements than the image has: gather directly
    use_view = unpadded and geo.column_size < geo.c * geo.h * geo.w
    if geo.channels_last:
        x = x.transpose(0, 2, 3, 1)  # gathering columns from NCHW memory is ~5x slower than this copy
        if (unpadded and x.flags.c_contiguous) or use_view:
            return x
        out = _scratch(x, "image", (n, geo.hp, geo.wp, geo.c), x.dtype)
        for part in _border(out, geo, axes=(1, 2)):
            part[...] = 0
        out[:, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w, :] = x
        return out
    x = x.transpose(1, 0, 2, 3)
    if (unpadded and x.flags.c_contiguous) or use_view:
        return x
    out = _scratch(x, "image", (geo.c, n, geo.hp, geo.wp), x.dtype)
    for part in _border(out, geo, axes=(2, 3)):
        part[...] = 0
    out[:, :, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w] = x
    return out


def _border(a: Any, geo: Geometry, axes: tuple) -> list:
    """The four padding strips of ``a`` around the image [top:top+h, left:left+w] on ``axes``."""
    h_axis, w_axis = axes
    rows = [slice(0, geo.top), slice(geo.top + geo.h, a.shape[h_axis])]
    inner = slice(geo.top, geo.top + geo.h)
    cols = [slice(0, geo.left), slice(geo.left + geo.w, a.shape[w_axis])]
    strips = []
    for r in rows:
        index = [slice(None)] * a.ndim
        index[h_axis] = r
        strips.append(a[tuple(index)])
    for c in cols:
        index = [slice(None)] * a.ndim
        index[h_axis], index[w_axis] = inner, c
        strips.append(a[tuple(index)])
    return [s for s in strips if s.size]


def _columns(padded: Any, geo: Geometry, out: Any = None) -> Any:
    """The column matrices of a padded chunk: (g, M, K) channels-last, (g, K, M) K-major.

    M = n*Ho*Wo output pixels, K = kh*kw*C/g ordered (kh, kw, C/g) channels-last and
    (C/g, kh, kw) K-major. Built as one strided view (no loop over pixels) copied into the
    workspace, or into ``out`` (a slice of kept columns).
    """
    xp = backend.get_array_module(padded)
    g, cg, geo_k = geo.groups, geo.cg, geo.kh * geo.kw * geo.cg
    if geo.channels_last:
        n = padded.shape[0]
        s_n, s_h, s_w, s_c = padded.strides
        item = padded.itemsize
        if g == 1 and geo.dw == 1 and s_w == cg * item and (cg == 1 or s_c == item):
            # (kw, C) is one contiguous run: one axis makes the copy loop ~25% faster
            shape = (1, n, geo.ho, geo.wo, geo.kh, geo.kw * cg)
            strides = (0, s_n, geo.sh * s_h, geo.sw * s_w, geo.dh * s_h, item)
        else:
            shape = (g, n, geo.ho, geo.wo, geo.kh, geo.kw, cg)
            strides = (cg * s_c, s_n, geo.sh * s_h, geo.sw * s_w, geo.dh * s_h, geo.dw * s_w, s_c)
        out_shape = (g, n * geo.ho * geo.wo, geo_k)
    else:
        n = padded.shape[1]
        s_c, s_n, s_h, s_w = padded.strides
        shape = (g, cg, geo.kh, geo.kw, n, geo.ho, geo.wo)
        strides = (cg * s_c, s_c, geo.dh * s_h, geo.dw * s_w, s_n, geo.sh * s_h, geo.sw * s_w)
        out_shape = (g, geo_k, n * geo.ho * geo.wo)
    cols = _scratch(padded, "columns", out_shape, padded.dtype) if out is None else out
    target = cols.view()
    target.shape = shape  # raises rather than copy if ``out`` is a view that cannot take the shape
    target[...] = xp.lib.stride_tricks.as_strided(padded, shape, strides)  # the copy
    return cols


def _weight_matrix(w: Any, geo: Geometry) -> Any:
    """w (O, C/g, kh, kw) as (g, K, O/g) channels-last or (g, O/g, K) K-major, K ordered as the columns."""
    g, og, k = geo.groups, geo.og, geo.kh * geo.kw * geo.cg
    if geo.channels_last:
        return w.reshape(g, og, geo.cg, geo.kh, geo.kw).transpose(0, 3, 4, 2, 1).reshape(g, k, og)
    return w.reshape(g, og, k)


def _output_matrix(y: Any, geo: Geometry, rows: slice) -> Any:
    """Samples ``rows`` of an (N, O, Ho, Wo) array as (g, M, O/g) channels-last or (g, O/g, M) K-major.

    With one group the matrix is a strided view of y's NHWC or CNHW memory whenever BLAS can
    read it as it is (a plain or transposed matrix); otherwise a workspace copy.
    """
    y = y[rows]
    m = y.shape[0] * geo.ho * geo.wo
    if geo.groups == 1:
        item = y.itemsize
        nhwc, cnhw = y.transpose(0, 2, 3, 1), y.transpose(1, 0, 2, 3)
        mat = None
        if nhwc.flags.c_contiguous:
            mat = nhwc.reshape(m, geo.o)
        elif cnhw.strides[1:] == (geo.ho * geo.wo * item, geo.wo * item, item):
            mat = cnhw.reshape(geo.o, m).T  # (M, O) view, rows of O at a stride
        if mat is not None:
            return (mat if geo.channels_last else mat.T)[None]
    y = y.transpose(0, 2, 3, 1) if geo.channels_last else y.transpose(1, 0, 2, 3)
    if not y.flags.c_contiguous:
        y = workspace_copy(y, "rows")
    if geo.channels_last:
        return y.reshape(m, geo.groups, geo.og).transpose(1, 0, 2)
    return y.reshape(geo.groups, geo.og, m)


def workspace_copy(a: Any, role: str) -> Any:
    """A C-contiguous copy of ``a`` in the workspace."""
    out = _scratch(a, role, a.shape, a.dtype)
    out[...] = a
    return out


def _matmul_into(out: Any, a: Any, b: Any) -> None:
    """out[...] = a @ b for (g, ., .) stacks; one group is a plain 2-D product written in place."""
    if a.shape[0] == 1:  # NumPy's batched matmul with a strided out= can miss BLAS; 2-D does not
        backend.get_array_module(a).matmul(a[0], b[0], out=out[0])
    else:
        out[...] = backend.get_array_module(a).matmul(a, b)


def _matmul(a: Any, b: Any) -> Any:
    """a @ b for (g, ., .) stacks; one group as a plain 2-D product (strided views go to BLAS as they are)."""
    if a.shape[0] == 1:
        return backend.get_array_module(a).matmul(a[0], b[0])[None]
    return backend.get_array_module(a).matmul(a, b)


def swap_last(a: Any) -> Any:
    """Swap the last two axes (a free, BLAS-friendly transposed view)."""
    return a.swapaxes(-1, -2)


# --------------------------------------------------------------------------- the three operations


def column_shape(geo: Geometry) -> tuple:
    """Shape of the whole batch's column matrices: (g, M, K) channels-last, (g, K, M) K-major."""
    m, k = geo.n * geo.ho * geo.wo, geo.kh * geo.kw * geo.cg
    return (geo.groups, m, k) if geo.channels_last else (geo.groups, k, m)


def keeps_columns(shape: tuple, itemsize: int, kept: int) -> bool:
    """Whether a forward should keep its columns (of ``shape``) for the weight gradient, ``kept``
    bytes being held already: all kept columns within :data:`KEEP_COLUMNS_MAX_BYTES`.
    Reading them back beats building them again (ResNet step -11 to -16%, LeNet-5 -11%)."""
    return kept + itemsize * math.prod(shape) <= KEEP_COLUMNS_MAX_BYTES


def conv_forward(x: Any, w: Any, geo: Geometry, *, keep: Any = None) -> tuple[Any, list | None]:
    """Cross-correlate the image x (N, C, H, W) with w (O, C/g, kh, kw): (N, O, Ho, Wo), no bias.

    Returns the output (an NCHW view of NHWC or CNHW memory, see :func:`output_channels_last`)
    and ``[columns]`` of the whole batch for :func:`grad_weight`, or None. The columns are
    ``keep`` (an array of :func:`column_shape`, filled chunk by chunk) when it is given, else
    workspace memory, valid only until the next call into this module, when the batch fit in
    one chunk.
    """
    xp = backend.get_array_module(x)
    dtype = xp.result_type(x.dtype, w.dtype)
    chunks = geo.chunks(geo.column_size * dtype.itemsize)
    wmat = _weight_matrix(w, geo)
    nhwc = output_channels_last(geo)
    y = _output(x, (geo.n, geo.ho, geo.wo, geo.o) if nhwc else (geo.o, geo.n, geo.ho, geo.wo), dtype)
    pixels = geo.ho * geo.wo
    for rows in chunks:
        out = None
        if keep is not None:
            m = slice(rows.start * pixels, rows.stop * pixels)
            out = keep[:, m] if geo.channels_last else keep[:, :, m]
        cols = _columns(padded_image(x, geo, rows), geo, out)
        if geo.channels_last:
            _matmul_into(y[rows].reshape(-1, geo.groups, geo.og).swapaxes(0, 1), cols, wmat)  # (g, M, O/g)
        elif nhwc:  # K-major columns, one group: y (M, O) = cols^T w^T
            xp.matmul(swap_last(cols[0]), swap_last(wmat[0]), out=y[rows].reshape(-1, geo.o))
        else:
            _matmul_into(y[:, rows].reshape(geo.groups, geo.og, -1), wmat, cols)  # (g, O/g, M)
    y = y.transpose(0, 3, 1, 2) if nhwc else y.transpose(1, 0, 2, 3)
    if keep is not None:
        return y, [keep]
    return y, ([cols] if len(chunks) == 1 else None)


def grad_weight(gy: Any, geo: Geometry, *, columns: list | None = None, image: Any = None) -> Any:
    r"""gW = \sum_{pixels} gy \otimes column: (O, C/g, kh, kw), one GEMM per group and chunk.

    ``gy`` (N, O, Ho, Wo) is the columns side; the columns come from ``columns`` (the whole
    batch's, as returned by :func:`conv_forward`) or are rebuilt chunk by chunk from ``image``
    (N, C, H, W).
    """
    xp = backend.get_array_module(gy)
    k = geo.kh * geo.kw * geo.cg
    shape = (geo.groups, k, geo.og) if geo.channels_last else (geo.groups, geo.og, k)
    gw = xp.zeros(shape, dtype=gy.dtype)
    chunks = [slice(0, geo.n)] if columns is not None else geo.chunks(geo.column_size * gy.dtype.itemsize)
    for rows in chunks:
        cols = columns[0] if columns is not None else _columns(padded_image(image, geo, rows), geo)
        g_rows = _output_matrix(gy, geo, rows)
        if geo.channels_last:
            gw += _matmul(swap_last(cols), g_rows)  # (g, K, M) @ (g, M, O/g)
        else:
            gw += _matmul(g_rows, swap_last(cols))  # (g, O/g, M) @ (g, M, K)
    if geo.channels_last:
        gw = gw.reshape(geo.groups, geo.kh, geo.kw, geo.cg, geo.og).transpose(0, 4, 3, 1, 2)
    return gw.reshape(geo.o, geo.cg, geo.kh, geo.kw)


def grad_input(gy: Any, w: Any, geo: Geometry) -> Any:
    r"""col2im: the image gradient (N, C, H, W) = im2col^T (gy W), the adjoint of :func:`conv_forward`.

    One batched GEMM per chunk gives, for each kernel offset (u, v), the slab of
    contributions that offset sent to the image; the slab is added into the strided slice
    ``[u*dh :: sh, v*dw :: sw]`` of the padded image. The padding is cropped at the end.
    Stride-1 convs whose padding is small against the output take :func:`_grad_input_separable`.
    """
    xp = backend.get_array_module(gy)
    dtype = xp.result_type(gy.dtype, w.dtype)
    if _rotation_applies(geo):
        return _grad_input_by_rotation(gy, w, geo)
    if geo.sh == geo.sw == 1 and geo.hp * geo.wp <= SEPARABLE_MAX_WASTE * geo.ho * geo.wo:
        return _grad_input_separable(gy, w, geo, dtype)
    g, cg, og, kh, kw = geo.groups, geo.cg, geo.og, geo.kh, geo.kw
    rows_h = [slice(u * geo.dh, u * geo.dh + (geo.ho - 1) * geo.sh + 1, geo.sh) for u in range(kh)]
    rows_w = [slice(v * geo.dw, v * geo.dw + (geo.wo - 1) * geo.sw + 1, geo.sw) for v in range(kw)]
    if geo.channels_last:
        gx = _output(gy, (geo.n, geo.hp, geo.wp, geo.c), dtype, zero=True)
        # (g, kh*kw, O/g, C/g): one (O/g, C/g) matrix per kernel offset
        w_slabs = w.reshape(g, og, cg, kh, kw).transpose(0, 3, 4, 1, 2).reshape(g, kh * kw, og, cg)
    else:
        gx = _output(gy, (geo.c, geo.n, geo.hp, geo.wp), dtype, zero=True)
        w_t = swap_last(_weight_matrix(w, geo))  # (g, K, O/g)
    for rows in geo.chunks(geo.column_size * dtype.itemsize):
        g_rows = _output_matrix(gy, geo, rows)
        if geo.channels_last:
            n = g_rows.shape[1] // (geo.ho * geo.wo)
            slabs = _scratch(gy, "slabs", (g, kh * kw, n * geo.ho * geo.wo, cg), dtype)
            xp.matmul(g_rows[:, None], w_slabs, out=slabs)  # (g, kh*kw, M, C/g)
            slabs = slabs.reshape(g, kh, kw, n, geo.ho, geo.wo, cg).transpose(1, 2, 3, 4, 5, 0, 6)
            target = gx[rows].reshape(n, geo.hp, geo.wp, g, cg)
            for u in range(kh):
                for v in range(kw):
                    target[:, rows_h[u], rows_w[v]] += slabs[u, v]  # (n, Ho, Wo, g, C/g)
        else:
            n = g_rows.shape[2] // (geo.ho * geo.wo)
            slabs = _scratch(gy, "slabs", (g, w_t.shape[1], n * geo.ho * geo.wo), dtype)
            _matmul_into(slabs, w_t, g_rows)
            slabs = slabs.reshape(geo.c, kh, kw, n, geo.ho, geo.wo)
            target = gx[:, rows]
            for u in range(kh):
                for v in range(kw):
                    target[:, :, rows_h[u], rows_w[v]] += slabs[:, u, v]  # (C, n, Ho, Wo)
    crop_h, crop_w = slice(geo.top, geo.top + geo.h), slice(geo.left, geo.left + geo.w)
    if geo.channels_last:
        return gx[:, crop_h, crop_w, :].transpose(0, 3, 1, 2)
    return gx[:, :, crop_h, crop_w].transpose(1, 0, 2, 3)


def _grad_input_separable(gy: Any, w: Any, geo: Geometry, dtype: Any) -> Any:
    r"""Stride-1 col2im in two passes: a row gather and one GEMM, then kw shifted adds.

    With :math:`u' = k_H - 1 - u`, the image gradient is
    :math:`g_x[c, n, y, x] = \sum_v \big(\sum_{o, u'} w[o, c, k_H-1-u', v]\, g_q[o, n, y + u' d_h, x]\big)_{x - v d_w}`,
    where :math:`g_q` is gy with (kH-1) dH zero rows on top and zero columns out to Wp. The
    inner sum is one GEMM over columns that gather only the kH row shifts (runs of Hp*Wp);
    the outer sum is kW adds of whole channel planes shifted by v*dw in flat memory (entries
    that wrap to the next row are the zero columns). Its GEMM does Hp*Wp / (Ho*Wo) times the
    slab method's work but its memory traffic is several times smaller (PERFORMANCE.md item 4).
    """
    xp = backend.get_array_module(gy)
    g, cg, og, kh, kw, dh, dw = geo.groups, geo.cg, geo.og, geo.kh, geo.kw, geo.dh, geo.dw
    plane, top_rows = geo.hp * geo.wp, (kh - 1) * dh
    # w_sep[g, (v, c), (o, u')] = w[o, c, kh-1-u', v]
    w_sep = w[:, :, ::-1].reshape(g, og, cg, kh, kw).transpose(0, 4, 2, 1, 3).reshape(g, kw * cg, og * kh)
    gx = _output(gy, (g, cg, geo.n * plane + (kw - 1) * dw), dtype, zero=True)
    gy_c = gy.transpose(1, 0, 2, 3)  # (O, N, Ho, Wo)
    # per sample: the padded gy, its row-gathered columns and the GEMM's result
    per_sample = geo.o * (geo.hp + top_rows) * geo.wp + (geo.o * kh + geo.c * kw) * plane
    for rows in geo.chunks(per_sample * dtype.itemsize):
        n = rows.stop - rows.start
        g_q = _scratch(gy, "image", (geo.o, n, geo.hp + top_rows, geo.wp), dtype)
        g_q[:, :, :top_rows] = 0
        g_q[:, :, top_rows + geo.ho:] = 0
        g_q[:, :, top_rows:top_rows + geo.ho, geo.wo:] = 0
        g_q[:, :, top_rows:top_rows + geo.ho, :geo.wo] = gy_c[:, rows]
        s_o, s_n, s_r, s_x = g_q.strides
        shape = (g, og, kh, n, plane)
        cols = _scratch(gy, "columns", (g, og * kh, n * plane), dtype)
        cols.reshape(shape)[...] = xp.lib.stride_tricks.as_strided(g_q, shape, (og * s_o, s_o, dh * s_r, s_n, s_x))
        t = _scratch(gy, "slabs", (g, kw * cg, n * plane), dtype)
        _matmul_into(t, w_sep, cols)
        t = t.reshape(g, kw, cg, n * plane)
        start = rows.start * plane
        for v in range(kw):
            gx[:, :, start + v * dw:start + v * dw + n * plane] += t[:, v]
    gx = gx[:, :, :geo.n * plane].reshape(geo.c, geo.n, geo.hp, geo.wp)
    return gx[:, :, geo.top:geo.top + geo.h, geo.left:geo.left + geo.w].transpose(1, 0, 2, 3)


def _rotation_pads(geo: Geometry) -> tuple:
    """(top, bottom, left, right) zeros around gy for the rotated-kernel correlation of a stride-1 conv."""
    dkh, dkw = geo.dh * (geo.kh - 1) + 1, geo.dw * (geo.kw - 1) + 1
    return (dkh - 1 - geo.top, dkh - 1 - (geo.hp - geo.top - geo.h),
            dkw - 1 - geo.left, dkw - 1 - (geo.wp - geo.left - geo.w))


def _rotation_applies(geo: Geometry) -> bool:
    """Stride 1, wide enough, little waste, every window reached, no more padding than the kernel spans."""
    if not (geo.sh == geo.sw == 1 and geo.channels_last and geo.cg >= ROTATION_MIN_CHANNELS
            and geo.h * geo.w <= ROTATION_MAX_WASTE * geo.ho * geo.wo):
        return False
    exact = (geo.ho, geo.wo) == (geo.hp - geo.dh * (geo.kh - 1), geo.wp - geo.dw * (geo.kw - 1))
    return exact and min(_rotation_pads(geo)) >= 0


def _grad_input_by_rotation(gy: Any, w: Any, geo: Geometry) -> Any:
    r"""Stride-1 image gradient as a forward correlation: the conv's own fast path, run backwards.

    With stride 1, :math:`g_x[n, c, y, x] = \sum_{o, u, v} \tilde g_y[n, o, y + u d_h, x + v d_w]\,
    w[o, c, k_H - 1 - u, k_W - 1 - v]`, where :math:`\tilde g_y` is gy zero-padded by
    :math:`d_k - 1 - p_{before}` before and :math:`d_k - 1 - p_{after}` after on each axis (a
    "full" correlation when the forward was "valid"). That is conv_forward on gy with the
    kernel rotated by 180 degrees and its two channel axes swapped (per group), so the
    image gradient gets the forward's cache-sized chunks, one GEMM per chunk and its
    channels-last output, instead of col2im's kh*kw strided adds.
    """
    g, og, cg, kh, kw = geo.groups, geo.og, geo.cg, geo.kh, geo.kw
    top, bottom, left, right = _rotation_pads(geo)
    w_rot = w.reshape(g, og, cg, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(geo.c, og, kh, kw)
    rotated = Geometry(n=geo.n, c=geo.o, o=geo.c, groups=g, kh=kh, kw=kw, sh=1, sw=1, dh=geo.dh, dw=geo.dw,
                       h=geo.ho, w=geo.wo, top=top, left=left, hp=geo.ho + top + bottom, wp=geo.wo + left + right,
                       ho=geo.h, wo=geo.w, channels_last=choose_channels_last(og))
    return conv_forward(gy, w_rot, rotated)[0]
