"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from lucidnn import backend
from lucidnn.optim.optimizer import Optimizer, check_hyperparameter, is_nonnegative, is_positive, lerp_


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam`` (single-tensor CPU path, same order of operations).

    For each parameter :math:`w` with gradient :math:`g_t` at step :math:`t = 1, 2, \dots`:

    .. code-block:: text

        if maximize: g_t <- -g_t
        if weight_decay != 0:
            if decoupled: w_{t-1} <- w_{t-1} - gamma * lambda * w_{t-1}     (AdamW)
            else:         g_t <- g_t + lambda * w_{t-1}                     (L2)
        m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t          (as a lerp towards g_t)
        v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        if amsgrad: v_max_t <- max(v_max_{t-1}, v_t);  v <- v_max_t  else v <- v_t
        w_t <- w_{t-1} - (gamma / (1 - beta1^t)) * m_t / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    ``eps`` is added after the bias correction of :math:`\sqrt{v}`, as in PyTorch (the
    paper adds it to :math:`\sqrt{\hat v}`, which is the same thing).

    Args:
        params: Tensors or parameter-group dicts to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        betas: decay rates :math:`(\beta_1, \beta_2)` of the first and second moment
            estimates, each in [0, 1). Default: (0.9, 0.999).
        eps: term added to the denominator, > 0. Default: 1e-8.
        weight_decay: weight decay :math:`\lambda`. Default: 0.
        amsgrad: use the maximum of all second-moment estimates so far (AMSGrad).
            Default: False.
        maximize: maximise the objective instead of minimising it. Default: False.
        decoupled_weight_decay: shrink the weights directly instead of adding an L2 term
            to the gradient (this is AdamW). Default: False.

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    ``amsgrad``, ``max_exp_avg_sq``.

    Reference: Kingma and Ba, "Adam: A Method for Stochastic Optimization" (2015);
    Reddi et al., "On the Convergence of Adam and Beyond" (2018) for AMSGrad.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_hyperparameter(is_nonnegative(group["lr"]), "learning rate", group["lr"])
        check_hyperparameter(is_positive(group["eps"]), "epsilon value", group["eps"])
        betas = group["betas"]
        check_hyperparameter(len(betas) == 2, "betas (expected two values)", betas)
        for i, beta in enumerate(betas):
            check_hyperparameter(math.isfinite(beta) and 0.0 <= beta < 1.0, f"beta parameter at index {i}", beta)
        check_hyperparameter(is_nonnegative(group["weight_decay"]), "weight_decay value", group["weight_decay"])
        group["betas"] = (float(betas[0]), float(betas[1]))  # a JSON round trip turns the tuple into a list
        for key in ("lr", "eps", "weight_decay"):
            group[key] = float(group[key])
        for key in ("amsgrad", "maximize", "decoupled_weight_decay"):
            group[key] = bool(group[key])

    def _update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(w)
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(w)
            state["exp_avg_sq"] = xp.zeros_like(w)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(w)
        state["step"] += 1
        step = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if weight_decay != 0 and group["decoupled_weight_decay"]:  # AdamW: decay the weights themselves
            w *= 1.0 - lr * weight_decay
            weight_decay = 0.0
        d = self._regularized_gradient(w, g, maximize=group["maximize"], weight_decay=weight_decay)
        lerp_(m, d, 1.0 - beta1, self._scratch(w, 1))
        v *= beta2
        square = xp.multiply(d, 1.0 - beta2, out=self._scratch(w, 1))
        square *= d
        v += square
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        step_size = lr / bias_correction1
        denom = xp.sqrt(v, out=self._scratch(w, 1))
        denom /= bias_correction2**0.5
        denom += eps
        update = xp.multiply(m, -step_size, out=self._scratch(w, 0))
        update /= denom
        w += update


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    The weights shrink by :math:`\gamma\lambda w` before the Adam update instead of the
    decay entering the gradient (and so the moment estimates):

    .. code-block:: text

        w_{t-1} <- w_{t-1} - gamma * lambda * w_{t-1}
        ... then the Adam update of :class:`Adam` with weight_decay = 0

    Args:
        params: Tensors or parameter-group dicts to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        betas: decay rates of the moment estimates, each in [0, 1). Default: (0.9, 0.999).
        eps: term added to the denominator, > 0. Default: 1e-8.
        weight_decay: decoupled weight decay :math:`\lambda`. Default: 1e-2.
        amsgrad: use the AMSGrad variant. Default: False.
        maximize: maximise the objective instead of minimising it. Default: False.

    Reference: Loshchilov and Hutter, "Decoupled Weight Decay Regularization" (2019).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
