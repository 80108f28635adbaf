r"""Transposed convolutions as fused Functions: ``conv_transpose2d`` and ``conv_transpose1d``.

A transposed convolution is the adjoint of a convolution: its forward is the convolution's
input-gradient computation (col2im of :math:`x W`) and its backward is a convolution. With
the weight in PyTorch's layout (C_in, C_out/groups, kH, kW),

.. math:: y_{n,c,\,i s_h + u d_h - p_h,\, j s_w + v d_w - p_w} \mathrel{+}= x_{n,o,i,j}\, w_{o,c,u,v}

summed over every input pixel (i, j), kernel offset (u, v) and input channel o of c's group,
plus :math:`b_c`. Each input pixel scatters a weighted copy of the kernel into the output, so
a stride s up-samples by s ("fractionally strided" convolution). ``padding`` crops p from
each side of the result and ``output_padding`` adds rows/columns on the bottom/right, which
chooses between the several output sizes that a strided conv maps onto the same input size:

.. math:: H_{out} = (H - 1) s_h - 2 p_h + d_h (k_H - 1) + \text{output\_padding}_h + 1.

Gradients: :math:`g_x = g_y \star w` (the conv with the same weight), :math:`g_w` the conv's
weight gradient with the roles of image and output swapped, :math:`g_b = \sum g_y`.

Reference: Dumoulin and Visin, "A guide to convolution arithmetic for deep learning", 2016;
PyTorch's ``conv_transpose2d``.
"""

from __future__ import annotations

from typing import Any

from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.functional import _im2col
from lucidnn.functional._im2col import Geometry
from lucidnn.functional.conv import channel_sums, check_bias, check_operands, int_tuple, positive_groups

# --------------------------------------------------------------------------- Functions


class ConvTranspose2dFn(Function):
    r"""y = col2im(x W) + b, the adjoint of conv2d; gx = gy \star w, gw = x^T columns(gy), gb = \sum gy.

    The geometry is the conv's whose input gradient this is: the conv's image is y (padded by
    ``padding`` and cropped back), the conv's output is x.
    """

    def forward(self, x, w, *b, geometry: Geometry):
        y = _im2col.grad_input(x, w, geometry)  # (N, C_out, H_out, W_out)
        self.x, self.w, self.geometry, self.has_bias = x, w, geometry, bool(b)
        if b:
            y += b[0].reshape(1, -1, 1, 1)
        return y

    def backward(self, gy):
        needs = self.needs_input_grad
        gx = gw = columns = None
        if needs[0]:
            gx, columns = _im2col.conv_forward(gy, self.w, self.geometry)
        if needs[1]:
            gw = _im2col.grad_weight(self.x, self.geometry, columns=columns, image=gy)
        if not self.has_bias:
            return gx, gw
        return gx, gw, (channel_sums(gy) if needs[2] else None)


class ConvTranspose1dFn(ConvTranspose2dFn):
    r"""conv_transpose2d on (N, C, 1, L); same gradients."""

    def forward(self, x, w, *b, geometry: Geometry):
        return super().forward(x[:, :, None], w[:, :, None], *b, geometry=geometry)[:, :, 0]

    def backward(self, gy):
        gx, gw, *gb = super().backward(gy[:, :, None])
        return (None if gx is None else gx[:, :, 0], None if gw is None else gw[:, :, 0], *gb)


# --------------------------------------------------------------------------- wrappers


