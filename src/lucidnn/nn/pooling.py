"""Pooling layers and local response normalization: thin Modules over ``lucidnn.functional``.

The layers have no parameters. Constructor names, defaults and ``extra_repr`` text follow
PyTorch (``MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)``); the
window sizes (kernel_size, stride, padding, dilation) may be given positionally, the switches
(``ceil_mode``, ``count_include_pad``, ``mean`` ...) are keyword-only. Arguments are checked
when the layer is built, so a bad kernel fails at construction rather than in the first batch.
"""

from __future__ import annotations

import numbers
from typing import Any

from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.functional.pool import check_window_args, int_tuple
from lucidnn.functional.pool_lp import check_norm_type
from lucidnn.nn.module import Module


def _stride(kernel_size: Any, stride: Any) -> Any:
    """PyTorch stores stride = kernel_size when none is given (and shows it so in the repr)."""
    return kernel_size if stride is None else stride


class _MaxPoolNd(Module):
    n = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, *,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        check_window_args(type(self).__name__, self.n, kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride = kernel_size, _stride(kernel_size, stride)
        self.padding, self.dilation, self.ceil_mode = padding, dilation, bool(ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    r"""1-D max pooling, :math:`y_o = \max_{j<k} \tilde x_{os + jd}` (see :func:`~lucidnn.functional.max_pool1d`).

    Args:
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        padding: -inf entries on each side, at most half the kernel span (0).
        dilation: d between taps (1).
        ceil_mode: round the output length up (False).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out),
        :math:`L_{out} = \lfloor (L + 2p - d(k-1) - 1)/s \rfloor + 1`.
    """

    n = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class MaxPool2d(_MaxPoolNd):
    r"""2-D max pooling over kh x kw windows (see :func:`~lucidnn.functional.max_pool2d`).

    Args:
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) of -inf, at most half the kernel span (0).
        dilation: (dh, dw) between taps (1).
        ceil_mode: round output sizes up (False).

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out),
        :math:`H_{out} = \lfloor (H + 2p_h - d_h(k_h-1) - 1)/s_h \rfloor + 1`, W alike.

    Reference: the course's max pooling (AlexNet's 3x3 stride-2 overlapping pools).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)


class _AvgPoolNd(Module):
    n = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, *, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_window_args(name, self.n, kernel_size, stride, padding)
        if divisor_override is not None and (isinstance(divisor_override, bool) or
                                             not isinstance(divisor_override, numbers.Integral) or
                                             divisor_override == 0):
            raise ValueError(f"{name}: divisor_override must be a non-zero int, got {divisor_override!r}")
        self.kernel_size, self.stride, self.padding = kernel_size, _stride(kernel_size, stride), padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    r"""1-D average pooling, :math:`y_o = \frac{1}{|\Omega_o|}\sum_{j<k} \tilde x_{os+j}`.

    See :func:`~lucidnn.functional.avg_pool1d` for the divisor rules and the gradient.

    Args:
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        padding: zeros on each side, at most k // 2 (0).
        ceil_mode: round the output length up (False).
        count_include_pad: count padded zeros in the divisor (True).
        divisor_override: divide every window by this int instead (None).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out), :math:`L_{out} = \lfloor (L + 2p - k)/s \rfloor + 1`.
    """

    n = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, **kwargs: Any) -> None:
        # PyTorch keeps AvgPool1d's sizes as 1-tuples, (2,), and shows them so
        stride = None if stride is None else int_tuple(stride, 1, "stride", "AvgPool1d")
        super().__init__(int_tuple(kernel_size, 1, "kernel_size", "AvgPool1d"), stride,
                         int_tuple(padding, 1, "padding", "AvgPool1d"), **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AvgPool2d(_AvgPoolNd):
    r"""2-D average pooling over kh x kw windows, the course's mean pooling.

    See :func:`~lucidnn.functional.avg_pool2d` for the divisor rules and the gradient.

    Args:
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) zeros, at most half the kernel (0).
        ceil_mode: round output sizes up (False).
        count_include_pad: count padded zeros in the divisor (True).
        divisor_override: divide every window by this int instead (None).

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).

    Reference: LeNet-5's sub-sampling layers (the course's S layers).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _LPPoolNd(Module):
    n = 0

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None, *, ceil_mode: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        check_norm_type(norm_type, name)
        check_window_args(name, self.n, kernel_size, stride)
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride  # stride None stays None
        self.ceil_mode = bool(ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    r"""1-D power-average pooling :math:`y = (\sum_{\Omega} x^p)^{1/p}` (see :func:`~lucidnn.functional.lp_pool1d`).

    Args:
        norm_type: p > 0 (p = 2: L2 pooling; p = 1: sum pooling).
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        ceil_mode: round the output length up (False).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    n = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    r"""2-D power-average pooling :math:`y = (\sum_{\Omega} x^p)^{1/p}` (see :func:`~lucidnn.functional.lp_pool2d`).

    Args:
        norm_type: p > 0.
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        ceil_mode: round output sizes up (False).

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class _L2PoolNd(Module):
    n = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, *, mean: bool = False) -> None:
        super().__init__()
        check_window_args(type(self).__name__, self.n, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, _stride(kernel_size, stride), padding
        self.mean = bool(mean)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, mean={self.mean}"


class L2Pool1d(_L2PoolNd):
    r"""1-D L2 pooling :math:`y = \sqrt{\sum_{\Omega} x^2}` (``mean=True``: root mean square).

    The gradient of an all-zero window is 0 (see :func:`~lucidnn.functional.l2_pool1d`).

    Args:
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        padding: zeros on each side, at most k // 2 (0).
        mean: root-mean-square instead of root-sum-square (False).

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    n = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.l2_pool1d(x, self.kernel_size, self.stride, self.padding, self.mean)


class L2Pool2d(_L2PoolNd):
    r"""2-D L2 pooling, the course's :math:`y = \sqrt{\sum_{\Omega} x^2}` (``mean=True``: root mean square).

    The gradient of an all-zero window is 0 (see :func:`~lucidnn.functional.l2_pool2d`).

    Args:
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) zeros, at most half the kernel (0).
        mean: root-mean-square instead of root-sum-square (False).

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).

    Reference: the course's "L2 pooling" (local pooling in regions).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.l2_pool2d(x, self.kernel_size, self.stride, self.padding, self.mean)


