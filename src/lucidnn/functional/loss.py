r"""Loss functions: regression (MSE, L1, smooth L1) and classification (cross-entropy, NLL, BCE).

Every loss takes ``reduction='mean' | 'sum' | 'none'`` and follows PyTorch's semantics
exactly, including how ``weight``, ``ignore_index`` and ``label_smoothing`` enter the
mean. The regression losses are composed from elementwise ops; the classification losses
are Functions, because composing them is unstable (log-softmax, BCE with logits) or
because their gradient is the textbook result worth showing (softmax minus target).

Classification inputs put the class axis at 1: ``(N, C)``, ``(N, C, d1, ..., dk)``, or
``(C,)`` for a single sample. Internally the class axis is moved last and the other axes
flattened into M "rows", one per predicted distribution.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd import grad_mode
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, GraphError, IndexingError, ShapeError
from lucidnn.functional.arithmetic import abs, mul, sub, where
from lucidnn.functional.reduction import mean, sum

_np = backend.numpy

_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- argument checks


def _check_input(x: Any, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: input must be a floating tensor, got {x.dtype}; "
                         "convert it with .astype(lucidnn.float32)")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _float_target(target: Any, x: Tensor, op: str) -> Tensor:
    """``target`` as a Tensor of ``x``'s shape and dtype (arrays and lists are converted)."""
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=x.dtype, device=x.device)
    elif not backend.is_floating(target.dtype):
        raise DTypeError(f"{op}: target must be a floating tensor, got {target.dtype}; "
                         f"convert it with .astype(lucidnn.{x.dtype})")
    elif target.dtype != x.dtype:
        raise DTypeError(f"{op}: input is {x.dtype} but target is {target.dtype}; "
                         f"convert the target with .astype(lucidnn.{x.dtype})")
    if target.shape != x.shape:
        raise ShapeError(f"{op}: target shape {target.shape} does not match input shape {x.shape}; "
                         "the shapes must be equal (losses do not broadcast)")
    return target


def _constant(value: Any, x: Tensor, name: str, op: str, shape: tuple | None = None) -> Any:
    """A weight argument as an array of ``x``'s dtype; weights get no gradient, as in PyTorch."""
    if value is None:
        return None
    if isinstance(value, Tensor) and value.requires_grad and grad_mode.is_grad_enabled():
        raise GraphError(f"{op}: {name} requires grad, but no gradient flows to {name} "
                         f"(as in PyTorch); pass {name}.detach()")
    w = Tensor(value, dtype=x.dtype, device=x.device).data
    if shape is not None and w.shape != shape:
        raise ShapeError(f"{op}: {name} has shape {w.shape} but the input has {shape[0]} classes; "
                         f"give one {name} per class, shape {shape}")
    if shape is None and not _broadcasts_to(w.shape, x.shape):
        raise ShapeError(f"{op}: {name} of shape {w.shape} does not broadcast to the input shape {x.shape}")
    return w


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    try:
        return _np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        if loss.data.size == 0:  # NaN as in torch, without MeanFn's backward dividing by n = 0
            return mul(sum(loss), float("nan"))
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


# --------------------------------------------------------------------------- class layout


def _class_count(x: Tensor, op: str) -> int:
    if x.ndim == 0:
        raise ShapeError(f"{op}: input must have a class axis, shape (C,), (N, C) or (N, C, d1, ...); "
                         "got a 0-d tensor")
    n_classes = x.shape[1] if x.ndim >= 2 else x.shape[0]
    if n_classes == 0:
        raise ShapeError(f"{op}: input of shape {x.shape} has 0 classes (axis {min(x.ndim - 1, 1)})")
    return n_classes


def _without_class_axis(shape: tuple) -> tuple:
    return (shape[0], *shape[2:]) if len(shape) >= 2 else ()


def _to_rows(a: Any, xp: Any) -> Any:
    """(N, C, d1, ...) -> (M, C) with M = N d1 ...; (C,) -> (1, C)."""
    if a.ndim == 1:
        return a[None, :]
    if a.ndim > 2:
        a = xp.moveaxis(a, 1, -1)  # (N, d1, ..., C)
    return a.reshape(-1, a.shape[-1])


