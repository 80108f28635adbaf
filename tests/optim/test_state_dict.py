"""Optimizer state dicts: exact resumption (also through JSON + separate arrays), snapshots, load errors."""

import json

import numpy as np
import pytest

import lucidnn
from lucidnn import optim
from lucidnn.errors import LucidError

SHAPES = [(4, 3), (6,), (2, 2)]

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
IDS = [name for name, _ in CONFIGS]


def _gradients(steps, dtype=np.float32):
    rng = np.random.default_rng(7)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def _params(dtype=np.float32):
    rng = np.random.default_rng(3)
    return [lucidnn.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in SHAPES]


def _make(name, kwargs, params):
    return getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}], **kwargs)


def _train(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = lucidnn.Tensor(g.copy())
        opt.step()


def _through_json(state_dict):
    """What a checkpoint does: arrays to one side (safetensors), the rest through JSON."""
    arrays = {}

    def strip(obj, path):
        if isinstance(obj, dict):
            return {k: strip(v, f"{path}.{k}") for k, v in obj.items()}
        if isinstance(obj, np.ndarray):
            arrays[path] = obj
            return {"__array__": path}
        return obj

    def restore(obj):
        if isinstance(obj, dict):
            if "__array__" in obj:
                return arrays[obj["__array__"]]
            return {k: restore(v) for k, v in obj.items()}
        return obj

    return restore(json.loads(json.dumps(strip(state_dict, ""))))


@pytest.mark.parametrize("via_json", [False, True], ids=["in-memory", "via-json"])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_resume_is_bitwise_identical(name, kwargs, via_json):
    grads = _gradients(10)
    straight = _params()
    _train(_make(name, kwargs, straight), straight, grads)

    first = _params()
    opt = _make(name, kwargs, first)
    _train(opt, first, grads[:5])
    saved = opt.state_dict()
    if via_json:
        saved = _through_json(saved)
    resumed = [lucidnn.tensor(p.data.copy(), requires_grad=True) for p in first]
    opt2 = _make(name, kwargs, resumed)
    opt2.load_state_dict(saved)
    _train(opt2, resumed, grads[5:])
    for p, q in zip(resumed, straight):
        assert p.data.tobytes() == q.data.tobytes()


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_state_dict_layout_and_snapshot(name, kwargs):
    params = _params()
    opt = _make(name, kwargs, params)
    _train(opt, params, _gradients(2))
    saved = opt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2]]
    assert sorted(saved["state"]) == [0, 1, 2]
    assert saved["state"][0]["step" if name != "SGD" else "momentum_buffer"] is not None
    for entry in saved["state"].values():
        for value in entry.values():
            assert isinstance(value, (np.ndarray, int, float))
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    before = {i: {k: np.copy(v) for k, v in e.items()} for i, e in saved["state"].items()}
    _train(opt, params, _gradients(2))  # training on must not change the snapshot
    for i, entry in saved["state"].items():
        for k, v in entry.items():
            np.testing.assert_array_equal(v, before[i][k])


def test_load_copies_and_casts_to_the_parameter_dtype():
    params = _params()
    opt = _make("Adam", dict(lr=0.01), params)
    _train(opt, params, _gradients(1))
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].astype(np.float64)
    saved["state"][1]["step"] = np.array(1.0)  # a step count stored as a 0-d array
    opt.load_state_dict(saved)
    assert opt.state[params[0]]["exp_avg"].dtype == np.float32
    assert opt.state[params[1]]["step"] == 1
    assert opt.state[params[2]]["exp_avg"] is not saved["state"][2]["exp_avg"]


def test_load_restores_hyperparameters():
    params = _params()
    opt = _make("Adam", dict(lr=0.01, betas=(0.8, 0.9)), params)
    saved = _through_json(opt.state_dict())
    opt2 = _make("Adam", dict(lr=0.5), _params())
    opt2.load_state_dict(saved)
    assert [g["lr"] for g in opt2.param_groups] == [0.01, 0.005]
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)  # JSON's list becomes a tuple again


def _saved_adam():
    params = _params()
    opt = _make("Adam", dict(lr=0.01), params)
    _train(opt, params, _gradients(1))
    return opt.state_dict()


def test_load_rejects_a_different_number_of_groups():
    opt = optim.Adam(_params(), lr=0.01)
    with pytest.raises(optim.StateDictError, match="2 parameter groups but the optimizer has 1"):
        opt.load_state_dict(_saved_adam())


def test_load_rejects_a_different_number_of_parameters():
    params = _params()
    opt = optim.Adam([{"params": params[:1]}, {"params": params[1:]}], lr=0.01)
    with pytest.raises(optim.StateDictError) as info:
        opt.load_state_dict(_saved_adam())
    message = str(info.value)
    assert "group 0: the state dict has 2 parameters, the optimizer has 1" in message
    assert "group 1: the state dict has 1 parameters, the optimizer has 2" in message


def test_load_lists_every_shape_mismatch_and_changes_nothing():
    rng = np.random.default_rng(0)
    params = [lucidnn.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
              for s in [(3, 4), (6,), (2, 2)]]
    opt = _make("Adam", dict(lr=0.01), params)
    _train(opt, params, [[rng.standard_normal(p.shape).astype(np.float32) for p in params]])
    before = opt.state_dict()
    with pytest.raises(optim.StateDictError) as info:
        opt.load_state_dict(_saved_adam())
    message = str(info.value)
    assert "state[0]['exp_avg'] has shape (4, 3) but parameter 0 has shape (3, 4)" in message
    assert "state[0]['exp_avg_sq'] has shape (4, 3)" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, LucidError)
    after = opt.state_dict()
    for i, entry in before["state"].items():
        for k, v in entry.items():
            assert np.array_equal(after["state"][i][k], v)


def test_load_rejects_unknown_indices_and_bad_hyperparameters():
    saved = _saved_adam()
    saved["state"][9] = saved["state"][0]
    saved["param_groups"][1]["lr"] = -1.0
    opt = _make("Adam", dict(lr=0.01), _params())
    with pytest.raises(optim.StateDictError) as info:
        opt.load_state_dict(saved)
    assert "state[9]: there is no parameter with that index" in str(info.value)
    assert "group 1: Invalid learning rate: -1.0" in str(info.value)
    assert opt.param_groups[1]["lr"] == 0.005
