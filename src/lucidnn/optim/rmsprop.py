"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lucidnn import backend
from lucidnn.optim.optimizer import Optimizer, check_hyperparameter, is_nonnegative, is_positive, lerp_


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop`` (same order of operations).

    For each parameter :math:`w` with gradient :math:`g_t` at step :math:`t`:

    .. code-block:: text

        if maximize:          g_t <- -g_t
        if weight_decay != 0: g_t <- g_t + lambda * w_{t-1}
        v_t <- alpha * v_{t-1} + (1 - alpha) * g_t^2
        if centered:
            a_t <- alpha * a_{t-1} + (1 - alpha) * g_t        (as a lerp towards g_t)
            s_t <- sqrt(v_t - a_t^2) + eps
        else:
            s_t <- sqrt(v_t) + eps
        if momentum > 0:
            b_t <- mu * b_{t-1} + g_t / s_t
            w_t <- w_{t-1} - gamma * b_t
        else:
            w_t <- w_{t-1} - gamma * g_t / s_t

    Args:
        params: Tensors or parameter-group dicts to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-2.
        alpha: smoothing constant :math:`\alpha` of the squared-gradient average. Default: 0.99.
        eps: term added to the denominator, > 0. Default: 1e-8.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient. Default: 0.
        momentum: momentum factor :math:`\mu`. Default: 0.
        centered: divide by an estimate of the gradient's variance (the mean square minus
            the squared mean) instead of its mean square. Default: False.
        maximize: maximise the objective instead of minimising it. Default: False.

    State per parameter: ``step`` (int), ``square_avg`` (v), ``momentum_buffer`` (when
    ``momentum > 0``) and ``grad_avg`` (a, when ``centered``).

    Reference: Hinton, Neural Networks for Machine Learning, lecture 6e (2012);
    Graves, "Generating Sequences With Recurrent Neural Networks" (2013) for the centered form.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_hyperparameter(is_nonnegative(group["lr"]), "learning rate", group["lr"])
        check_hyperparameter(is_positive(group["eps"]), "epsilon value", group["eps"])
        check_hyperparameter(is_nonnegative(group["momentum"]), "momentum value", group["momentum"])
        check_hyperparameter(is_nonnegative(group["weight_decay"]), "weight_decay value", group["weight_decay"])
        check_hyperparameter(is_nonnegative(group["alpha"]), "alpha value", group["alpha"])
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            group[key] = float(group[key])
        for key in ("centered", "maximize"):
            group[key] = bool(group[key])

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(w)
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(w)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(w)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(w)
        state["step"] += 1
        d = self._regularized_gradient(w, g, maximize=group["maximize"], weight_decay=weight_decay)
        v = state["square_avg"]
        v *= alpha
        square = xp.multiply(d, 1.0 - alpha, out=self._scratch(w, 1))
        square *= d
        v += square
        if group["centered"]:
            a = lerp_(state["grad_avg"], d, 1.0 - alpha, self._scratch(w, 1))
            denom = xp.multiply(a, a, out=self._scratch(w, 1))
            xp.subtract(v, denom, out=denom)
            xp.sqrt(denom, out=denom)
        else:
            denom = xp.sqrt(v, out=self._scratch(w, 1))
        denom += eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += xp.divide(d, denom, out=denom)
            w -= xp.multiply(buf, lr, out=self._scratch(w, 1))
        else:
            update = xp.multiply(d, -lr, out=self._scratch(w, 0))
            update /= denom
            w += update
