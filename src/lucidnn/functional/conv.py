r"""Convolution layers as fused Functions: ``conv2d`` and ``conv1d``.

As in the course notes, a convolution layer computes cross-correlation ("除非特别声明，卷积一般指
互相关"): with stride s, dilation d and zero padding,

.. math:: y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, x_{n,c,\,i s_h + u d_h,\, j s_w + v d_w}

(x zero-padded, c running over the channels of o's group). ``flip=True`` gives the true
convolution of signal processing, :math:`\sum_u w_u x_{t-u+1}`: the kernel is rotated by 180
degrees before the sum. Padding may be a number per axis or one of the notes' modes:

* ``'valid'`` (窄卷积, narrow): no padding, output ``in - dk + 1``;
* ``'full'`` (宽卷积, wide): ``dk - 1`` zeros on each side, output ``in + dk - 1``;
* ``'same'`` (等宽卷积): output ``ceil(in / s)`` for any stride, like TensorFlow's SAME: the total
  padding ``max((ceil(in/s) - 1) s + dk - in, 0)`` is split with the odd element after
  (right/bottom). For stride 1 this is PyTorch's ``padding='same'``;

where ``dk = d (k - 1) + 1`` is the dilated kernel size. The gradients are

.. math:: g_w = \sum_{n,i,j} g_{y,n,o,i,j}\, x_{n,c,\,i s_h + u d_h,\, j s_w + v d_w}, \qquad
          g_b = \sum_{n,i,j} g_y, \qquad g_x = \mathrm{col2im}(g_y W),

the last being the adjoint of the forward's gather (a "full" correlation with the rotated
kernel when s = 1). Each op is one Function over the column machinery of ``_im2col``; the
derivation is in ``docs/conv.md``.

Reference: the course notes (卷积神经网络: 卷积, 互相关, 窄/宽/等宽卷积); Dumoulin and Visin,
"A guide to convolution arithmetic for deep learning", 2016.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn.autograd import grad_mode
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional import _im2col, _rows, _workspace
from lucidnn.functional._im2col import Geometry

PADDING_MODES = ("valid", "same", "full")

# --------------------------------------------------------------------------- Functions


class Conv2dFn(Function):
    r"""y = x \star w + b (cross-correlation; ``flip`` rotates w by 180 degrees first).

    gx = col2im(gy W), gw = gy^T columns, gb = \sum gy over (N, H, W). The geometry (sizes,
    stride, padding, dilation, groups, layout) comes from the wrapper, which validated it.
    """

    def forward(self, x, w, *b, geometry: Geometry, flip: bool, keep_columns: bool = False):
        if flip:
            w = w[:, :, ::-1, ::-1]
        # the column (or row) matrix is kept for the weight gradient in a reused buffer while the
        # thread's budget allows; past it, backward builds it again
        self.rows = _rows.rows_apply(geometry)  # narrow images (LeNet): the row-Toeplitz GEMM
        shape = _rows.rows_shape(geometry) if self.rows else _im2col.column_shape(geometry)
        kept = None
        if keep_columns and _im2col.keeps_columns(shape, x.dtype.itemsize, _workspace.kept_bytes()):
            kept = _workspace.keep(x, shape, x.dtype)
        if self.rows:
            y, columns = _rows.rows_forward(x, w, geometry, keep=kept)
            columns = [columns]
        else:
            y, columns = _im2col.conv_forward(x, w, geometry, keep=kept)
        self.columns = columns if kept is not None else None
        self.x, self.w, self.geometry, self.flip, self.has_bias = x, w, geometry, flip, bool(b)
        if b:
            y += b[0].reshape(1, -1, 1, 1)
        return y  # (N, C_out, H_out, W_out)

    def backward(self, gy):
        needs = self.needs_input_grad
        gx = None
        if needs[0]:
            if self.rows:
                gx = _rows.rows_grad_input(gy, self.w, self.geometry)
            else:
                gx = _im2col.grad_input(gy, self.w, self.geometry)
            if _workspace.memory_order(gx) != _workspace.memory_order(self.x):
                # the gradient takes x's layout: one copy here beats every op below it
                # (ReLU, pooling) running over mismatched layouts (LeNet's C2: 0.11 + 0.15 ms vs 0.64)
                gx = _copy_as(gx, self.x)
        gw = None
        if needs[1]:
            if self.rows:
                rows = self.columns[0] if self.columns is not None else _rows.row_matrix(self.x, self.geometry)
                gw = _rows.rows_grad_weight(gy, self.geometry, rows)
            else:
                gw = _im2col.grad_weight(gy, self.geometry, columns=self.columns, image=self.x)
            if self.flip:
                gw = gw[:, :, ::-1, ::-1]
        if not self.has_bias:
            return gx, gw
        return gx, gw, (channel_sums(gy) if needs[2] else None)

    def release(self) -> None:
        columns = self.__dict__.get("columns")
        if columns is not None:
            _workspace.give_back(columns[0])
        super().release()


class Conv1dFn(Conv2dFn):
    r"""conv2d on (N, C, 1, L): y = x \star w + b over one axis; same gradients."""

    def forward(self, x, w, *b, geometry: Geometry, flip: bool, keep_columns: bool = False):
        return super().forward(x[:, :, None], w[:, :, None], *b, geometry=geometry, flip=flip,
                               keep_columns=keep_columns)[:, :, 0]

    def backward(self, gy):
        gx, gw, *gb = super().backward(gy[:, :, None])
        return (None if gx is None else gx[:, :, 0], None if gw is None else gw[:, :, 0], *gb)


def channel_sums(g: Any) -> Any:
    r"""The bias gradient :math:`\sum_{n,h,w} g_{n,c,h,w}` of an (N, C, H, W) array in any memory layout.

    Summed as the layout lies: the axes outside the channel become rows and those inside it
    columns of one contiguous matrix, whose rows add up with vectorized row adds (a reduction
    over strided axes runs ~6x slower: LeNet's C1, 0.14 vs 0.82 ms).
    """
    order = _workspace.memory_order(g)
    t = g.transpose(order)
    if not t.flags.c_contiguous:
        return g.sum(axis=(0, 2, 3))
    at = order.index(1)
    outer = math.prod(t.shape[:at])
    inner = math.prod(t.shape[at + 1:])
    m = t.reshape(outer, g.shape[1] * inner)
    return m.sum(axis=0).reshape(g.shape[1], inner).sum(axis=1)


def _copy_as(a: Any, like: Any) -> Any:
    """``a`` copied into a new array laid out in memory as ``like``."""
    out = _workspace.output_as(like, a.dtype)
    out[...] = a
    return out


# --------------------------------------------------------------------------- argument checks


def check_operands(op: str, x: Any, weight: Any, bias: Any, spatial: int) -> None:
    """Tensors of matching floating dtype with the ranks of a ``spatial``-D conv."""
    dims = ("N, C, L", "N, C, H, W")[spatial - 1]
    kernel = ("kL", "kH, kW")[spatial - 1]
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be floating point, got {x.dtype}; convert it with .astype('float32')")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise DTypeError(f"{op}: {name} is {t.dtype} but the input is {x.dtype}; convert one of them "
                             "with .astype() so no silent up/down-cast happens")
    if x.ndim != spatial + 2:
        raise ShapeError(f"{op}: input must be {spatial + 2}-D ({dims}), got shape {x.shape}"
                         + ("; add a batch axis with x[None] for one sample" if x.ndim == spatial + 1 else ""))
    if weight.ndim != spatial + 2:
        layout = "C_in, C_out/groups" if "transpose" in op else "C_out, C_in/groups"
        raise ShapeError(f"{op}: weight must be {spatial + 2}-D ({layout}, {kernel}), got shape {weight.shape}")


def int_tuple(value: Any, n: int, name: str, op: str, minimum: int) -> tuple:
    """``value`` (an int or n ints) as a tuple of n ints >= ``minimum``, else TypeError/ValueError."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n or not all(isinstance(v, (numbers.Integral, backend.numpy.integer))
                                  and not isinstance(v, bool) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    items = tuple(int(v) for v in items)
    if any(v < minimum for v in items):
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {rule}, got {value!r}")
    return items


def positive_groups(groups: Any, op: str) -> int:
    """``groups`` as an int >= 1, else TypeError/ValueError."""
    if isinstance(groups, bool) or not isinstance(groups, (numbers.Integral, backend.numpy.integer)):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    return int(groups)


def check_bias(op: str, bias: Tensor | None, weight: Tensor, channels: int) -> None:
    """A bias, when given, has shape (channels,)."""
    if bias is not None and bias.shape != (channels,):
        raise ShapeError(f"{op}: bias has shape {bias.shape} but the weight {weight.shape} needs ({channels},)")


def _padding_pairs(padding: Any, op: str, sizes: tuple, dilated: tuple, stride: tuple) -> tuple:
    """(before, after) per spatial axis for an int/tuple padding or a mode string."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in sizes)
        if padding == "full":
            return tuple((dk - 1, dk - 1) for dk in dilated)
        if padding == "same":
            pairs = []
            for size, dk, s in zip(sizes, dilated, stride):
                total = max((math.ceil(size / s) - 1) * s + dk - size, 0)
                pairs.append((total // 2, total - total // 2))  # the odd element goes after
            return tuple(pairs)
        raise ValueError(f"{op}: padding must be an int, a tuple of ints or one of {PADDING_MODES}, got {padding!r}")
    return tuple((p, p) for p in int_tuple(padding, len(sizes), "padding", op, 0))


def _times(sizes: tuple) -> str:
    return "x".join(str(s) for s in sizes)


def conv_geometry(op: str, x: Tensor, weight: Tensor, stride: Any, padding: Any, dilation: Any,
                  groups: Any) -> Geometry:
    """Validate a conv's settings against the operands' shapes and return its 2-D geometry."""
    spatial = x.ndim - 2
    stride = int_tuple(stride, spatial, "stride", op, 1)
    dilation = int_tuple(dilation, spatial, "dilation", op, 1)
    groups = positive_groups(groups, op)
    n, c = x.shape[:2]
    o, cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if o % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the output channels {o} (weight shape {weight.shape})")
    if c % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the input channels {c} (input shape {x.shape})")
    if cg * groups != c:
        extra = f", groups={groups}" if groups != 1 else ""
        raise ShapeError(f"{op}: input has {c} channels but the weight expects {cg * groups} "
                         f"(weight shape {weight.shape}{extra}); input shape {x.shape}")
    if 0 in kernel:
        raise ShapeError(f"{op}: the kernel must not be empty, weight shape {weight.shape}")
    sizes = tuple(x.shape[2:])
    dilated = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    pairs = _padding_pairs(padding, op, sizes, dilated, stride)
    padded = tuple(size + a + b for size, (a, b) in zip(sizes, pairs))
    if any(dk > p for dk, p in zip(dilated, padded)):
        kernel_text = _times(kernel) + (f" (dilation {dilation} makes it {_times(dilated)})" if dilated != kernel
                                        else "")
        raise ShapeError(f"{op}: the kernel {kernel_text} is larger than the padded input {_times(padded)} "
                         f"(input {_times(sizes)}, padding {tuple(pairs)}); input shape {x.shape}, "
                         f"weight shape {weight.shape}")
    out = tuple((p - dk) // s + 1 for p, dk, s in zip(padded, dilated, stride))
    if spatial == 1:  # a conv1d is a conv2d over (1, L)
        sizes, kernel, stride, dilation, pairs, padded, out = ((1,) + sizes, (1,) + kernel, (1,) + stride,
                                                               (1,) + dilation, ((0, 0),) + pairs,
                                                               (1,) + padded, (1,) + out)
    return Geometry(n=n, c=c, o=o, groups=groups, kh=kernel[0], kw=kernel[1], sh=stride[0], sw=stride[1],
                    dh=dilation[0], dw=dilation[1], h=sizes[0], w=sizes[1], top=pairs[0][0], left=pairs[1][0],
                    hp=padded[0], wp=padded[1], ho=out[0], wo=out[1],
                    channels_last=_im2col.choose_channels_last(cg))


# --------------------------------------------------------------------------- wrappers


def _conv(op: str, fn: type, spatial: int, x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
          padding: Any, dilation: Any, groups: Any, flip: bool) -> Tensor:
    check_operands(op, x, weight, bias, spatial)
    geometry = conv_geometry(op, x, weight, stride, padding, dilation, groups)
    check_bias(op, bias, weight, weight.shape[0])
    inputs = (x, weight) if bias is None else (x, weight, bias)
    keep_columns = grad_mode.is_grad_enabled() and weight.requires_grad
    return fn.apply(*inputs, geometry=geometry, flip=bool(flip), keep_columns=keep_columns)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, *, flip: bool = False) -> Tensor:
    r"""2-D cross-correlation :math:`y = w \star x + b` over (H, W); true convolution with ``flip``.

    .. math:: y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, x_{n,\,g(o) + c,\, i s_h + u d_h,\, j s_w + v d_w}

    Args:
        x: input (N, C_in, H, W).
        weight: (C_out, C_in/groups, kH, kW), PyTorch's layout.
        bias: optional (C_out,).
        stride: step of the window, an int or (s_h, s_w) (1).
        padding: zeros on each side, an int or (p_h, p_w), or a mode: ``'valid'`` (none),
            ``'full'`` (dk - 1 per side) or ``'same'`` (output ceil(in/stride); an odd total
            puts the extra zero on the bottom/right, as TensorFlow's SAME) (0).
        dilation: spacing of the kernel taps, an int or (d_h, d_w) (1).
        groups: split the channels into this many independent convolutions (1; C_in for depthwise).
        flip: rotate the kernel by 180 degrees: the convolution of signal processing (False).

    Shape:
        output (N, C_out, H_out, W_out) with
        :math:`H_{out} = \lfloor (H + p_{top} + p_{bottom} - d_h (k_H - 1) - 1) / s_h \rfloor + 1`.
        The result may be a transposed view of channels-last memory; values and shape are
        PyTorch's.

    Raises:
        ShapeError: wrong ranks, channel mismatch, groups not dividing the channels, a kernel
            larger than the padded input, a bias of the wrong shape.
        ValueError: stride or dilation < 1, negative padding, an unknown padding mode.
    """
    return _conv("conv2d", Conv2dFn, 2, x, weight, bias, stride, padding, dilation, groups, flip)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1, *, flip: bool = False) -> Tensor:
    r"""1-D cross-correlation over L; true convolution :math:`y_t = \sum_u w_u x_{t-u+1}` with ``flip``.

    .. math:: y_{n,o,t} = b_o + \sum_{c,u} w_{o,c,u}\, x_{n,\,g(o) + c,\, t s + u d}

    Args:
        x: input (N, C_in, L).
        weight: (C_out, C_in/groups, k).
        bias: optional (C_out,).
        stride, padding, dilation, groups, flip: as :func:`conv2d`, with one value per setting
            (``padding`` also ``'valid'``, ``'same'`` or ``'full'``).

    Shape:
        output (N, C_out, L_out), :math:`L_{out} = \lfloor (L + p_{left} + p_{right} - d(k-1) - 1)/s \rfloor + 1`.
    """
    return _conv("conv1d", Conv1dFn, 1, x, weight, bias, stride, padding, dilation, groups, flip)
