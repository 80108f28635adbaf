"""The Optimizer contract: parameter groups, skipping missing gradients, zero_grad, in-place updates."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.errors import ShapeError

ALL = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, maximize=True)),
    ("Adam", dict(lr=0.1, maximize=True)),
    ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.1, centered=True, momentum=0.9, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, maximize=True)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(ALL)]


def _param(rng, shape=(3, 2), dtype=np.float64):
    return lucidnn.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


@pytest.mark.parametrize(("name", "kwargs"), ALL, ids=IDS)
def test_updates_in_place_and_leaves_the_gradient_alone(name, kwargs, rng):
    p = _param(rng)
    opt = getattr(optim, name)([p], **kwargs)
    data = p.data
    g = rng.standard_normal(p.shape)
    p.grad = lucidnn.Tensor(g.copy())
    for _ in range(3):
        before = p.data.copy()
        opt.step()
        assert p.data is data  # the same array, updated in place
        assert not np.array_equal(p.data, before)
        assert p.grad.data.tobytes() == g.tobytes()  # maximize/weight decay work on a copy
        assert p.grad_fn is None and p.is_leaf


@pytest.mark.parametrize(("name", "kwargs"), ALL, ids=IDS)
def test_parameters_without_gradient_are_skipped(name, kwargs, rng):
    p, q = _param(rng), _param(rng, (4,))
    opt = getattr(optim, name)([p, q], **kwargs)
    before = q.data.copy()
    state_before = dict(opt.state.get(q, {}))
    for _ in range(3):
        p.grad = lucidnn.Tensor(rng.standard_normal(p.shape))
        opt.step()
    assert np.array_equal(q.data, before)
    assert opt.state.get(q, {}).keys() == state_before.keys()
    if "step" in state_before:  # Adagrad creates its state up front, and the step must not advance
        assert opt.state[q]["step"] == 0


def test_sgd_without_momentum_is_the_course_formula(rng):
    lr, lam = 0.3, 0.01
    p = _param(rng)
    w, g = p.data.copy(), rng.standard_normal(p.shape)
    p.grad = lucidnn.Tensor(g)
    optim.SGD([p], lr=lr, weight_decay=lam).step()
    np.testing.assert_array_equal(p.data, w - lr * (lam * w + g))


def test_zero_grad(rng):
    p, q = _param(rng), _param(rng)
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = lucidnn.Tensor(np.ones(p.shape))
    opt.zero_grad(set_to_none=False)
    assert np.array_equal(p.grad.data, np.zeros(p.shape)) and q.grad is None
    opt.zero_grad()
    assert p.grad is None


def test_param_groups_override_defaults_and_can_be_added(rng):
    p, q, r = _param(rng), _param(rng), _param(rng)
    opt = optim.SGD([{"params": [p]}, {"params": q, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    opt.add_param_group({"params": [r], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        opt.add_param_group({"params": [_param(rng)], "lr": -1})
    assert len(opt.param_groups) == 3
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


@pytest.mark.parametrize(
    ("make_params", "error", "match"),
    [
        (lambda p, q: [], ValueError, "empty parameter list"),
        (lambda p, q: p, TypeError, "single Tensor"),
        (lambda p, q: {p, q}, TypeError, "not a set"),
        (lambda p, q: [p, q, p], ValueError, "appears twice"),
        (lambda p, q: [{"params": [p]}, {"params": [q, p]}], ValueError, "more than one parameter group"),
        (lambda p, q: [p, np.zeros(2)], TypeError, "parameter 1 of the group is a ndarray"),
        (lambda p, q: [p * 2], ValueError, "not a leaf"),
        (lambda p, q: [{"lr": 0.1}], ValueError, "needs a 'params' entry"),
    ],
)
def test_bad_parameter_lists(make_params, error, match, rng):
    with pytest.raises(error, match=match):
        optim.SGD(make_params(_param(rng), _param(rng)), lr=0.1)


def test_gradient_of_the_wrong_shape(rng):
    p = _param(rng, (3, 2))
    p.grad = lucidnn.Tensor(np.ones((2,)))
    with pytest.raises(ShapeError, match=r"parameter 0 has shape \(3, 2\) but its gradient has shape \(2,\)"):
        optim.Adam([p]).step()


def test_closure_is_called_with_grad_enabled(rng):
    p = _param(rng)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        assert lucidnn.is_grad_enabled()
        loss = (p * p).sum()
        loss.backward()
        return loss

    before = p.data.copy()
    with lucidnn.no_grad():
        loss = opt.step(closure)
    assert math.isclose(float(loss), float((before * before).sum()))
    np.testing.assert_allclose(p.data, before - 0.1 * 2 * before)


def test_steps_allocate_no_new_state(rng):
    p, q = _param(rng, (50,)), _param(rng, (7, 3))
    opt = optim.Adam([p, q], amsgrad=True)
    for t in (p, q):
        t.grad = lucidnn.Tensor(rng.standard_normal(t.shape))
    opt.step()
    arrays = {id(v) for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)}
    scratch = {id(v) for v in opt._scratch_buffers.values()}
    opt.step()
    assert {id(v) for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)} == arrays
    assert {id(v) for v in opt._scratch_buffers.values()} == scratch


def test_adagrad_uses_each_groups_initial_accumulator_value(rng):
    # torch.optim.Adagrad fills every group's sum with the constructor's value; we honour the group's
    p, q = _param(rng), _param(rng)
    opt = optim.Adagrad([{"params": [p]}, {"params": [q], "initial_accumulator_value": 0.5}],
                        initial_accumulator_value=0.1)
    assert np.all(opt.state[p]["sum"] == 0.1) and np.all(opt.state[q]["sum"] == 0.5)
    r = _param(rng)
    opt.add_param_group({"params": [r], "initial_accumulator_value": 2.0})
    r.grad = lucidnn.Tensor(np.zeros(r.shape))
    opt.step()
    assert np.all(opt.state[r]["sum"] == 2.0) and opt.state[r]["step"] == 1