class _AdaptivePoolNd(Module):
    n = 0

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        name = type(self).__name__
        values = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * self.n
        if len(values) != self.n or any(v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral))
                                        for v in values):
            raise TypeError(f"{name}: output_size must be an int or a tuple of {self.n} ints (or None), "
                            f"got {output_size!r}")
        if any(v is not None and v < 1 for v in values):
            raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    r"""1-D adaptive average pooling to a fixed output length (see :func:`~lucidnn.functional.adaptive_avg_pool1d`).

    Args:
        output_size: the output length L_out.

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    n = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    r"""2-D adaptive average pooling to a fixed (H_out, W_out) (see :func:`~lucidnn.functional.adaptive_avg_pool2d`).

    Args:
        output_size: (H_out, W_out), one int for both, or None in a slot to keep that size.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveMaxPool1d(_AdaptivePoolNd):
    r"""1-D adaptive max pooling to a fixed output length (see :func:`~lucidnn.functional.adaptive_max_pool1d`).

    Args:
        output_size: the output length L_out.

    Shape:
        input (N, C, L) or (C, L); output (N, C, L_out).
    """

    n = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_max_pool1d(x, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePoolNd):
    r"""2-D adaptive max pooling to a fixed (H_out, W_out) (see :func:`~lucidnn.functional.adaptive_max_pool2d`).

    Args:
        output_size: (H_out, W_out), one int for both, or None in a slot to keep that size.

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out).
    """

    n = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_max_pool2d(x, self.output_size)


class GlobalAvgPool2d(Module):
    r"""Global average pooling, :math:`y_{nc} = \frac{1}{HW}\sum_{hw} x_{nchw}`: one value per channel.

    Args:
        keepdims: return (N, C, 1, 1) instead of (N, C) (False).

    Shape:
        input (N, C, H, W) or (C, H, W); output (N, C) or (C,) (``keepdims``: (N, C, 1, 1)).

    Reference: Lin et al., "Network In Network", 2014.
    """

    def __init__(self, *, keepdims: bool = False) -> None:
        super().__init__()
        self.keepdims = bool(keepdims)

    def forward(self, x: Tensor) -> Tensor:
        return F.global_avg_pool2d(x, self.keepdims)

    def extra_repr(self) -> str:
        return "keepdims=True" if self.keepdims else ""


class LocalResponseNorm(Module):
    r"""Local response normalization across channels (AlexNet), PyTorch's semantics.

    .. math:: y_c = x_c \Big(k + \frac{\alpha}{n} \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor}
              x_{c'}^2\Big)^{-\beta}

    Args:
        size: n, the number of neighbouring channels.
        alpha: :math:`\alpha` (1e-4).
        beta: :math:`\beta` (0.75).
        k: additive constant (1.0).

    Shape:
        input (N, C, *) with at least 3 dimensions; output alike.

    Reference: Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks", 2012.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"LocalResponseNorm: size must be an int, got {type(size).__name__} {size!r}")
        if size < 1:
            raise ValueError(f"LocalResponseNorm: size must be a positive number of channels, got {size}")
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"LocalResponseNorm: {name} must be a real number, got {value!r}")
        self.size, self.alpha, self.beta, self.k = int(size), alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