def transpose_geometry(op: str, x: Tensor, weight: Tensor, stride: Any, padding: Any, output_padding: Any,
                       groups: Any, dilation: Any) -> Geometry:
    """Validate a transposed conv's settings and return the geometry of the conv it is the adjoint of."""
    spatial = x.ndim - 2
    stride = int_tuple(stride, spatial, "stride", op, 1)
    dilation = int_tuple(dilation, spatial, "dilation", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {spatial} ints, got {padding!r} "
                         "(the modes 'valid', 'same' and 'full' are for the convolution itself)")
    padding = int_tuple(padding, spatial, "padding", op, 0)
    output_padding = int_tuple(output_padding, spatial, "output_padding", op, 0)
    groups = positive_groups(groups, op)
    n, c_in = x.shape[:2]
    w_in, c_out_g = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if w_in % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the input channels {w_in} (weight shape "
                         f"{weight.shape}, layout (C_in, C_out/groups, ...))")
    if c_in != w_in:
        raise ShapeError(f"{op}: input has {c_in} channels but the weight expects {w_in} (weight shape "
                         f"{weight.shape}, layout (C_in, C_out/groups, ...)); input shape {x.shape}")
    if 0 in kernel:
        raise ShapeError(f"{op}: the kernel must not be empty, weight shape {weight.shape}")
    if any(op_ >= max(s, d) for op_, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding {output_padding} must be smaller than the stride {stride} "
                         f"or the dilation {dilation}")
    sizes = tuple(x.shape[2:])
    out = tuple((size - 1) * s - 2 * p + d * (k - 1) + op_ + 1
                for size, s, p, d, k, op_ in zip(sizes, stride, padding, dilation, kernel, output_padding))
    if any(size < 1 for size in out):
        raise ShapeError(f"{op}: the output would have size {out} (input {sizes}, kernel {kernel}, stride "
                         f"{stride}, padding {padding}, dilation {dilation}); reduce the padding")
    if spatial == 1:  # a conv_transpose1d is a conv_transpose2d over (1, L)
        sizes, kernel, stride, dilation, padding, out = ((1,) + sizes, (1,) + kernel, (1,) + stride,
                                                         (1,) + dilation, (0,) + padding, (1,) + out)
    return Geometry(n=n, c=c_out_g * groups, o=w_in, groups=groups, kh=kernel[0], kw=kernel[1],
                    sh=stride[0], sw=stride[1], dh=dilation[0], dw=dilation[1], h=out[0], w=out[1],
                    top=padding[0], left=padding[1], hp=out[0] + 2 * padding[0], wp=out[1] + 2 * padding[1],
                    ho=sizes[0], wo=sizes[1], channels_last=_im2col.choose_channels_last(c_out_g))


def _conv_transpose(op: str, fn: type, spatial: int, x: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: Any, padding: Any, output_padding: Any, groups: Any, dilation: Any) -> Tensor:
    check_operands(op, x, weight, bias, spatial)
    geometry = transpose_geometry(op, x, weight, stride, padding, output_padding, groups, dilation)
    check_bias(op, bias, weight, geometry.c)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return fn.apply(*inputs, geometry=geometry)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    r"""2-D transposed convolution, the adjoint (gradient w.r.t. its input) of :func:`conv2d`.

    .. math:: y_{n,c,\,i s_h + u d_h - p_h,\, j s_w + v d_w - p_w} \mathrel{+}= x_{n,o,i,j}\, w_{o,c,u,v}

    Args:
        x: input (N, C_in, H, W).
        weight: (C_in, C_out/groups, kH, kW), PyTorch's layout.
        bias: optional (C_out,).
        stride: an int or (s_h, s_w): the up-sampling factor (1).
        padding: an int or (p_h, p_w): rows/columns cropped from each side of the result (0).
        output_padding: an int or pair added on the bottom/right, smaller than stride or dilation (0).
        groups: independent channel groups (1).
        dilation: spacing of the kernel taps (1).

    Shape:
        output (N, C_out, H_out, W_out),
        :math:`H_{out} = (H - 1) s_h - 2 p_h + d_h (k_H - 1) + \text{output\_padding}_h + 1`.
    """
    return _conv_transpose("conv_transpose2d", ConvTranspose2dFn, 2, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    r"""1-D transposed convolution, the adjoint of :func:`conv1d`.

    Args:
        x: input (N, C_in, L).
        weight: (C_in, C_out/groups, k).
        bias: optional (C_out,).
        stride, padding, output_padding, groups, dilation: as :func:`conv_transpose2d`, one int each.

    Shape:
        output (N, C_out, L_out), :math:`L_{out} = (L - 1) s - 2 p + d (k - 1) + \text{output\_padding} + 1`.
    """
    return _conv_transpose("conv_transpose1d", ConvTranspose1dFn, 1, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)
