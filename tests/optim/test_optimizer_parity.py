"""Every optimizer and option against torch.optim: 20 steps, two parameter groups, compared each step."""

import numpy as np
import pytest

import lucidnn
from lucidnn import optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SHAPES = [(3, 4), (5,)]
STEPS = 20
SKIP = (7, 1)  # at step 7 parameter 1 gets no gradient, so both libraries must skip it

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.1, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.6), eps=1e-6)),  # lerp weight >= 0.5 takes torch's other branch
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2, amsgrad=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01, alpha=0.4, centered=True, maximize=True)),  # float64 only, see below
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
]
# With alpha = 0.4 the centered variance v - a^2 nearly cancels, so one-ulp differences (torch
# fuses multiply-adds, NumPy cannot) grow past float32's tolerance; float64 checks the formula.
FLOAT64_ONLY = {"RMSprop-lr=0.01-alpha=0.4-centered=True-maximize=True"}
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _problem(dtype):
    """Initial parameters, a fixed curvature per parameter and a noise term per step."""
    rng = np.random.default_rng(2024)
    w0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    curvature = [rng.uniform(0.5, 2.0, s).astype(dtype) for s in SHAPES]
    noise = [[(0.1 * rng.standard_normal(s)).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return w0, curvature, noise


def _gradient(w, c, e, sign):
    """sign * d/dw of sum(c w^2 / 2 - cos(3 w) / 3), plus noise, in w's dtype; the same code for both libraries.

    With ``maximize`` the sign is -1, so that maximising stays a stable descent on the same bowl.
    """
    return sign * (c * w + np.sin(3 * w)) + e


def _groups(params, kwargs):
    return [{"params": [params[0]]}, {"params": [params[1]], "lr": kwargs["lr"] * 0.5}]


PARITY_PARAMS = [
    pytest.param(case, dtype, id=f"{_case_id(case)}-{np.dtype(dtype).name}")
    for case in CASES
    for dtype in (np.float64, np.float32)
    if dtype is np.float64 or _case_id(case) not in FLOAT64_ONLY
]


@pytest.mark.parametrize(("case", "dtype"), PARITY_PARAMS)
def test_matches_torch_each_step(case, dtype):
    name, kwargs = case
    w0, curvature, noise = _problem(dtype)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    ours = [lucidnn.tensor(w.copy(), requires_grad=True) for w in w0]
    theirs = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
    opt = getattr(optim, name)(_groups(ours, kwargs), **kwargs)
    ref = getattr(torch.optim, name)(_groups(theirs, kwargs), **kwargs)
    for step in range(STEPS):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if (step, i) == SKIP:
                p.grad, q.grad = None, None
                continue
            p.grad = lucidnn.Tensor(_gradient(p.data, curvature[i], noise[step][i], sign))
            q.grad = torch.from_numpy(_gradient(q.detach().numpy(), curvature[i], noise[step][i], sign))
        opt.step()
        ref.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert p.data.dtype == dtype
            np.testing.assert_allclose(p.data, q.detach().numpy(), **TOLERANCE[dtype],
                                       err_msg=f"parameter {i} after step {step + 1}")

    # the state has torch's names and values
    ours_state, theirs_state = opt.state_dict()["state"], ref.state_dict()["state"]
    assert sorted(ours_state) == sorted(theirs_state)
    for index, entry in theirs_state.items():
        assert sorted(ours_state[index]) == sorted(entry), f"state keys of parameter {index}"
        for key, value in entry.items():
            if key == "step":
                assert ours_state[index][key] == value.item()
            else:
                assert ours_state[index][key].dtype == dtype
                np.testing.assert_allclose(ours_state[index][key], value.numpy(), **TOLERANCE[dtype],
                                           err_msg=f"state[{index}][{key!r}]")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_match_torch(name):
    p = lucidnn.tensor(np.zeros(2), requires_grad=True)
    q = torch.zeros(2, requires_grad=True)
    ours = getattr(optim, name)([p]).defaults
    theirs = getattr(torch.optim, name)([q]).defaults
    for key, value in ours.items():
        expected = theirs[key]
        assert value == (tuple(expected) if isinstance(expected, tuple) else expected), key
