r"""Adaptive pooling (the output size is given, the windows follow) and global average pooling.

Output entry ``i`` of an axis of length L pooled to ``out`` covers the input range
``[floor(i L / out), ceil((i + 1) L / out))``, PyTorch's rule: windows of one or two lengths that
may overlap by one entry. The pools stay separable (one pass along W, then one along H):

* average: each pass is a product with a small (out, L) averaging matrix
  :math:`A_{io} = 1/|\Omega_i|` on the window, so forward is :math:`A_H x A_W^\top` and
  backward :math:`A_H^\top g_y A_W`, two GEMMs each way (an axis with out = L is skipped);
* max: each pass gathers tap ``j`` of every window with one ``take`` (windows shorter than the
  longest repeat their last entry, which never wins a strict comparison), so the first maximum
  in row-major order wins as in PyTorch; backward scatters with ``scatter_add`` because
  adaptive windows may overlap.

``global_avg_pool2d`` is the mean over H and W, composed from :func:`~lucidnn.functional.mean`.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.functional.pool import _at, _is_winner, _resized, check_pool_input
from lucidnn.functional.reduction import mean

_np = backend.numpy


def adaptive_windows(length: int, out: int) -> tuple:
    """(start, end) arrays of the ``out`` windows over ``length`` entries (PyTorch's rule)."""
    i = _np.arange(out)
    return (i * length) // out, -((-(i + 1) * length) // out)


def _averaging_matrix(length: int, out: int) -> Any:
    """(out, length) float64 matrix whose row i averages window i; None when out == length (identity)."""
    if out == length:
        return None
    start, end = adaptive_windows(length, out)
    j = _np.arange(length)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return inside / (end - start)[:, None]


def _taps(length: int, out: int) -> Any:
    """(out, k_max) positions of each window's taps, the last one repeated in shorter windows."""
    start, end = adaptive_windows(length, out)
    j = _np.arange(int((end - start).max()))
    return _np.minimum(start[:, None] + j, end[:, None] - 1)


def _along(a: Any, axis: int, m: Any) -> Any:
    """:math:`\\sum_l m_{o l} a_{\\dots l \\dots}` along ``axis`` (-1 or -2): one GEMM via tensordot."""
    xp = backend.get_array_module(a)
    return xp.moveaxis(xp.tensordot(a, m, axes=([axis], [1])), -1, axis)


class AdaptiveAvgPoolFn(Function):
    r"""y = A_H x A_W^T (per trailing axis, averaging matrices A);  gx = A_H^T gy A_W.

    Global pooling (every pooled axis to 1) is a plain mean whose gradient gy / |window|
    is written straight into an array laid out as x was (a channels-last x gets a
    channels-last gradient, so the layers below never see a transposed layout).
    """

    def forward(self, x, *, matrices):
        xp = backend.get_array_module(x)
        # per pooled axis, last axis first; None = the axis is kept as it is
        self.matrices = [None if m is None else xp.asarray(m, dtype=x.dtype) for m in reversed(matrices)]
        if x.ndim > 2 and all(m is not None and m.shape[0] == 1 for m in self.matrices):
            return self._global_forward(x)
        self.global_shape = None
        y = x
        for i, m in enumerate(self.matrices):
            if m is not None:
                y = _along(y, -1 - i, m)
        return y.copy() if y is x else xp.ascontiguousarray(y)

    def _global_forward(self, x):
        xp = backend.get_array_module(x)
        k = len(self.matrices)
        self.global_shape, self.window = x.shape, x.size // (x.shape[0] * x.shape[1])
        last = xp.moveaxis(x, 1, -1)
        self.channels_last = bool(last.flags.c_contiguous) and x.ndim == k + 2
        if self.channels_last:  # (N, window, C): a batched BLAS product with a row of ones
            ones = xp.ones((1, self.window), dtype=x.dtype)
            y = (ones @ last.reshape(x.shape[0], self.window, x.shape[1])) / x.dtype.type(self.window)
            return y.reshape(x.shape[:2] + (1,) * k)
        return x.mean(axis=tuple(range(x.ndim - k, x.ndim)), keepdims=True)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        if self.global_shape is not None:
            shape = self.global_shape
            if self.channels_last:
                gx = xp.moveaxis(xp.empty((shape[0],) + shape[2:] + (shape[1],), dtype=gy.dtype), -1, 1)
            else:
                gx = xp.empty(shape, dtype=gy.dtype)
            gx[...] = gy / gy.dtype.type(self.window)
            return (gx,)
        g = gy
        for i in reversed(range(len(self.matrices))):
            m = self.matrices[i]
            if m is not None:
                g = _along(g, -1 - i, m.T)
        return (g,)


class AdaptiveMaxPoolFn(Function):
    r"""y = max over each adaptive window;  gx = gy at the window's first maximum (row-major), 0 elsewhere."""

    def forward(self, x, *, taps):
        xp = backend.get_array_module(x)
        self.taps = [xp.asarray(t) for t in reversed(taps)]  # last axis first
        self.lengths = list(reversed(x.shape[x.ndim - len(taps):]))
        self.winners = []
        y = x
        for i, t in enumerate(self.taps):
            axis = -1 - i
            best = xp.take(y, t[:, 0], axis=axis)
            winner = xp.zeros(best.shape, dtype=xp.uint8 if t.shape[1] <= 256 else xp.int32)
            for j in range(1, t.shape[1]):
                v = xp.take(y, t[:, j], axis=axis)
                beats = xp.greater(v, best).astype(winner.dtype)  # strict: ties keep the earlier tap
                beats *= j
                xp.maximum(winner, beats, out=winner)  # every winner so far is < j
                xp.maximum(best, v, out=best)
            self.winners.append(winner)
            y = best
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        g = gy
        for i in reversed(range(len(self.taps))):
            axis, t, winner = -1 - i, self.taps[i], self.winners[i]
            ga = xp.zeros(_resized(g.shape, axis, self.lengths[i]), dtype=g.dtype)
            for j in range(t.shape[1]):
                # overlapping windows can send two gradients to one position: accumulate
                backend.scatter_add(ga, _at(axis, t[:, j]), g * _is_winner(winner, j))
            g = ga
        return (g,)


# --------------------------------------------------------------------------- wrappers


def _output_size(op: str, x: Tensor, n: int, output_size: Any) -> tuple:
    """``output_size`` (an int, or a tuple whose None entries keep the input size) as n positive ints."""
    check_pool_input(op, x, n)
    sizes = x.shape[x.ndim - n:]
    values = (output_size,) * n if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(values) != n:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {n} ints (or None), got {output_size!r}")
    out = []
    for v, size in zip(values, sizes):
        if v is None:
            out.append(size)
        elif isinstance(v, bool) or not isinstance(v, (int, _np.integer)):
            raise TypeError(f"{op}: output_size must be an int or a tuple of {n} ints (or None), got {output_size!r}")
        else:
            out.append(int(v))
    if min(out) < 1:
        raise ShapeError(f"{op}: output_size must be positive, got {tuple(out)} (input shape {x.shape})")
    if min(sizes) < 1:
        raise ShapeError(f"{op}: cannot pool an empty input of shape {x.shape} to {tuple(out)}")
    return tuple(out)


def adaptive_avg_pool1d(x: Tensor, output_size: int) -> Tensor:
    r"""1-D adaptive average pooling: the mean of window i = [floor(iL/out), ceil((i+1)L/out)).

    Gradient: each entry of window i receives :math:`g_{y_i} / |\Omega_i|` (summed where two
    windows share an entry).

    Args:
        x: input.
        output_size: out, the output length.

    Shape:
        x (N, C, L) or (C, L); output (N, C, out).
    """
    out = _output_size("adaptive_avg_pool1d", x, 1, output_size)
    return AdaptiveAvgPoolFn.apply(x, matrices=(_averaging_matrix(x.shape[-1], out[0]),))


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    r"""2-D adaptive average pooling to a fixed (out_H, out_W), windows as in :func:`adaptive_avg_pool1d` per axis.

    ``adaptive_avg_pool2d(x, 1)`` is global average pooling (keeping 1x1 spatial axes).

    Args:
        x: input.
        output_size: (out_H, out_W), one int for both, or None in a slot to keep that size.

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, out_H, out_W).
    """
    out = _output_size("adaptive_avg_pool2d", x, 2, output_size)
    sizes = x.shape[-2:]
    return AdaptiveAvgPoolFn.apply(x, matrices=tuple(_averaging_matrix(s, o) for s, o in zip(sizes, out)))


def adaptive_max_pool1d(x: Tensor, output_size: int) -> Tensor:
    r"""1-D adaptive max pooling: the largest entry of window i = [floor(iL/out), ceil((i+1)L/out)).

    Gradient: :math:`g_{y_i}` goes to the window's first maximum, 0 elsewhere.

    Args:
        x: input.
        output_size: out, the output length.

    Shape:
        x (N, C, L) or (C, L); output (N, C, out).
    """
    out = _output_size("adaptive_max_pool1d", x, 1, output_size)
    return AdaptiveMaxPoolFn.apply(x, taps=(_taps(x.shape[-1], out[0]),))


def adaptive_max_pool2d(x: Tensor, output_size: Any) -> Tensor:
    r"""2-D adaptive max pooling to (out_H, out_W); ties go to the first maximum in row-major order.

    Args:
        x: input.
        output_size: (out_H, out_W), one int for both, or None in a slot to keep that size.

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, out_H, out_W).
    """
    out = _output_size("adaptive_max_pool2d", x, 2, output_size)
    return AdaptiveMaxPoolFn.apply(x, taps=tuple(_taps(s, o) for s, o in zip(x.shape[-2:], out)))


def global_avg_pool2d(x: Tensor, keepdims: bool = False) -> Tensor:
    r"""Global average pooling: the mean of each channel over H and W, :math:`y_{nc} = \frac{1}{HW}\sum_{hw} x_{nchw}`.

    Args:
        x: input.
        keepdims: keep the pooled axes as size 1, (N, C, 1, 1) (False: (N, C)).

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C) or (C,) (with ``keepdims``: (N, C, 1, 1)).

    Reference: Lin et al., "Network In Network", 2014 (global average pooling before the classifier).
    """
    op = "global_avg_pool2d"
    check_pool_input(op, x, 2)
    if min(x.shape[-2:]) < 1:
        raise ShapeError(f"{op}: cannot average over empty spatial axes, input shape {x.shape}")
    return mean(x, axis=(-2, -1), keepdims=keepdims)
