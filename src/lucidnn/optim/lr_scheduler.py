"""Learning-rate schedules that rewrite ``group["lr"]`` of an optimizer once per epoch (or step).

Each scheduler follows ``torch.optim.lr_scheduler`` exactly, including its *chainable*
(recursive) formulas: most schedules multiply the current ``group["lr"]`` by a factor
instead of evaluating a closed form from the base learning rate, so that two schedulers
can act on one optimizer. The recursive values differ from the closed forms in the last
bits; these match what PyTorch prints.

Call ``scheduler.step()`` after ``optimizer.step()``, once per epoch (or per batch for
warm-up). Creating a scheduler performs its first step (epoch 0) and records
``group["initial_lr"]``. ``state_dict()`` holds only Python numbers, strings and lists,
so it can be stored as JSON.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from lucidnn.optim.optimizer import HyperparameterError, Optimizer


class LRScheduler:
    """Base class of the epoch-driven schedulers.

    Subclasses implement :meth:`get_lr`, which ``step`` calls after advancing
    ``last_epoch``.

    Args:
        optimizer: the optimizer whose learning rates to schedule.
        last_epoch: index of the last epoch done; -1 (default) starts a new schedule.
            Another value resumes one and needs ``"initial_lr"`` in every group.

    Attributes:
        base_lrs: each group's ``initial_lr``.
        last_epoch: the epoch index of the current learning rates.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param_groups[{i}] has no 'initial_lr', which resuming a schedule with "
                        f"last_epoch={last_epoch} needs; load the optimizer's state dict first"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # the constructor's step: schedules that must not move yet check it
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for epoch ``last_epoch`` (called by :meth:`step`; read them with
        :meth:`get_last_lr`)."""
        raise NotImplementedError  # abstract

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per parameter group."""
        return list(self._last_lr)

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, as JSON-able values (lists copied)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state taken by :meth:`state_dict`."""
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in state_dict.items()})


class StepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}

    (computed recursively: at each multiple of ``step_size`` the current lr is multiplied
    by :math:`\gamma`).

    Args:
        optimizer: the optimizer to schedule.
        step_size: period of the decay in epochs, >= 1.
        gamma: multiplicative factor. Default: 0.1.
        last_epoch: see :class:`LRScheduler`. Default: -1.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if not (isinstance(step_size, numbers.Integral) and step_size >= 1):
            raise HyperparameterError(f"Invalid step_size: {step_size} (expected an int >= 1)")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class MultiStepLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` at each milestone epoch.

    .. math:: \eta_t = \eta_0 \, \gamma^{\#\{m \in \text{milestones} : m \le t\}}

    A milestone listed twice decays twice.

    Args:
        optimizer: the optimizer to schedule.
        milestones: epoch indices at which to decay.
        gamma: multiplicative factor. Default: 0.1.
        last_epoch: see :class:`LRScheduler`. Default: -1.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = sorted(int(m) for m in milestones)  # a list, not torch's Counter, to stay JSON-able
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma**hits for group in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` every epoch: :math:`\eta_t = \eta_0 \gamma^t`.

    Args:
        optimizer: the optimizer to schedule.
        gamma: multiplicative factor per epoch.
        last_epoch: see :class:`LRScheduler`. Default: -1.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the learning rate from its initial value to ``eta_min`` along half a cosine.

    .. math::

        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\Big(1 + \cos\frac{t\pi}{T_{\max}}\Big)

    computed recursively as PyTorch does,
    :math:`\eta_{t} = \eta_{\min} + (\eta_{t-1} - \eta_{\min})
    \frac{1 + \cos(t\pi/T_{\max})}{1 + \cos((t-1)\pi/T_{\max})}`. Past :math:`T_{\max}`
    the cosine continues (the lr rises again), without restarts.

    Args:
        optimizer: the optimizer to schedule.
        T_max: half-period in epochs, >= 1.
        eta_min: the smallest learning rate. Default: 0.
        last_epoch: see :class:`LRScheduler`. Default: -1.

    Reference: Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts" (2017).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if not (isinstance(T_max, numbers.Integral) and T_max >= 1):
            raise HyperparameterError(f"Invalid T_max: {T_max} (expected an int >= 1)")
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:  # resumed with last_epoch > 0: closed form
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # the recursion's ratio would be 0/0 at the trough
            return [group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, self.optimizer.param_groups, strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (group["lr"] - eta_min)
                + eta_min for group in self.optimizer.param_groups]


class LinearLR(LRScheduler):
    r"""Scale the learning rate by a factor moving linearly from ``start_factor`` to ``end_factor``.

    .. math::

        \eta_t = \eta_0 \Big(s + (e - s)\frac{\min(t, T)}{T}\Big)

    over ``total_iters`` = :math:`T` epochs, then constant; with the defaults this is a
    warm-up from a third of the learning rate. Computed recursively as PyTorch does.

    Args:
        optimizer: the optimizer to schedule.
        start_factor: factor :math:`s` at epoch 0, in (0, 1]. Default: 1/3.
        end_factor: factor :math:`e` from epoch ``total_iters`` on, in [0, 1]. Default: 1.0.
        total_iters: number of epochs the factor takes to reach ``end_factor``, >= 1. Default: 5.
        last_epoch: see :class:`LRScheduler`. Default: -1.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not (0.0 < start_factor <= 1.0):
            raise HyperparameterError(f"Invalid start_factor: {start_factor} (expected 0 < start_factor <= 1)")
        if not (0.0 <= end_factor <= 1.0):
            raise HyperparameterError(f"Invalid end_factor: {end_factor} (expected 0 <= end_factor <= 1)")
        if not (isinstance(total_iters, numbers.Integral) and total_iters >= 1):
            raise HyperparameterError(f"Invalid total_iters: {total_iters} (expected an int >= 1)")
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        s, e, T, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if t == 0:
            return [group["lr"] * s for group in self.optimizer.param_groups]
        if self._is_initial or t > T:
            return self._current_lrs()
        return [group["lr"] * (1.0 + (e - s) / (T * s + (t - 1) * (e - s))) for group in self.optimizer.param_groups]


