"""Gradient clipping: rescale all gradients by their global norm, or clamp each value.

Both work in place on ``p.grad.data`` of every parameter that has a gradient, as
``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` do; parameters without a
gradient are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from lucidnn import backend
from lucidnn.autograd import Tensor
from lucidnn.errors import NonFiniteError
from lucidnn.optim.optimizer import HyperparameterError


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Any]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def _vector_norm(x: Any, norm_type: float) -> Any:
    """The ``norm_type``-norm of all elements of ``x`` as a 0-d array of ``x``'s dtype."""
    xp = backend.get_array_module(x)
    flat = x.reshape(-1)
    if norm_type == math.inf:
        return xp.max(xp.abs(flat)) if flat.size else xp.zeros((), dtype=x.dtype)
    if norm_type == 2.0:
        # like PyTorch, no rescaling: a float32 norm above ~1.8e19 overflows to inf
        return xp.asarray(xp.sqrt(xp.dot(flat, flat)), dtype=x.dtype)
    return xp.asarray(xp.sum(xp.abs(flat) ** norm_type) ** (1.0 / norm_type), dtype=x.dtype)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    r"""Rescale all gradients together so that their global norm is at most ``max_norm``.

    .. math::

        \lVert g \rVert = \Big(\sum_i \lVert g_i \rVert_p^p\Big)^{1/p}, \qquad
        g_i \leftarrow g_i \cdot \min\Big(1, \frac{\text{max\_norm}}{\lVert g \rVert + 10^{-6}}\Big)

    where :math:`g_i` are the gradients of all the parameters, seen as one long vector
    (for ``norm_type=inf`` the norm is the largest absolute value). The norm is computed
    from the per-tensor norms, as in PyTorch.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` to clip.
        max_norm: largest allowed global norm, >= 0.
        norm_type: the p of the p-norm, > 0, or ``math.inf``. Default: 2.0.
        error_if_nonfinite: raise :class:`~lucidnn.errors.NonFiniteError` when the global
            norm is NaN or infinite, before any gradient is changed (otherwise the
            gradients are scaled by the non-finite coefficient, as in PyTorch). Default: False.

    Returns:
        The global norm before clipping, as a 0-d Tensor of the gradients' dtype on their
        device, as ``torch.nn.utils.clip_grad_norm_`` returns it (``float(...)`` gives a
        Python number). 0 when no parameter has a gradient.

    Reference: Pascanu, Mikolov and Bengio, "On the difficulty of training recurrent neural
    networks" (2013).
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not (max_norm >= 0.0):
        raise HyperparameterError(f"Invalid max_norm: {max_norm}")
    if not (norm_type > 0.0):
        raise HyperparameterError(f"Invalid norm_type: {norm_type} (use a p > 0 or math.inf)")
    grads = _grads(parameters)
    if not grads:
        return Tensor(backend.numpy.zeros((), dtype=backend.get_default_dtype()))
    xp = backend.get_array_module(grads[0])
    norms = [_vector_norm(g, norm_type) for g in grads]
    total = _vector_norm(xp.stack(norms), norm_type)
    if error_if_nonfinite and not math.isfinite(float(total)):
        bad = [i for i, n in enumerate(norms) if not math.isfinite(float(n))]
        raise NonFiniteError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}, so they "
            f"cannot be clipped; the gradients of parameters {bad} (counting those with a gradient) hold NaN or "
            "infinite values. Nothing was changed. Pass error_if_nonfinite=False to scale them anyway"
        )
    # a 0-d array of the gradients' dtype, so float32 gradients stay float32 and CuPy does not sync
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    r"""Clamp every gradient value into ``[-clip_value, clip_value]`` in place.

    .. math::

        g \leftarrow \min(\max(g, -c), c)

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` to clamp.
        clip_value: the bound :math:`c`, >= 0.
    """
    clip_value = float(clip_value)
    if not (clip_value >= 0.0):
        raise HyperparameterError(f"Invalid clip_value: {clip_value}")
    for g in _grads(parameters):
        backend.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
