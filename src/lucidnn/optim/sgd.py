"""Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lucidnn import backend
from lucidnn.optim.optimizer import HyperparameterError, Optimizer, check_hyperparameter, is_nonnegative


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    For each parameter :math:`w` with gradient :math:`g_t` at step :math:`t`:

    .. code-block:: text

        if maximize:          g_t <- -g_t
        if weight_decay != 0: g_t <- g_t + lambda * w_{t-1}
        if momentum != 0:
            if t > 1: b_t <- mu * b_{t-1} + (1 - tau) * g_t
            else:     b_t <- g_t
            if nesterov: g_t <- g_t + mu * b_t
            else:        g_t <- b_t
        w_t <- w_{t-1} - gamma * g_t

    with learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau` and
    weight decay :math:`\lambda`. With ``momentum=0`` this is exactly
    :math:`w \leftarrow w - \gamma\,(\partial L/\partial w + \lambda w)`: the course's
    gradient descent with L2 weight decay (the gradient of
    :math:`L + \tfrac{\lambda}{2}\lVert w\rVert^2`).

    Args:
        params: Tensors or parameter-group dicts to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        momentum: momentum factor :math:`\mu`. Default: 0.
        dampening: dampening :math:`\tau` of the momentum. Default: 0.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient. Default: 0.
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
            Default: False.
        maximize: maximise the objective instead of minimising it. Default: False.

    State per parameter: ``momentum_buffer`` (when ``momentum != 0``).

    Reference: Sutskever et al., "On the importance of initialization and momentum in
    deep learning" (2013), for the momentum form used here.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_hyperparameter(is_nonnegative(group["lr"]), "learning rate", group["lr"])
        check_hyperparameter(is_nonnegative(group["momentum"]), "momentum value", group["momentum"])
        check_hyperparameter(is_nonnegative(group["dampening"]), "dampening value", group["dampening"])
        check_hyperparameter(is_nonnegative(group["weight_decay"]), "weight_decay value", group["weight_decay"])
        if group["nesterov"] and not (group["momentum"] > 0 and group["dampening"] == 0):
            raise HyperparameterError(
                "Nesterov momentum requires a momentum > 0 and zero dampening, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )
        for key in ("lr", "momentum", "dampening", "weight_decay"):
            group[key] = float(group[key])
        for key in ("nesterov", "maximize"):
            group[key] = bool(group[key])

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(w)
        lr, weight_decay = float(group["lr"]), float(group["weight_decay"])
        momentum, dampening = float(group["momentum"]), float(group["dampening"])
        d = self._regularized_gradient(w, g, maximize=group["maximize"], weight_decay=weight_decay)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                if dampening == 0:
                    buf += d
                else:
                    buf += xp.multiply(d, 1.0 - dampening, out=self._scratch(w, 1))
            if group["nesterov"]:
                step = xp.multiply(buf, momentum, out=self._scratch(w, 1))
                step += d
                d = step
            else:
                d = buf
        w -= xp.multiply(d, lr, out=self._scratch(w, 0))
