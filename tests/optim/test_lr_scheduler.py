"""Learning-rate schedulers: values against torch over 30 steps, JSON state round trips, validation."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.optim import lr_scheduler

STEPS = 30
LRS = (0.1, 0.05)

SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("StepLR", dict(step_size=7)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11, 20], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),  # 30 steps: down, up, and down again
    ("CosineAnnealingLR", dict(T_max=7)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=10)),
]
# plateaus, small improvements below the threshold, and a late improvement
METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.84999, 0.85, 0.85, 0.8, 0.8, 0.81, 0.82, 0.79,
           0.79, 0.79, 0.79, 0.79, 0.79, 0.79, 0.79, 0.79, 0.795, 0.79, 0.79, 0.79, 0.5, 0.5, 0.6]
PLATEAU = [
    dict(),
    dict(patience=2),
    dict(patience=0, factor=0.5),
    dict(patience=1, cooldown=2, threshold=0.05, threshold_mode="abs"),
    dict(patience=1, min_lr=0.004),
    dict(patience=1, min_lr=[0.01, 0.0], factor=0.3, eps=1e-3),
    dict(mode="max", patience=2, threshold=0.01),
    dict(mode="max", patience=1, threshold=0.02, threshold_mode="abs", cooldown=1),
]


def _ids(cases):
    return [name + "-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in cases]


def _optimizer():
    params = [lucidnn.tensor(np.zeros(2), requires_grad=True), lucidnn.tensor(np.zeros(3), requires_grad=True)]
    return optim.SGD([{"params": [params[0]], "lr": LRS[0]}, {"params": [params[1]], "lr": LRS[1]}], lr=LRS[0])


def _metric(kwargs, i):
    return 1.0 - METRICS[i] if kwargs.get("mode") == "max" else METRICS[i]


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kwargs"), SCHEDULERS, ids=_ids(SCHEDULERS))
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    q = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    ref_opt = torch.optim.SGD([{"params": [q[0]], "lr": LRS[0]}, {"params": [q[1]], "lr": LRS[1]}], lr=LRS[0])
    ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, **kwargs)
    opt = _optimizer()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    assert sched.get_last_lr() == ref.get_last_lr()
    for epoch in range(STEPS):
        ref_opt.step()
        ref.step()
        opt.step()
        sched.step()
        # the same floating-point formulas, so the same bits
        assert sched.get_last_lr() == ref.get_last_lr(), f"epoch {epoch + 1}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ref_opt.param_groups]
        assert sched.last_epoch == ref.last_epoch


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    q = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    ref_opt = torch.optim.SGD([{"params": [q[0]], "lr": LRS[0]}, {"params": [q[1]], "lr": LRS[1]}], lr=LRS[0])
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, **kwargs)
    opt = _optimizer()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    reductions = 0
    for epoch in range(STEPS):
        before = sched.get_last_lr()
        ref.step(_metric(kwargs, epoch))
        sched.step(_metric(kwargs, epoch))
        assert sched.get_last_lr() == ref.get_last_lr(), f"epoch {epoch + 1}"
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == (
            ref.best, ref.num_bad_epochs, ref.cooldown_counter)
        reductions += sched.get_last_lr() != before
    assert reductions > 0  # the metric sequence really exercises a reduction


def _make(name, kwargs, opt):
    if name == "ReduceLROnPlateau":
        return lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    return getattr(lr_scheduler, name)(opt, **kwargs)


def _advance(name, sched, opt, epochs):
    for epoch in epochs:
        opt.step()
        if name == "ReduceLROnPlateau":
            sched.step(METRICS[epoch])
        else:
            sched.step()


ROUND_TRIP = SCHEDULERS + [("ReduceLROnPlateau", dict(patience=1, cooldown=1))]


@pytest.mark.parametrize(("name", "kwargs"), ROUND_TRIP, ids=_ids(ROUND_TRIP))
def test_state_dict_through_json_resumes_exactly(name, kwargs):
    opt = _optimizer()
    sched = _make(name, kwargs, opt)
    _advance(name, sched, opt, range(STEPS))
    expected = sched.get_last_lr()

    opt = _optimizer()
    sched = _make(name, kwargs, opt)
    _advance(name, sched, opt, range(12))
    saved_sched = json.loads(json.dumps(sched.state_dict()))
    saved_opt = json.loads(json.dumps(opt.state_dict()))  # SGD without momentum has no arrays

    opt2 = _optimizer()
    sched2 = _make(name, kwargs, opt2)  # first the scheduler (it rewrites the lr), then the states
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.get_last_lr() == sched.get_last_lr()
    _advance(name, sched2, opt2, range(12, STEPS))
    assert sched2.get_last_lr() == expected


def test_state_dict_leaves_out_the_optimizer_and_is_a_copy():
    opt = _optimizer()
    sched = lr_scheduler.MultiStepLR(opt, milestones=[3, 1, 3])
    state = sched.state_dict()
    assert "optimizer" not in state
    assert state["milestones"] == [1, 3, 3]
    state["base_lrs"].append(1.0)
    assert sched.base_lrs == list(LRS)


def test_scheduler_writes_initial_lr_and_resumes_from_last_epoch():
    opt = _optimizer()
    lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_optimizer(), step_size=2, last_epoch=4)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "Invalid step_size: 0"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "Invalid T_max: 0"),
        (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), "Invalid start_factor: 0.0"),
        (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), "Invalid end_factor: 1.5"),
        (lambda o: lr_scheduler.LinearLR(o, total_iters=0), "Invalid total_iters: 0"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "Invalid factor: 1.0"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "Invalid mode: 'up'"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), "Invalid threshold_mode"),
        (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), "expected 2 values"),
    ],
)
def test_invalid_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make(_optimizer())


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)


def test_reduce_on_plateau_takes_a_one_element_tensor():
    opt = _optimizer()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(lucidnn.tensor(np.array(1.0)))
    sched.step(lucidnn.tensor(np.array([2.0])))
    assert sched.get_last_lr() == [LRS[0] * 0.1, LRS[1] * 0.1]
    assert isinstance(sched, lr_scheduler.LRScheduler)
