"""R22: every out-of-range hyper-parameter is a typed ValueError at construction, naming name and value."""

import math
import re

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.errors import LucidError

NAN, INF = math.nan, math.inf

INVALID = [
    ("SGD", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("SGD", dict(lr=NAN), "Invalid learning rate: nan"),
    ("SGD", dict(lr=INF), "Invalid learning rate: inf"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, dampening=-0.1), "Invalid dampening value: -0.1"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum > 0 and zero dampening, "
                                         "got momentum=0.0, dampening=0.0"),
    ("SGD", dict(lr=0.1, nesterov=True, momentum=0.9, dampening=0.1), "got momentum=0.9, dampening=0.1"),
    ("Adam", dict(lr=-1.0), "Invalid learning rate: -1.0"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
    ("Adam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("Adam", dict(betas=(0.9, NAN)), "Invalid beta parameter at index 1: nan"),
    ("Adam", dict(betas=(0.9,)), "Invalid betas (expected two values): (0.9,)"),
    ("Adam", dict(eps=0.0), "Invalid epsilon value: 0.0"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("Adam", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("AdamW", dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    ("AdamW", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    ("RMSprop", dict(lr=-0.01), "Invalid learning rate: -0.01"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    ("RMSprop", dict(momentum=-0.9), "Invalid momentum value: -0.9"),
    ("RMSprop", dict(eps=0.0), "Invalid epsilon value: 0.0"),
    ("RMSprop", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("Adagrad", dict(lr=NAN), "Invalid learning rate: nan"),
    ("Adagrad", dict(lr_decay=-0.1), "Invalid lr_decay value: -0.1"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), "Invalid initial_accumulator_value value: -0.1"),
    ("Adagrad", dict(eps=0.0), "Invalid epsilon value: 0.0"),
    ("Adagrad", dict(weight_decay=-0.5), "Invalid weight_decay value: -0.5"),
]


def _param():
    return lucidnn.tensor(np.zeros(3), requires_grad=True)


@pytest.mark.parametrize(("name", "kwargs", "message"), INVALID, ids=[f"{n}-{m}" for n, _, m in INVALID])
def test_invalid_hyperparameter_raises(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        getattr(optim, name)([_param()], **kwargs)
    assert isinstance(info.value, optim.HyperparameterError) and isinstance(info.value, LucidError)


@pytest.mark.parametrize(("name", "kwargs", "message"), INVALID[:3], ids=["negative", "nan", "inf"])
def test_per_group_override_is_validated_too(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(optim, name)([{"params": [_param()], **kwargs}], lr=0.1)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", dict(lr=0.0, momentum=0.0, weight_decay=0.0)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("Adam", dict(betas=(0.0, 0.0), weight_decay=0.0)),
        ("AdamW", dict(lr=0.0)),
        ("RMSprop", dict(alpha=0.0, momentum=0.0)),
        ("Adagrad", dict(lr_decay=0.0, initial_accumulator_value=0.0)),
    ],
)
def test_boundary_values_are_accepted(name, kwargs):
    getattr(optim, name)([_param()], **kwargs)
