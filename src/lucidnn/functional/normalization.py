r"""Normalization layers as fused Functions: batch normalization and layer normalization.

Both normalize with a mean and a variance and then apply a learned affine map,

.. math:: \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad y = w \hat x + b,

and differ only in the axes the statistics are taken over: every axis but the channel axis 1
(batch norm) or the trailing ``normalized_shape`` axes (layer norm). Each is one Function with
the textbook backward, written with the forward's :math:`\hat x` and :math:`1/\sigma`,

.. math:: g_x = \frac{w}{\sigma}\Big(g_y - \overline{g_y} - \hat x\, \overline{g_y \hat x}\Big),
          \qquad g_w = \sum g_y \hat x, \qquad g_b = \sum g_y

(bars are means over the normalized axes), instead of the ~15 graph nodes a composition of
mean, sub, mul, sqrt and div would cost (PERFORMANCE.md, item 1).

Reference: Ioffe and Szegedy, "Batch Normalization", 2015; Ba et al., "Layer Normalization", 2016.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional._workspace import output, scratch

# --------------------------------------------------------------------------- Functions


def _affine_output(x_hat, w, b, shape: tuple):
    """y = x_hat * w + b with (C,) vectors reshaped to ``shape``; never x_hat itself (backward keeps it)."""
    y = x_hat.copy() if w is None else x_hat * w.reshape(shape)
    if b is not None:
        y += b.reshape(shape)
    return y


class _ChannelView:
    """Per-channel arithmetic on an (N, C, *S) array through a view of its memory where it is fast.

    * channels-last memory (a channels-last conv's output): a matrix whose rows hold ``fold``
      consecutive pixels of C channels, so that a (C,) vector, tiled ``fold`` times,
      broadcasts over rows of ~1000 elements (NumPy's per-row overhead on rows of only C
      elements costs 2x);
    * channels-first memory (C, N, *S) (a K-major conv's output): planes (1, C, N*S);
    * anything else: planes (N, C, S), copied once if the memory is not NCHW.
    """

    ROW_ELEMENTS = 1024  # the folded row length aimed at

    def __init__(self, shape: tuple, layout: str) -> None:
        self.shape, self.channels, self.layout = shape, shape[1], layout
        self.count = math.prod(shape) // self.channels  # n: entries per channel
        self.fold = math.gcd(self.count, max(1, self.ROW_ELEMENTS // self.channels)) if layout == "last" else 1

    @classmethod
    def of(cls, a: Any) -> tuple[_ChannelView, Any]:
        """The view kind for ``a`` and ``a`` seen through it."""
        xp = backend.get_array_module(a)
        if a.ndim == 2 or xp.moveaxis(a, 1, -1).flags.c_contiguous:
            layout = "last"
        elif a.swapaxes(0, 1).flags.c_contiguous and not a.flags.c_contiguous:
            layout = "first"
        else:
            layout = "planes"
        view = cls(a.shape, layout)
        return view, view.see(a)

    def see(self, a: Any) -> Any:
        """``a`` (N, C, *S) as this view; copies only if its memory is laid out differently."""
        xp = backend.get_array_module(a)
        if self.layout == "last":
            last = a if a.ndim == 2 else xp.moveaxis(a, 1, -1)
            return xp.ascontiguousarray(last).reshape(-1, self.fold * self.channels)
        if self.layout == "first":
            return xp.ascontiguousarray(a.swapaxes(0, 1)).reshape(1, self.channels, -1)
        return xp.ascontiguousarray(a).reshape(self.shape[0], self.channels, -1)

    def unsee(self, v: Any) -> Any:
        """The inverse of :meth:`see`: (N, C, *S), a view of ``v``'s memory."""
        if self.layout == "first":
            return v.reshape((self.channels, self.shape[0]) + self.shape[2:]).swapaxes(0, 1)
        if self.layout == "planes" or len(self.shape) == 2:
            return v.reshape(self.shape)
        xp = backend.get_array_module(v)
        return xp.moveaxis(v.reshape(self.shape[:1] + self.shape[2:] + self.shape[1:2]), -1, 1)

    def vector(self, c: Any) -> Any:
        """A (C,) vector shaped to broadcast over the view."""
        if self.layout == "last":
            return backend.get_array_module(c).tile(c, self.fold)
        return c.reshape(1, -1, 1)

    def sum(self, v: Any) -> Any:
        """Per-channel sum over the view: (C,)."""
        xp = backend.get_array_module(v)
        if self.layout == "last":  # a BLAS matrix-vector product: one pass, ~4x faster than sum(axis=0)
            return (xp.ones(v.shape[0], dtype=v.dtype) @ v).reshape(self.fold, -1).sum(axis=0)
        return v.sum(axis=2).sum(axis=0)

    def dot(self, u: Any, v: Any) -> Any:
        """Per-channel sum of u * v over the view, without forming the product: (C,)."""
        xp = backend.get_array_module(u)
        if self.layout == "last":
            return xp.einsum("mc,mc->c", u, v).reshape(self.fold, -1).sum(axis=0)
        return xp.einsum("ncs,ncs->c", u, v)


class BatchNormFn(Function):
    r"""Batch norm over every axis but 1, with batch or running statistics.

    Training: :math:`\mu, \sigma^2` are the batch mean and biased variance over the n entries
    of each channel; gx = (w/\sigma)(gy - mean(gy) - \hat x mean(gy \hat x)).
    Evaluation: :math:`\mu, \sigma^2` are the running statistics (constants), so
    gx = gy w / \sigma. In both, gw = \sum gy \hat x and gb = \sum gy per channel.

    ``affine`` holds the weight and/or bias tensors that ``has_weight``/``has_bias`` say are
    present. The running statistics are raw arrays updated in place (training only).

    Speed: the work is done on a 2-D (or 3-D) view with contiguous channels (no transposing
    copy of a channels-last conv output); sums are BLAS products or einsum contractions, and
    :math:`\hat x` is never stored: it is :math:`(x - \mu)/\sigma` of the saved input,
    rebuilt in a reused scratch buffer. Forward and backward each allocate only their result.
    """

    def forward(self, x, *affine, running_mean, running_var, training, momentum, eps, has_weight, has_bias):
        xp = backend.get_array_module(x)
        view, v = _ChannelView.of(x)
        n = view.count
        w = affine[0] if has_weight else None
        b = affine[-1] if has_bias else None
        if training:
            mean = view.sum(v) / n  # (C,)
            xc = xp.subtract(v, view.vector(mean), out=scratch(x, "centred", v.shape, x.dtype))
            var = view.dot(xc, xc) / n  # biased: the normalization uses 1/n
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += momentum * mean
            if running_var is not None:  # the running estimate is unbiased (1/(n-1)), as in PyTorch
                running_var *= 1.0 - momentum
                running_var += (momentum * n / max(n - 1, 1)) * var
        else:
            mean, var = running_mean, running_var
            xc = xp.subtract(v, view.vector(mean), out=scratch(x, "centred", v.shape, x.dtype))
        inv_std = 1.0 / xp.sqrt(var + eps)  # (C,)
        scale = inv_std if w is None else w * inv_std
        y = xp.multiply(xc, view.vector(scale), out=output(x, xc.shape, xp.result_type(xc.dtype, scale.dtype)))
        if b is not None:
            y += view.vector(b)
        self.view, self.v, self.mean, self.inv_std, self.scale = view, v, mean, inv_std, scale
        self.training, self.has_weight, self.has_bias = training, has_weight, has_bias
        return view.unsee(y)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        needs = self.needs_input_grad
        view, v = self.view, self.v
        g = view.see(gy)
        need_w = self.has_weight and needs[1]
        need_b = self.has_bias and needs[-1]
        need_stats = needs[0] and self.training
        sum_gy = view.sum(g) if (need_b or need_stats) else None
        sum_gy_xhat = xc = None
        if need_w or need_stats:  # sum gy x_hat = (sum gy (x - mu)) / sigma
            xc = xp.subtract(v, view.vector(self.mean), out=scratch(gy, "centred", v.shape, v.dtype))
            sum_gy_xhat = view.dot(g, xc) * self.inv_std
        gx = None
        if needs[0]:
            scale = self.scale
            gx = xp.multiply(g, view.vector(scale), out=output(gy, g.shape, xp.result_type(g.dtype, scale.dtype)))
            if self.training:
                # gx = scale (gy - sum_gy/n - x_hat sum_gy_xhat/n), x_hat = (x - mu) inv_std
                n = view.count
                xc *= view.vector(-scale * self.inv_std * sum_gy_xhat / n)
                gx += xc
                gx -= view.vector(scale * sum_gy / n)
            gx = view.unsee(gx)
        grads = [gx]
        if self.has_weight:
            grads.append(sum_gy_xhat if need_w else None)
        if self.has_bias:
            grads.append(sum_gy if need_b else None)
        return tuple(grads)


class LayerNormFn(Function):
    r"""Layer norm over the last ``n_axes`` axes (D entries per row, M rows).

    :math:`\hat x = (x - \mu)/\sigma` per row; y = w \hat x + b with w, b of the normalized
    shape; gx = (1/\sigma)(\hat g - mean(\hat g) - \hat x mean(\hat g \hat x)) with
    :math:`\hat g = g_y w`; gw = \sum_{rows} gy \hat x; gb = \sum_{rows} gy.
    """

    def forward(self, x, *affine, n_axes, eps, has_weight, has_bias):
        xp = backend.get_array_module(x)
        self.x_shape, self.param_shape = x.shape, x.shape[x.ndim - n_axes:]
        row = math.prod(self.param_shape)
        x2 = x.reshape(-1, row)  # (M, D)
        xc = x2 - x2.mean(axis=1, keepdims=True)
        var = (xc * xc).mean(axis=1, keepdims=True)  # (M, 1), biased as in PyTorch
        self.inv_std = 1.0 / xp.sqrt(var + eps)
        xc *= self.inv_std  # our own temporary becomes x_hat, (M, D)
        self.x_hat = xc
        self.w = affine[0].reshape(-1) if has_weight else None  # (D,)
        self.has_weight, self.has_bias = has_weight, has_bias
        b = affine[-1].reshape(-1) if has_bias else None
        return _affine_output(self.x_hat, self.w, b, (-1,)).reshape(x.shape)

    def backward(self, gy):
        needs = self.needs_input_grad
        x_hat, w = self.x_hat, self.w
        gy2 = gy.reshape(x_hat.shape)  # (M, D)
        grads = [None]
        if needs[0]:
            g_hat = gy2 if w is None else gy2 * w
            gx = g_hat - g_hat.mean(axis=1, keepdims=True) - x_hat * (g_hat * x_hat).mean(axis=1, keepdims=True)
            gx *= self.inv_std
            grads[0] = gx.reshape(self.x_shape)
        if self.has_weight:
            grads.append((gy2 * x_hat).sum(axis=0).reshape(self.param_shape) if needs[1] else None)
        if self.has_bias:
            grads.append(gy2.sum(axis=0).reshape(self.param_shape) if needs[-1] else None)
        return tuple(grads)


# --------------------------------------------------------------------------- argument checks


def _number(value: Any, name: str, op: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def _check_eps(eps: Any, op: str) -> float:
    eps = _number(eps, "eps", op)
    if not eps > 0:  # also rejects NaN
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    return eps


def _check_vector(t: Any, name: str, x: Tensor, shape: tuple, op: str) -> None:
    """A Tensor (or None) of exactly ``shape`` with x's dtype, on x's device."""
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
    if t.shape != shape:
        raise ShapeError(f"{op}: {name} has shape {t.shape} but the input of shape {x.shape} needs {shape}")
    if t.dtype != x.dtype:
        raise DTypeError(f"{op}: {name} is {t.dtype} but the input is {x.dtype}; convert one of them "
                         "with .astype() so no silent up/down-cast happens")
    backend.check_same_device([x.data, t.data], op)


def _affine(weight: Tensor | None, bias: Tensor | None) -> tuple:
    return tuple(t for t in (weight, bias) if t is not None)


# --------------------------------------------------------------------------- wrappers


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    r"""Batch normalization: normalize each channel (axis 1) over the batch and every other axis.

    .. math:: y = w_c \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}} + b_c

    In training :math:`\mu_c, \sigma_c^2` are the mean and the biased variance of channel c
    over the batch (n = N * L or N * H * W entries), and the running statistics, when given,
    are updated in place exactly as PyTorch does:

    .. math:: \hat\mu \leftarrow (1 - m)\hat\mu + m \mu_c, \qquad
              \hat\sigma^2 \leftarrow (1 - m)\hat\sigma^2 + m \tfrac{n}{n - 1} \sigma_c^2

    (the running variance is the unbiased estimate). In evaluation the running statistics
    are used instead and nothing is updated; the op stays differentiable in both modes.
    Gradients: :math:`g_x = \frac{w}{\sigma}(g_y - \overline{g_y} - \hat x\,\overline{g_y \hat x})`
    in training (:math:`g_x = g_y w / \sigma` in evaluation), :math:`g_w = \sum g_y \hat x`,
    :math:`g_b = \sum g_y`, sums and means over every axis but 1. The running statistics
    never receive gradients.

    Args:
        x: input with the channel axis at 1.
        running_mean: (C,) running mean, or None (training only: nothing is tracked).
        running_var: (C,) running variance, or None (training only).
        weight: optional (C,) scale w (default: none, i.e. 1).
        bias: optional (C,) shift b (default: none, i.e. 0).
        training: use batch statistics and update the running ones (True) or use the running
            statistics (False, default).
        momentum: m in [0, 1], the weight of the new batch in the running averages (0.1).
            ``nn.BatchNorm1d(momentum=None)`` passes 1/num_batches_tracked here for a
            cumulative average.
        eps: :math:`\varepsilon > 0` added to the variance (1e-5).

    Shape:
        x (N, C), (N, C, L) or (N, C, H, W) (any rank >= 2); weight, bias and running
        statistics (C,); output like x.

    Reference: Ioffe and Szegedy, "Batch Normalization: Accelerating Deep Network Training by
    Reducing Internal Covariate Shift", ICML 2015.
    """
    op = "batch_norm"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ShapeError(f"{op}: input of shape {x.shape} needs at least 2 dimensions (N, C, ...), "
                         "with the channels on axis 1")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be floating point, got {x.dtype}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_vector(t, name, x, (channels,), op)
    momentum = _number(momentum, "momentum", op)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}")
    eps = _check_eps(eps, op)
    training = bool(training)
    if training:
        n = x.numel() // channels if channels else 0
        if n <= 1:
            raise ShapeError(f"{op}: training needs more than 1 value per channel to compute a variance, "
                             f"got input of shape {x.shape}; use a larger batch or eval mode")
    elif running_mean is None or running_var is None:
        raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var; "
                         "pass them, or use training=True to normalize with batch statistics")
    return BatchNormFn.apply(
        x, *_affine(weight, bias),
        running_mean=None if running_mean is None else running_mean.data,
        running_var=None if running_var is None else running_var.data,
        training=training, momentum=momentum, eps=eps,
        has_weight=weight is not None, has_bias=bias is not None,
    )


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    r"""Layer normalization: normalize each sample over its trailing ``normalized_shape`` axes.

    .. math:: y = w \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + b

    with :math:`\mu, \sigma^2` the mean and biased variance of the last
    ``len(normalized_shape)`` axes of each sample (D entries), the same in training and
    evaluation. Gradients, with :math:`\hat g = g_y \odot w`:
    :math:`g_x = \frac{1}{\sigma}(\hat g - \overline{\hat g} - \hat x\,\overline{\hat g \hat x})`
    (means over the D entries), :math:`g_w = \sum g_y \hat x`, :math:`g_b = \sum g_y` over
    every leading axis.

    Args:
        x: input whose trailing axes equal ``normalized_shape``.
        normalized_shape: an int or a sequence of positive ints, the trailing shape.
        weight: optional elementwise scale w of shape ``normalized_shape`` (default: 1).
        bias: optional elementwise shift b of shape ``normalized_shape`` (default: 0).
        eps: :math:`\varepsilon > 0` added to the variance (1e-5).

    Shape:
        x (*, *normalized_shape); weight and bias ``normalized_shape``; output like x.

    Reference: Ba, Kiros and Hinton, "Layer Normalization", 2016.
    """
    op = "layer_norm"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be floating point, got {x.dtype}")
    shape = normalized_shape_tuple(normalized_shape, op)
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ShapeError(f"{op}: input of shape {x.shape} does not end with normalized_shape {shape}; "
                         f"its last {len(shape)} dimension(s) must equal normalized_shape")
    _check_vector(weight, "weight", x, shape, op)
    _check_vector(bias, "bias", x, shape, op)
    return LayerNormFn.apply(x, *_affine(weight, bias), n_axes=len(shape), eps=_check_eps(eps, op),
                             has_weight=weight is not None, has_bias=bias is not None)


def normalized_shape_tuple(normalized_shape: Any, op: str) -> tuple:
    """``normalized_shape`` (an int or a sequence of ints) as a non-empty tuple of positive ints."""
    if isinstance(normalized_shape, (numbers.Integral, backend.numpy.integer)) and \
            not isinstance(normalized_shape, bool):
        shape = (int(normalized_shape),)
    elif isinstance(normalized_shape, Sequence) and not isinstance(normalized_shape, str) and all(
            isinstance(n, (numbers.Integral, backend.numpy.integer)) and not isinstance(n, bool)
            for n in normalized_shape):
        shape = tuple(int(n) for n in normalized_shape)
    else:
        raise TypeError(f"{op}: normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}")
    if not shape or any(n <= 0 for n in shape):
        raise ValueError(f"{op}: normalized_shape must be a non-empty shape of positive sizes, "
                         f"got {normalized_shape!r}")
    return shape
