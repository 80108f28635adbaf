r"""Pooling over windows of the last one or two axes: max, average, power-average (Lp) and L2.

Every pooling here is *separable*: a 2-D window is the product of a row window and a column
window, and a max (or sum) over the rectangle is the max (sum) over rows of the max (sum) over
columns. So a 2-D pool runs as two 1-D passes, first along W (axis -1), then along H (axis -2)
on the already narrower result, and each pass is one ufunc call per kernel offset ``j`` over
the strided slice ``a[..., j*d : j*d + s*(out-1) + 1 : s]``: kh + kw calls in all, never a
loop over pixels (PERFORMANCE.md, item 3: ~10x faster than ``reshape().max()``). Backward runs
the passes in reverse, each again one strided slice per offset: a tap whose positions no earlier
tap reached is written with ``out=``, a later one is added, which accumulates overlapping
windows without ``np.add.at`` (within one tap the positions are distinct).

Max pooling keeps, per pass, the offset of the winner of every 1-D window (the first maximum).
The winner of a 2-D window is then the first maximum in row-major order, PyTorch's tie rule:
exactly one element of a window receives its gradient. Padding is -inf for max pooling and 0 for
the sums, so padded positions are never selected and never counted in a sum. Every op accepts
a batched (N, C, L) / (N, C, H, W) input or an unbatched (C, L) / (C, H, W) one, as PyTorch.

Reference: the course's pooling pages (max, average and L2 pooling); PyTorch's
``torch.nn.functional`` pooling for argument names, output sizes and tie rules.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional._workspace import memory_order, output, output_as

_np = backend.numpy
_DIMS = {1: "L", 2: "HxW"}

# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class PoolAxis:
    """The windows of one axis: ``out`` windows of ``kernel`` taps ``dilation`` apart, ``stride`` apart.

    Positions are in padded coordinates: the input occupies ``[padding, padding + length)``;
    ``right`` extra pad entries make room for the last window (ceil mode can need more than
    ``padding`` of them, floor mode may need none).
    """

    length: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    out: int

    @property
    def span(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    @property
    def right(self) -> int:
        return max(0, (self.out - 1) * self.stride + self.span - self.padding - self.length)

    @property
    def padded(self) -> int:
        return self.padding + self.length + self.right

    @property
    def disjoint(self) -> bool:
        """No input position lies in two windows."""
        return self.stride >= self.span

    def first_touch(self, j: int) -> bool:
        """No tap before ``j`` reaches a position of tap ``j``, so backward may write it instead of add.

        Taps i < j share a position when (j - i) d is a multiple of s; with s = 2 and k = 3, taps
        0 and 1 are written and only tap 2 is added.
        """
        return all((j - i) * self.dilation % self.stride for i in range(j))

    @property
    def tiled(self) -> bool:
        """The windows tile the padded axis exactly: backward writes every entry, so needs no zero fill."""
        return (self.kernel == 1 or self.dilation == 1) and self.stride == self.kernel and \
            self.out * self.stride == self.padded

    def window(self, j: int) -> slice:
        """Tap ``j`` of every window: positions j*d + o*s for o = 0..out-1."""
        start = j * self.dilation
        return slice(start, start + self.stride * (self.out - 1) + 1, self.stride)


def _at(axis: int, index: Any) -> tuple:
    """An index that applies ``index`` to ``axis`` (-1 or -2) and keeps every other axis."""
    return (Ellipsis, index) if axis == -1 else (Ellipsis, index, slice(None))


def _resized(shape: tuple, axis: int, size: int) -> tuple:
    shape = list(shape)
    shape[axis] = size
    return tuple(shape)


def _empty_as(like: Any, shape: tuple, *, zero: bool = False, order: tuple | None = None) -> Any:
    """An array of ``shape`` whose axes lie in memory in ``order`` (by default ``like``'s order).

    A gradient (or padded copy) keeps its tensor's layout, so that the next ufunc over both
    runs over contiguous memory instead of transposing on the fly.
    """
    return output(like, shape, order=memory_order(like) if order is None else order, zero=zero)


def _pad(a: Any, axis: int, g: PoolAxis, value: float) -> Any:
    """``a`` padded along ``axis`` to ``g.padded`` with ``value`` (``a`` itself when no pad is needed)."""
    if g.padding == 0 and g.right == 0:
        return a
    out = _empty_as(a, _resized(a.shape, axis, g.padded))
    out[_at(axis, slice(0, g.padding))] = value  # fill only the borders: one write per element
    out[_at(axis, slice(g.padding + g.length, None))] = value
    out[_at(axis, slice(g.padding, g.padding + g.length))] = a
    return out


def _crop(ga: Any, axis: int, g: PoolAxis) -> Any:
    if g.padded == g.length:
        return ga
    return ga[_at(axis, slice(g.padding, g.padding + g.length))]


# --------------------------------------------------------------------------- 1-D passes


def _max_pass(a: Any, axis: int, g: PoolAxis) -> tuple:
    """(max of every window along ``axis``, offset of its first maximum: bool for 2 taps, uint8/int32)."""
    xp = backend.get_array_module(a)
    a = _pad(a, axis, g, -_np.inf)
    first = a[_at(axis, g.window(0))]
    if g.kernel == 1:
        return first.copy(), None
    second = a[_at(axis, g.window(1))]
    winner = xp.greater(second, first, out=output_as(first, bool))  # strict: a tie keeps the earlier tap (PyTorch)
    best = xp.maximum(first, second, out=output_as(first))  # maximum (not the comparison) so that NaN propagates
    if g.kernel > 2:
        winner = winner.astype(xp.uint8 if g.kernel <= 256 else xp.int32)
        for j in range(2, g.kernel):
            v = a[_at(axis, g.window(j))]
            # winner = j where v beats best: every winner so far is < j, so max(winner, j * beats)
            # does it with two integer ops, ~15x faster than copyto(where=) in NumPy
            beats = xp.greater(v, best).astype(winner.dtype)
            beats *= j
            xp.maximum(winner, beats, out=winner)
            xp.maximum(best, v, out=best)
    return best, winner


def _is_winner(winner: Any, j: int) -> Any:
    if winner.dtype == bool:
        return winner if j == 1 else ~winner
    return winner == j


def _unpass_buffer(gm: Any, axis: int, g: PoolAxis, order: tuple | None) -> Any:
    """The pass input's gradient buffer, in ``order`` (the layout of that input) or else gm's."""
    return _empty_as(gm, _resized(gm.shape, axis, g.padded), zero=not g.tiled, order=order)


def _max_unpass(gm: Any, winner: Any, axis: int, g: PoolAxis, order: tuple | None = None) -> Any:
    """Send each window's gradient to its winning tap: the backward of :func:`_max_pass`."""
    xp = backend.get_array_module(gm)
    ga = _unpass_buffer(gm, axis, g, order)
    if g.kernel == 2 and g.disjoint:  # the common 2x2 case: tap 0 gets gy - (what tap 1 got), no ~mask array
        second = ga[_at(axis, g.window(1))]
        xp.multiply(gm, winner, out=second)
        xp.subtract(gm, second, out=ga[_at(axis, g.window(0))])
        return _crop(ga, axis, g)
    for j in range(g.kernel):
        dst = ga[_at(axis, g.window(j))]
        if winner is None:  # a 1-tap window: every tap wins
            dst[...] = gm
        elif g.first_touch(j):  # a multiply by the bool mask beats copyto(where=) ~7x in NumPy
            xp.multiply(gm, _is_winner(winner, j), out=dst)
        else:  # overlapping windows: accumulate
            dst += gm * _is_winner(winner, j)
    return _crop(ga, axis, g)


def _sum_pass(a: Any, axis: int, g: PoolAxis) -> Any:
    """Sum of every window along ``axis`` (zero padding)."""
    a = _pad(a, axis, g, 0.0)
    if g.kernel == 1:
        return a[_at(axis, g.window(0))].copy()
    s = a[_at(axis, g.window(0))] + a[_at(axis, g.window(1))]
    for j in range(2, g.kernel):
        s += a[_at(axis, g.window(j))]
    return s


def _sum_unpass(gs: Any, axis: int, g: PoolAxis, order: tuple | None = None) -> Any:
    """Spread each window's gradient over its taps: the backward of :func:`_sum_pass`."""
    ga = _unpass_buffer(gs, axis, g, order)
    for j in range(g.kernel):
        dst = ga[_at(axis, g.window(j))]
        if g.first_touch(j):
            dst[...] = gs
        else:
            dst += gs
    return _crop(ga, axis, g)


def _passes(axes: tuple) -> list:
    """(axis, geometry) in forward order: the last axis first, then the one before it."""
    return [(-1 - i, g) for i, g in enumerate(reversed(axes))]


# --------------------------------------------------------------------------- Functions


class MaxPoolFn(Function):
    r"""y = max over each window;  gx = gy at the window's first maximum (row-major), 0 elsewhere.

    ``axes`` holds the :class:`PoolAxis` of each pooled (trailing) axis. The winner offsets of
    each 1-D pass are saved (``winners``), one small integer per window row.
    """

    def forward(self, x, *, axes):
        self.axes = axes
        self.winners, self.orders = [], []  # per pass: winner offsets, the pass input's layout
        y = x
        for axis, g in _passes(axes):
            self.orders.append(memory_order(y))
            y, winner = _max_pass(y, axis, g)
            self.winners.append(winner)
        return y

    def backward(self, gy):
        g = gy
        for (axis, geom), winner, order in reversed(list(zip(_passes(self.axes), self.winners, self.orders))):
            g = _max_unpass(g, winner, axis, geom, order)
        return (g,)


class AvgPoolFn(Function):
    r"""y = (sum over each window) / divisor;  gx = the sum of gy / divisor over the windows holding x.

    ``inv_divisor`` is the (out_H, out_W) or (out_L,) array of 1 / divisor (NumPy, float64).
    """

    def forward(self, x, *, axes, inv_divisor):
        xp = backend.get_array_module(x)
        self.axes = axes
        self.inv_divisor = xp.asarray(inv_divisor, dtype=x.dtype)
        self.orders = []  # per pass: the layout of its input
        y = x
        for axis, g in _passes(axes):
            self.orders.append(memory_order(y))
            y = _sum_pass(y, axis, g)
        y *= self.inv_divisor
        return y

    def backward(self, gy):
        g = gy * self.inv_divisor
        for (axis, geom), order in reversed(list(zip(_passes(self.axes), self.orders))):
            g = _sum_unpass(g, axis, geom, order)
        return (g,)


# --------------------------------------------------------------------------- argument checks


def check_pool_input(op: str, x: Any, n: int) -> None:
    """``x`` must be a floating Tensor of rank n+1 (unbatched) or n+2 (batched)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (n + 1, n + 2):
        names = "L" if n == 1 else "H, W"
        raise ShapeError(f"{op}: expected a {n + 1}-D (C, {names}) or {n + 2}-D (N, C, {names}) input, "
                         f"got shape {x.shape}")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be floating point, got {x.dtype}")


def int_tuple(value: Any, n: int, name: str, op: str) -> tuple:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints (TypeError otherwise)."""
    def is_int(v):
        return isinstance(v, (numbers.Integral, _np.integer)) and not isinstance(v, bool)

    if is_int(value):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(is_int(v) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")


def _output_size(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size; in ceil mode the last window must start inside input or left pad."""
    span = d * (k - 1) + 1
    out = (length + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def check_window_args(op: str, n: int, kernel_size: Any, stride: Any = None, padding: Any = 0,
                      dilation: Any = 1, where: str = "") -> tuple:
    """(kernel, stride, padding, dilation) as n-tuples, checked: positive sizes, padding <= half the span."""
    k = int_tuple(kernel_size, n, "kernel_size", op)
    s = k if stride is None else int_tuple(stride, n, "stride", op)
    p = int_tuple(padding, n, "padding", op)
    d = int_tuple(dilation, n, "dilation", op)
    where = f" {where}" if where else ""
    if min(k) < 1:
        raise ShapeError(f"{op}: kernel_size must be positive, got {k}{where}")
    if min(s) < 1:
        raise ShapeError(f"{op}: stride must be positive, got {s}{where}")
    if min(d) < 1:
        raise ShapeError(f"{op}: dilation must be positive, got {d}{where}")
    if min(p) < 0:
        raise ShapeError(f"{op}: padding must be non-negative, got {p}{where}")
    spans = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    if any(pi > span // 2 for pi, span in zip(p, spans)):
        raise ShapeError(f"{op}: padding {p} must be at most half the kernel span {spans} "
                         f"(kernel_size {k}, dilation {d}), i.e. at most {tuple(sp // 2 for sp in spans)}{where}")
    return k, s, p, d


def pool_geometry(op: str, x: Tensor, n: int, kernel_size: Any, stride: Any = None, padding: Any = 0,
                  dilation: Any = 1, ceil_mode: bool = False) -> tuple:
    """Check every argument against ``x`` (before any allocation) and return one PoolAxis per pooled axis."""
    check_pool_input(op, x, n)
    k, s, p, d = check_window_args(op, n, kernel_size, stride, padding, dilation, f"(input shape {x.shape})")
    spans = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    sizes = x.shape[x.ndim - n:]
    outs = [_output_size(*args, bool(ceil_mode)) for args in zip(sizes, k, s, p, d)]
    if min(outs) < 1:
        padded = "x".join(str(li + 2 * pi) for li, pi in zip(sizes, p))
        raise ShapeError(f"{op}: kernel_size {k} with dilation {d} spans {'x'.join(map(str, spans))}, "
                         f"larger than the padded input {padded} ({_DIMS[n]} of input shape {x.shape} "
                         f"with padding {p}); use a smaller kernel or a larger input")
    return tuple(PoolAxis(*args) for args in zip(sizes, k, s, p, d, outs))


def _avg_divisor(g: PoolAxis, count_include_pad: bool) -> Any:
    """PyTorch's divisor per window: its extent clipped to the padded input, or its real entries only."""
    start = _np.arange(g.out) * g.stride - g.padding
    end = _np.minimum(start + g.kernel, g.length + g.padding)
    if count_include_pad:
        return end - start
    return _np.minimum(end, g.length) - _np.maximum(start, 0)


# --------------------------------------------------------------------------- wrappers


def _max_pool(op, n, x, kernel_size, stride, padding, dilation, ceil_mode):
    axes = pool_geometry(op, x, n, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPoolFn.apply(x, axes=axes)


def max_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    r"""1-D max pooling: the largest entry of each window along the last axis.

    .. math:: y_{o} = \max_{j < k} \tilde x_{o s + j d}

    with :math:`\tilde x` the input padded by ``padding`` entries of :math:`-\infty` on each side
    (never selected). Gradient: :math:`g_x` receives :math:`g_y` of every window at the window's
    first maximum and 0 elsewhere (one element per window even when several tie, as in PyTorch).

    Args:
        x: input.
        kernel_size: k, the window length.
        stride: s, the step between windows (default: ``kernel_size``).
        padding: implicit -inf entries on both sides, at most half the kernel span (0).
        dilation: d, the distance between taps of one window (1).
        ceil_mode: round the output length up instead of down (False); a window must still
            start inside the input or the left padding.

    Shape:
        x (N, C, L) or (C, L); output (N, C, L_out) with
        :math:`L_{out} = \lfloor (L + 2p - d(k-1) - 1) / s \rfloor + 1` (ceil in ceil mode).
    """
    return _max_pool("max_pool1d", 1, x, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    r"""2-D max pooling: the largest entry of each kh x kw window of the last two axes.

    .. math:: y_{ab} = \max_{i < k_h,\ j < k_w} \tilde x_{a s_h + i d_h,\ b s_w + j d_w}

    with :math:`\tilde x` padded by -inf (never selected). Gradient: each window's :math:`g_y`
    goes to its first maximum in row-major order (PyTorch's tie rule), 0 elsewhere; overlapping
    windows accumulate. Computed as two strided 1-D passes (W, then H).

    Args:
        x: input.
        kernel_size: (kh, kw) or one int for both.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) of -inf on each side, at most half the kernel span (0).
        dilation: (dh, dw) between taps (1).
        ceil_mode: round output sizes up instead of down (False).

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) with
        :math:`H_{out} = \lfloor (H + 2p_h - d_h(k_h-1) - 1) / s_h \rfloor + 1`, W alike.

    Reference: the course's max pooling (LeNet/AlexNet sub-sampling layers).
    """
    return _max_pool("max_pool2d", 2, x, kernel_size, stride, padding, dilation, ceil_mode)


def _avg_pool(op, n, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    axes = pool_geometry(op, x, n, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (numbers.Integral, _np.integer)) \
                or divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
        inv = _np.full([g.out for g in axes], 1.0 / int(divisor_override))
    else:
        divisors = [_avg_divisor(g, bool(count_include_pad)) for g in axes]
        inv = 1.0 / math.prod(_np.ix_(*divisors))
    return AvgPoolFn.apply(x, axes=axes, inv_divisor=inv)


def avg_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    r"""1-D average pooling: the mean of each window along the last axis.

    .. math:: y_o = \frac{1}{|\Omega_o|} \sum_{j < k} \tilde x_{o s + j}

    with :math:`\tilde x` zero-padded. :math:`|\Omega_o|` is k, clipped to the padded input for
    windows that ceil mode lets run past it; with ``count_include_pad=False`` only the real
    (unpadded) entries are counted (PyTorch's rules). Gradient: every entry of a window receives
    :math:`g_{y_o} / |\Omega_o|`, summed over the windows that hold it.

    Args:
        x: input.
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        padding: zeros on each side, at most k // 2 (0).
        ceil_mode: round the output length up (False).
        count_include_pad: count padded zeros in the divisor (True).
        divisor_override: divide every window by this int instead (None).

    Shape:
        x (N, C, L) or (C, L); output (N, C, L_out), :math:`L_{out} = \lfloor (L + 2p - k)/s \rfloor + 1`.
    """
    return _avg_pool("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    r"""2-D average pooling: the mean of each kh x kw window of the last two axes.

    .. math:: y_{ab} = \frac{1}{|\Omega_{ab}|} \sum_{i < k_h,\ j < k_w} \tilde x_{a s_h + i,\ b s_w + j}

    (the course's average pooling, :math:`\frac{1}{|\Omega|}\sum_\Omega x_j`), with zero padding and
    PyTorch's divisor rules (see :func:`avg_pool1d`). Gradient: :math:`g_{y_{ab}} / |\Omega_{ab}|`
    spread over the window, summed where windows overlap.

    Args:
        x: input.
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) zeros, at most half the kernel (0).
        ceil_mode: round output sizes up (False).
        count_include_pad: count padded zeros in the divisor (True).
        divisor_override: divide every window by this int instead (None).

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) as for :func:`max_pool2d` with d = 1.

    Reference: the course's average (mean) pooling, LeNet-5's sub-sampling layers.
    """
    return _avg_pool("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