class ReduceLROnPlateau(LRScheduler):
    r"""Multiply the learning rate by ``factor`` when a metric stops improving.

    After each epoch call ``step(metric)``. A metric is an improvement when it beats the
    best so far by the threshold:

    .. code-block:: text

        mode='min', 'rel': metric < best * (1 - threshold)     'abs': metric < best - threshold
        mode='max', 'rel': metric > best * (1 + threshold)     'abs': metric > best + threshold

    When more than ``patience`` epochs in a row bring no improvement, every group's lr
    becomes ``max(lr * factor, min_lr)`` (unless that changes it by less than ``eps``),
    and the next ``cooldown`` epochs are not counted.

    Args:
        optimizer: the optimizer to schedule.
        mode: ``'min'`` (e.g. a loss) or ``'max'`` (e.g. an accuracy). Default: 'min'.
        factor: multiplicative factor, in [0, 1). Default: 0.1.
        patience: epochs without improvement tolerated before reducing, >= 0. Default: 10.
        threshold: the margin an improvement must have. Default: 1e-4.
        threshold_mode: ``'rel'`` or ``'abs'``. Default: 'rel'.
        cooldown: epochs to wait after a reduction before counting again, >= 0. Default: 0.
        min_lr: lower bound on the lr, one number or one per group. Default: 0.
        eps: smallest change of lr worth making. Default: 1e-8.

    Unlike the other schedulers it does not touch the lr at construction, and its
    ``state_dict`` holds ``best = inf`` (``-inf`` in 'max' mode) until the first step,
    which Python's ``json`` writes as ``Infinity``.
    """

    # __init__ does not call LRScheduler.__init__: no initial step, no initial_lr

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0.0, eps: float = 1e-8) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if mode not in ("min", "max"):
            raise HyperparameterError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise HyperparameterError(f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')")
        if not (0.0 <= factor < 1.0):
            raise HyperparameterError(f"Invalid factor: {factor} (expected 0 <= factor < 1)")
        if not (patience >= 0 and cooldown >= 0):
            raise HyperparameterError(f"Invalid patience/cooldown: {patience}/{cooldown} (expected >= 0)")
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise HyperparameterError(
                    f"Invalid min_lr: expected {n_groups} values (one per group), got {len(min_lr)}"
                )
            self.default_min_lr = None
            self.min_lrs = [float(m) for m in min_lr]
        else:
            self.default_min_lr = float(min_lr)
            self.min_lrs = [float(min_lr)] * n_groups
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.threshold, self.eps = float(factor), float(threshold), float(eps)
        self.patience, self.cooldown = patience, cooldown
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self, metrics: Any) -> None:
        """Record one epoch's metric (a number or one-element Tensor) and reduce the lr if it plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _is_better(self, current: float) -> bool:
        if self.mode == "min":
            return current < (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                              else self.best - self.threshold)
        return current > (self.best * (self.threshold + 1.0) if self.threshold_mode == "rel"
                          else self.best + self.threshold)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise HyperparameterError(
                    f"ReduceLROnPlateau: the optimizer now has {len(groups)} parameter groups but min_lr gave "
                    f"{len(self.min_lrs)} values; set scheduler.min_lrs to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        """True while the epochs after a reduction are not being counted."""
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        """The learning rates after the last :meth:`step`, one per parameter group."""
        return list(self._last_lr)

