"""Optimizers, learning-rate schedules and gradient clipping, with ``torch.optim`` semantics.

``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` and ``Adagrad`` update parameters in place from
their ``.grad``; :mod:`lucidnn.optim.lr_scheduler` changes their learning rates over
training; ``clip_grad_norm_`` and ``clip_grad_value_`` tame gradients before a step.
"""

from lucidnn.optim import lr_scheduler
from lucidnn.optim.adagrad import Adagrad
from lucidnn.optim.adam import Adam, AdamW
from lucidnn.optim.clip import clip_grad_norm_, clip_grad_value_
from lucidnn.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)
from lucidnn.optim.optimizer import HyperparameterError, Optimizer, StateDictError
from lucidnn.optim.rmsprop import RMSprop
from lucidnn.optim.sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "HyperparameterError",
    "LRScheduler", "LinearLR", "MultiStepLR", "Optimizer", "RMSprop", "ReduceLROnPlateau", "StateDictError",
    "StepLR", "clip_grad_norm_", "clip_grad_value_", "lr_scheduler",
]
