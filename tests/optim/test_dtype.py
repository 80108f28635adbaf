"""Float32 stays float32: parameters, state and the arithmetic (no float64 hyper-parameter upcasts)."""

import numpy as np
import pytest

import lucidnn
from lucidnn import optim

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01, betas=(0.8, 0.9))),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CONFIGS)]


def _as_numpy_float64(kwargs):
    """The same hyper-parameters as NumPy float64 scalars, which would upcast if used as they are."""
    out = {}
    for k, v in kwargs.items():
        if isinstance(v, float):
            out[k] = np.float64(v)
        elif isinstance(v, tuple):
            out[k] = tuple(np.float64(x) for x in v)
        else:
            out[k] = v
    return out


def _run(name, kwargs, dtype, steps=4):
    rng = np.random.default_rng(5)
    params = [lucidnn.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in [(4, 3), (5,)]]
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(steps):
        for p in params:
            p.grad = lucidnn.Tensor(rng.standard_normal(p.shape).astype(dtype))
        opt.step()
    return params, opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_parameters_and_state_keep_their_dtype(name, kwargs, dtype):
    params, opt = _run(name, kwargs, dtype)
    for p in params:
        assert p.data.dtype == dtype
        for key, value in opt.state[p].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == dtype, key
            else:
                assert isinstance(value, int), key


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_numpy_float64_hyperparameters_do_not_change_float32_arithmetic(name, kwargs):
    expected, _ = _run(name, kwargs, np.float32)
    got, opt = _run(name, _as_numpy_float64(kwargs), np.float32)
    for p, q in zip(got, expected):
        assert p.data.tobytes() == q.data.tobytes()
    assert type(opt.param_groups[0]["lr"]) is float


def test_lr_set_later_as_numpy_float64_is_used_as_a_python_float():
    expected, _ = _run("Adam", dict(lr=0.01), np.float32, steps=0)
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in expected]
    results = []
    for lr in (0.05, np.float64(0.05)):
        params, opt = _run("Adam", dict(lr=0.01), np.float32, steps=0)
        opt.param_groups[0]["lr"] = lr
        for p, g in zip(params, grads):
            p.grad = lucidnn.Tensor(g)
        opt.step()
        results.append(params)
    for p, q in zip(*results):
        assert p.data.dtype == np.float32 and p.data.tobytes() == q.data.tobytes()