def _from_rows(a: Any, shape: tuple, xp: Any) -> Any:
    """Inverse of :func:`_to_rows`."""
    if len(shape) <= 2:
        return a.reshape(shape)
    return xp.moveaxis(a.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


def _class_target(target: Any, x: Tensor, n_classes: int, ignore_index: int, op: str) -> Any:
    """Class-index target as an int64 array, checked for shape and range."""
    y = target.data if isinstance(target, Tensor) else Tensor(target, device=x.device).data
    backend.check_same_device([x.data, y], op)
    if y.dtype.kind not in "iu":
        raise DTypeError(f"{op}: target must hold integer class indices, got {y.dtype}; pass int64 "
                         f"indices of shape {_without_class_axis(x.shape)}, or class probabilities of "
                         f"the input's shape {x.shape} in its floating dtype")
    expected = _without_class_axis(x.shape)
    if y.shape != expected:
        raise ShapeError(f"{op}: target shape {y.shape} does not match input shape {x.shape}; "
                         f"class-index targets need shape {expected} (the input's shape without "
                         "the class axis)")
    y = y.astype(backend.int64, copy=False)
    bad = (y != ignore_index) & ((y < 0) | (y >= n_classes))
    if bad.any():
        value = int(y[bad].ravel()[0])
        raise IndexingError(f"{op}: target value {value} is out of range for {n_classes} classes "
                            f"(valid: 0..{n_classes - 1}, or ignore_index={ignore_index})")
    return y


def _index_rows(target: Any, weight: Any, ignore_index: int, dtype: Any, xp: Any) -> tuple:
    """Flattened targets y (ignored ones set to 0), the mask of kept rows and w[y] (0 where ignored)."""
    y = target.reshape(-1)
    valid = y != ignore_index
    y = xp.where(valid, y, 0)
    w_y = valid.astype(dtype) if weight is None else xp.where(valid, weight[y], 0).astype(dtype)
    return y, valid, w_y


def _reduce_rows(loss: Any, reduction: str, denominator: Any, out_shape: tuple) -> Any:
    if reduction == "none":
        return loss.reshape(out_shape)
    total = loss.sum()
    if reduction == "sum":
        return total
    with _np.errstate(invalid="ignore", divide="ignore"):  # 0/0 when every row is ignored: NaN, as torch
        return total / denominator


def _row_grads(gy: Any, reduction: str, denominator: Any, n_rows: int, xp: Any) -> Any:
    """dL/d(loss of each row), shape (M,)."""
    if reduction == "none":
        return gy.reshape(-1)
    if reduction == "mean":
        with _np.errstate(invalid="ignore", divide="ignore"):
            gy = gy / denominator
    return xp.broadcast_to(gy, (n_rows,))


# --------------------------------------------------------------------------- Functions


class CrossEntropyFn(Function):
    r"""Softmax cross-entropy from logits, fused with a stable log-softmax.

    With :math:`\log p = z - m - \log \sum_c e^{z_c - m}` (:math:`m = \max_c z_c`) and a
    per-row target weighting :math:`A_{ic}`, the loss of row i is
    :math:`\ell_i = -\sum_c A_{ic} \log p_{ic}` and its gradient is

    .. math:: \frac{\partial \ell_i}{\partial z_{ic}} = \Big(\sum_{c'} A_{ic'}\Big)\, p_{ic} - A_{ic}.

    Class indices y: :math:`A_{ic} = (1-\varepsilon) w_{y_i} [c = y_i] + \frac{\varepsilon}{C} w_c`
    (zero for ignored rows); the mean divides by :math:`\sum_i w_{y_i}` over kept rows.
    Class probabilities q: :math:`A_{ic} = w_c ((1-\varepsilon) q_{ic} + \varepsilon / C)`; the
    mean divides by the number of rows, and :math:`g_q = -(1-\varepsilon) w \log p`.
    """

    def forward(self, x, q=None, *, target, weight, ignore_index, reduction, label_smoothing):
        xp = backend.get_array_module(x)
        z = _to_rows(x, xp)  # (M, C)
        n_rows, n_classes = z.shape
        m = z.max(axis=1, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # a row of -inf logits: avoid inf - inf
        shifted = z - m
        log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        eps = label_smoothing
        self.shape, self.reduction, self.eps, self.weight = x.shape, reduction, eps, weight
        self.log_p, self.by_index = log_p, q is None
        if q is None:
            y, valid, w_y = _index_rows(target, weight, ignore_index, x.dtype, xp)
            self.y, self.valid, self.w_y = y, valid, w_y
            picked = xp.where(valid, log_p[xp.arange(n_rows), y], 0)  # (M,)
            loss = -(1 - eps) * w_y * picked
            if eps:
                smooth = (log_p if weight is None else log_p * weight).sum(axis=1)
                loss -= (eps / n_classes) * xp.where(valid, smooth, 0)
            denominator = w_y.sum()
        else:
            a = _to_rows(q, xp) * (1 - eps) + eps / n_classes
            self.a = a if weight is None else a * weight
            loss = -(self.a * log_p).sum(axis=1)
            denominator = n_rows
        self.denominator = denominator
        return _reduce_rows(loss, reduction, denominator, _without_class_axis(x.shape))

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        n_rows, n_classes = self.log_p.shape
        g = _row_grads(gy, self.reduction, self.denominator, n_rows, xp)  # (M,)
        eps, weight = self.eps, self.weight
        g_q = None
        if self.by_index:
            g = xp.where(self.valid, g, 0)  # before any product: g is inf when all rows are ignored
            w_sum = n_classes if weight is None else weight.sum()
            a_sum = (1 - eps) * self.w_y + (eps / n_classes) * w_sum
            gz = xp.exp(self.log_p) * (g * a_sum)[:, None]  # (M, C)
            gz[xp.arange(n_rows), self.y] -= (1 - eps) * g * self.w_y
            if eps:
                gz -= (eps / n_classes) * g[:, None] * (1 if weight is None else weight)
        else:
            gz = xp.exp(self.log_p) * (g * self.a.sum(axis=1))[:, None] - self.a * g[:, None]
            if self.needs_input_grad[1]:
                w_log_p = self.log_p if weight is None else self.log_p * weight
                g_q = _from_rows(-(1 - eps) * w_log_p * g[:, None], self.shape, xp)
        gx = _from_rows(gz, self.shape, xp) if self.needs_input_grad[0] else None
        return gx if len(self.needs_input_grad) == 1 else (gx, g_q)


class NLLLossFn(Function):
    r"""Negative log-likelihood of log-probabilities: :math:`\ell_i = -w_{y_i} x_{i y_i}`.

    Gradient: :math:`g_{x_{ic}} = -w_{y_i} [c = y_i]` times the row's share of ``gy``; ignored
    rows get zero. The mean divides by :math:`\sum_i w_{y_i}` over kept rows.
    """

    def forward(self, x, target, weight, ignore_index, reduction):
        xp = backend.get_array_module(x)
        x_rows = _to_rows(x, xp)  # (M, C)
        y, valid, w_y = _index_rows(target, weight, ignore_index, x.dtype, xp)
        self.shape, self.dtype, self.reduction = x.shape, x.dtype, reduction
        self.y, self.valid, self.w_y, self.denominator = y, valid, w_y, w_y.sum()
        loss = -w_y * xp.where(valid, x_rows[xp.arange(y.size), y], 0)  # (M,)
        return _reduce_rows(loss, reduction, self.denominator, _without_class_axis(x.shape))

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        n_rows = self.y.size
        g = xp.where(self.valid, _row_grads(gy, self.reduction, self.denominator, n_rows, xp), 0)
        n_classes = self.shape[1] if len(self.shape) >= 2 else self.shape[0]
        gx = xp.zeros((n_rows, n_classes), dtype=self.dtype)
        gx[xp.arange(n_rows), self.y] = -g * self.w_y
        return (_from_rows(gx, self.shape, xp),)


# --------------------------------------------------------------------------- wrappers


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    r"""Mean squared error :math:`\ell = (x - t)^2`, reduced.

    Args:
        input: predictions x.
        target: targets t, same shape and dtype (may require grad).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape: input and target (*); output () or (*) for ``'none'``.
    """
    _check_input(input, "mse_loss")
    _check_reduction(reduction, "mse_loss")
    d = sub(input, _float_target(target, input, "mse_loss"))
    return _reduce(mul(d, d), reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    r"""Mean absolute error :math:`\ell = |x - t|` (gradient 0 where x = t), reduced.

    Args and Shape as :func:`mse_loss`.
    """
    _check_input(input, "l1_loss")
    _check_reduction(reduction, "l1_loss")
    return _reduce(abs(sub(input, _float_target(target, input, "l1_loss"))), reduction)


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
                   beta: float = 1.0) -> Tensor:
    r"""Smooth L1 (Huber-like) loss: quadratic near zero, linear beyond ``beta``.

    .. math:: \ell = \begin{cases} 0.5\, d^2 / \beta & |d| < \beta \\ |d| - 0.5\, \beta & \text{otherwise}
              \end{cases}, \qquad d = x - t

    ``beta = 0`` gives the L1 loss, as in PyTorch.

    Args:
        input, target, reduction: as :func:`mse_loss`.
        beta: where the quadratic part meets the linear part (>= 0, default 1.0).

    Reference: Girshick, "Fast R-CNN" (2015).
    """
    _check_input(input, "smooth_l1_loss")
    _check_reduction(reduction, "smooth_l1_loss")
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = sub(input, _float_target(target, input, "smooth_l1_loss"))
    abs_d = abs(d)
    if beta == 0:
        return _reduce(abs_d, reduction)
    quadratic = mul(d, d) * (0.5 / beta)
    return _reduce(where(abs_d.data < beta, quadratic, abs_d - 0.5 * beta), reduction)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy between softmax(input) and the target, from logits, in one stable step.

    .. math:: \ell_i = -\sum_c A_{ic} \log \mathrm{softmax}(x_i)_c

    with :math:`A_{ic} = (1-\varepsilon) w_{y_i} [c = y_i] + \varepsilon w_c / C` for class
    indices y, or :math:`A_{ic} = w_c ((1-\varepsilon) q_{ic} + \varepsilon / C)` for class
    probabilities q. ``'mean'`` divides by :math:`\sum_i w_{y_i}` over non-ignored samples
    (indices) or by the number of samples (probabilities), exactly as PyTorch.

    Args:
        input: logits, class axis 1 (or 0 for a single sample).
        target: int class indices, or floating class probabilities of the input's shape
            (these may require grad).
        weight: optional per-class weight, shape (C,); gets no gradient.
        ignore_index: index target value whose samples contribute nothing (default -100).
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
        label_smoothing: epsilon in [0, 1] mixing the target with the uniform distribution.

    Shape:
        input (N, C), (N, C, d1, ..., dk) or (C,); index target (N,), (N, d1, ..., dk) or ();
        probability target as input; output () or, for ``'none'``, the index target's shape.

    Reference: Goodfellow et al., Deep Learning, 6.2.2.3; Szegedy et al. (2016) for label smoothing.
    """
    op = "cross_entropy"
    _check_input(input, op)
    _check_reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    n_classes = _class_count(input, op)
    w = _constant(weight, input, "weight", op, shape=(n_classes,))
    params = {"weight": w, "ignore_index": ignore_index, "reduction": reduction,
              "label_smoothing": float(label_smoothing)}
    has_dtype = isinstance(target, Tensor) or backend.is_array(target)
    target_dtype = target.dtype if has_dtype else _np.asarray(target).dtype
    if target_dtype.kind == "f":
        q = _float_target(target, input, op)
        return CrossEntropyFn.apply(input, q, target=None, **params)
    y = _class_target(target, input, n_classes, ignore_index, op)
    return CrossEntropyFn.apply(input, target=y, **params)


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    r"""Negative log-likelihood :math:`\ell_i = -w_{y_i} x_{i, y_i}` of log-probabilities x.

    ``cross_entropy(x, y)`` equals ``nll_loss(log_softmax(x, axis=1), y)``. ``'mean'``
    divides by :math:`\sum_i w_{y_i}` over non-ignored samples.

    Args: as :func:`cross_entropy` with class-index targets (no label smoothing).

    Shape: input (N, C), (N, C, d1, ..., dk) or (C,); target (N,), (N, d1, ..., dk) or ().
    """
    op = "nll_loss"
    _check_input(input, op)
    _check_reduction(reduction, op)
    n_classes = _class_count(input, op)
    w = _constant(weight, input, "weight", op, shape=(n_classes,))
    y = _class_target(target, input, n_classes, ignore_index, op)
    return NLLLossFn.apply(input, target=y, weight=w, ignore_index=ignore_index, reduction=reduction)
