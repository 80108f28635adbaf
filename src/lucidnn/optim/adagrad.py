"""Adagrad: per-coordinate learning rates from the sum of all past squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lucidnn import backend
from lucidnn.optim.optimizer import Optimizer, check_hyperparameter, is_nonnegative, is_positive


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad`` (same order of operations).

    For each parameter :math:`w` with gradient :math:`g_t` at step :math:`t = 1, 2, \dots`:

    .. code-block:: text

        if maximize:          g_t <- -g_t
        if weight_decay != 0: g_t <- g_t + lambda * w_{t-1}
        gamma_t <- gamma / (1 + (t - 1) * eta)
        s_t <- s_{t-1} + g_t^2                       (s_0 = initial_accumulator_value)
        w_t <- w_{t-1} - gamma_t * g_t / (sqrt(s_t) + eps)

    Args:
        params: Tensors or parameter-group dicts to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-2.
        lr_decay: learning-rate decay :math:`\eta`. Default: 0.
        weight_decay: L2 penalty :math:`\lambda` added to the gradient. Default: 0.
        initial_accumulator_value: starting value of every :math:`s`. Default: 0.
        eps: term added to the denominator, > 0. Default: 1e-10.
        maximize: maximise the objective instead of minimising it. Default: False.

    State per parameter (created at construction, as in PyTorch): ``step`` (int) and
    ``sum`` (s).

    Reference: Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization" (2011).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p.data, self.state[p], group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_hyperparameter(is_nonnegative(group["lr"]), "learning rate", group["lr"])
        check_hyperparameter(is_nonnegative(group["lr_decay"]), "lr_decay value", group["lr_decay"])
        check_hyperparameter(is_nonnegative(group["weight_decay"]), "weight_decay value", group["weight_decay"])
        check_hyperparameter(is_nonnegative(group["initial_accumulator_value"]), "initial_accumulator_value value",
                             group["initial_accumulator_value"])
        check_hyperparameter(is_positive(group["eps"]), "epsilon value", group["eps"])
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[key] = float(group[key])
        group["maximize"] = bool(group["maximize"])

    @staticmethod
    def _init_state(w: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0
        state["sum"] = backend.get_array_module(w).full_like(w, group["initial_accumulator_value"])

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(w)
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        if not state:  # a parameter added with add_param_group after construction
            self._init_state(w, state, group)
        state["step"] += 1
        d = self._regularized_gradient(w, g, maximize=group["maximize"], weight_decay=weight_decay)
        clr = lr / (1 + (state["step"] - 1) * lr_decay)
        s = state["sum"]
        s += xp.multiply(d, d, out=self._scratch(w, 1))
        std = xp.sqrt(s, out=self._scratch(w, 1))
        std += eps
        update = xp.multiply(d, -clr, out=self._scratch(w, 0))
        update /= std
        w += update
