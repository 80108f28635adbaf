r"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``.

Parameter names, shapes and the default initialization are PyTorch's, so a state dict moves
between the two libraries by name: a conv weight is (C_out, C_in/groups, *kernel), a
transposed conv's (C_in, C_out/groups, *kernel), both drawn from
:math:`\mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})` with
``fan_in = weight.shape[1] * prod(kernel)`` (``kaiming_uniform_(a=sqrt(5))``), and the bias
from the same distribution. The computation is in :mod:`lucidnn.functional.conv`.
"""

from __future__ import annotations

import math
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.functional.conv import PADDING_MODES, int_tuple
from lucidnn.nn import init
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter


class _ConvNd(Module):
    """Shared constructor, initialization and repr of the four conv layers."""

    _spatial = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, *, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool, dtype: Any, device: str | None,
                 rng: backend.Generator | None, output_padding: Any = 0, flip: bool = False) -> None:
        super().__init__()
        layer, n = type(self).__name__, self._spatial
        self.in_channels = positive_int(in_channels, "in_channels", layer)
        self.out_channels = positive_int(out_channels, "out_channels", layer)
        self.kernel_size = int_tuple(kernel_size, n, "kernel_size", layer, 1)
        self.stride = int_tuple(stride, n, "stride", layer, 1)
        if isinstance(padding, str) and not self._transposed:
            if padding not in PADDING_MODES:
                raise ValueError(f"{layer}: padding must be an int, a tuple of ints or one of {PADDING_MODES}, "
                                 f"got {padding!r}")
            self.padding = padding
        else:
            self.padding = int_tuple(padding, n, "padding", layer, 0)
        self.dilation = int_tuple(dilation, n, "dilation", layer, 1)
        self.groups = positive_int(groups, "groups", layer)
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) % self.groups:
                raise ValueError(f"{layer}: {name}={getattr(self, name)} must be divisible by groups={self.groups}")
        self.output_padding = int_tuple(output_padding, n, "output_padding", layer, 0)
        if any(p >= max(s, d) for p, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{layer}: output_padding {self.output_padding} must be smaller than the stride "
                             f"{self.stride} or the dilation {self.dilation}")
        self.flip = bool(flip)
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(zeros(*shape, dtype=dtype, device=device))
        self.bias = Parameter(zeros(self.out_channels, dtype=dtype, device=device)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw weight and bias again from U(-1/sqrt(fan_in), +), fan_in = weight.shape[1] * prod(kernel)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def extra_repr(self) -> str:
        n = self._spatial
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.flip:
            s += ", flip=True"
        return s


class Conv2d(_ConvNd):
    r"""2-D convolution layer, cross-correlation as the course notes define it (:func:`~lucidnn.functional.conv2d`).

    .. math:: y_{n,o} = b_o + \sum_c w_{o,c} \star x_{n,c}

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (number of filters).
        kernel_size: an int or (kH, kW).
        stride: step of the window (1).
        padding: zeros on each side, an int or (p_h, p_w), or ``'valid'``, ``'same'`` (output
            ceil(in/stride), an odd total puts the extra zero after) or ``'full'`` (0).
        dilation: spacing of the kernel taps (1).
        groups: independent channel groups; both channel counts must divide by it (1).
        bias: learn an additive bias per output channel (True).
        flip: true convolution (kernel rotated 180 degrees) instead of cross-correlation (False).
        dtype: parameter dtype (default float32).
        device: ``'cpu'`` (default) or ``'cuda'``.
        rng: Generator for the initialization (default: the device's default generator).

    Shape:
        input (N, C_in, H, W), output (N, C_out, H_out, W_out),
        :math:`H_{out} = \lfloor (H + p_{top} + p_{bottom} - d(k_H - 1) - 1)/s \rfloor + 1`.

    Attributes:
        weight: (C_out, C_in/groups, kH, kW) from
            :math:`\mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`,
            :math:`\text{fan\_in} = C_{in}/\text{groups} \cdot k_H k_W`.
        bias: (C_out,), from the same distribution; None when ``bias=False``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, *, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True, flip: bool = False,
                 dtype: Any = None, device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, flip=flip, dtype=dtype, device=device,
                         rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        flip=self.flip)


class Conv1d(Conv2d):
    r"""1-D convolution layer over (N, C, L) (:func:`~lucidnn.functional.conv1d`).

    Args: as :class:`Conv2d`, with one int per setting (``kernel_size``, ``stride``,
    ``padding`` or a mode string, ``dilation``).

    Shape:
        input (N, C_in, L), output (N, C_out, L_out),
        :math:`L_{out} = \lfloor (L + p_{left} + p_{right} - d(k-1) - 1)/s \rfloor + 1`.

    Attributes:
        weight: (C_out, C_in/groups, k) from
            :math:`\mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})`,
            :math:`\text{fan\_in} = C_{in}/\text{groups} \cdot k`.
        bias: (C_out,), from the same distribution; None when ``bias=False``.
    """

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                        flip=self.flip)


class ConvTranspose2d(_ConvNd):
    r"""2-D transposed convolution, the adjoint of Conv2d (:func:`~lucidnn.functional.conv_transpose2d`).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: an int or (kH, kW).
        stride: up-sampling factor (1).
        padding: rows/columns cropped from each side of the result (0).
        output_padding: extra size on the bottom/right, smaller than stride or dilation (0).
        groups: independent channel groups (1).
        bias: learn an additive bias per output channel (True).
        dilation: spacing of the kernel taps (1).
        dtype, device, rng: as :class:`Conv2d`.

    Shape:
        input (N, C_in, H, W), output (N, C_out, H_out, W_out),
        :math:`H_{out} = (H-1)s - 2p + d(k_H-1) + \text{output\_padding} + 1`.

    Attributes:
        weight: (C_in, C_out/groups, kH, kW) from
            :math:`\mathcal U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})` with PyTorch's
            :math:`\text{fan\_in} = \text{weight.shape[1]} \cdot k_H k_W = C_{out}/\text{groups} \cdot k_H k_W`.
        bias: (C_out,), from the same distribution; None when ``bias=False``.
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, *, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         output_padding=output_padding, groups=groups, bias=bias, dilation=dilation,
                         dtype=dtype, device=device, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class ConvTranspose1d(ConvTranspose2d):
    r"""1-D transposed convolution over (N, C, L) (:func:`~lucidnn.functional.conv_transpose1d`).

    Args: as :class:`ConvTranspose2d`, one int per setting.

    Shape:
        input (N, C_in, L), output (N, C_out, L_out),
        :math:`L_{out} = (L-1)s - 2p + d(k-1) + \text{output\_padding} + 1`.

    Attributes:
        weight: (C_in, C_out/groups, k); bias: (C_out,); initialized as in :class:`ConvTranspose2d`.
    """

    _spatial = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
