"""Recurrent cells: formulas by hand, PyTorch's cells with copied weights, init, gradchecks over time, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from lucidnn.errors import ShapeError
from tests.nn.recurrent_support import gradcheck_with_parameters, grads_of, load_into_torch, tensor, torch_grads_of


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _p(module, name):
    return getattr(module, name).numpy().astype(np.float64)


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("nonlinearity, f", [("tanh", np.tanh), ("relu", lambda z: np.maximum(z, 0)),
                                             ("sigmoid", _sigmoid), ("logistic", _sigmoid)])
def test_rnn_cell_formula_with_readout(rng, nonlinearity, f):
    cell = nn.RNNCell(3, 4, nonlinearity=nonlinearity, output_size=2, dtype="float64")
    x, h = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    y, h_new = cell(tensor(x), tensor(h))
    bias = _p(cell, "bias_ih") + _p(cell, "bias_hh")
    expected_h = f(x @ _p(cell, "weight_ih").T + h @ _p(cell, "weight_hh").T + bias)
    np.testing.assert_allclose(h_new.numpy(), expected_h, rtol=1e-12)
    expected_y = expected_h @ cell.readout.weight.numpy().T + cell.readout.bias.numpy()
    np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-12)
    assert cell.nonlinearity == ("sigmoid" if nonlinearity == "logistic" else nonlinearity)
    assert cell.output_size == 2


def test_lstm_cell_formula(rng):
    cell = nn.LSTMCell(3, 2, dtype="float64")
    x, h, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    y, (h_new, c_new) = cell(tensor(x), (tensor(h), tensor(c)))
    z = x @ _p(cell, "weight_ih").T + _p(cell, "bias_ih") + h @ _p(cell, "weight_hh").T + _p(cell, "bias_hh")
    i, f, g, o = np.split(z, 4, axis=1)
    c_ref = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h_ref = _sigmoid(o) * np.tanh(c_ref)
    np.testing.assert_allclose(c_new.numpy(), c_ref, rtol=1e-12)
    np.testing.assert_allclose(h_new.numpy(), h_ref, rtol=1e-12)
    assert y is h_new


def test_gru_cell_formula(rng):
    cell = nn.GRUCell(3, 2, dtype="float64")
    x, h = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    y, h_new = cell(tensor(x), tensor(h))
    a = x @ _p(cell, "weight_ih").T + _p(cell, "bias_ih")
    b = h @ _p(cell, "weight_hh").T + _p(cell, "bias_hh")
    r = _sigmoid(a[:, :2] + b[:, :2])
    z = _sigmoid(a[:, 2:4] + b[:, 2:4])
    n = np.tanh(a[:, 4:] + r * b[:, 4:])
    np.testing.assert_allclose(h_new.numpy(), (1 - z) * n + z * h, rtol=1e-12)
    assert y is h_new


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(3, 4), lambda: nn.LSTMCell(3, 4), lambda: nn.GRUCell(3, 4),
                                  lambda: nn.RecurrentMLPCell(3, (4, 2)), lambda: nn.SecondOrderCell(3, 4),
                                  lambda: nn.RNNCell(3, 4, bias=False)])
def test_state_none_is_the_zero_state(rng, make):
    cell = make()
    x = lucidnn.tensor(rng.standard_normal((2, 3)), dtype="float32")
    y_none, s_none = cell(x)
    y_zero, s_zero = cell(x, cell.zero_state(2))
    np.testing.assert_array_equal(y_none.numpy(), y_zero.numpy())
    flat = lambda s: [s] if isinstance(s, lucidnn.Tensor) else [t for part in s for t in flat(part)]  # noqa: E731
    for a, b in zip(flat(s_none), flat(s_zero)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.dtype == np.float32


@pytest.mark.parametrize("cls, gates", [(nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)])
def test_parameters_shapes_and_init(cls, gates):
    cell = cls(30, 50, rng=lucidnn.Generator(0))
    shapes = {n: p.shape for n, p in cell.named_parameters()}
    assert shapes == {"weight_ih": (gates * 50, 30), "weight_hh": (gates * 50, 50), "bias_ih": (gates * 50,),
                      "bias_hh": (gates * 50,)}
    bound = 1 / math.sqrt(50)
    for p in cell.parameters():
        a = p.numpy()
        assert p.dtype == np.float32
        assert np.abs(a).max() <= bound and a.max() > 0.9 * bound and a.min() < -0.9 * bound
    assert cls(30, 50, bias=False).bias_ih is None
    again = cls(30, 50, rng=lucidnn.Generator(0))
    np.testing.assert_array_equal(cell.weight_hh.numpy(), again.weight_hh.numpy())


def test_second_order_cell_formula(rng):
    cell = nn.SecondOrderCell(3, 4, dtype="float64")
    u, x = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    y, s = cell(tensor(u), tensor(x))
    v = _p(cell, "bias") + np.einsum("kij,ni,nj->nk", _p(cell, "weight"), x, u)
    np.testing.assert_allclose(s.numpy(), _sigmoid(v), rtol=1e-12)
    assert cell.weight.shape == (4, 4, 3)


def test_recurrent_mlp_cell_layers_see_the_new_state_below(rng):
    cell = nn.RecurrentMLPCell(3, (4, 2), nonlinearity=("tanh", "sigmoid"), dtype="float64")
    x = rng.standard_normal((5, 3))
    h1, h2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    y, (n1, n2) = cell(tensor(x), (tensor(h1), tensor(h2)))
    l1, l2 = cell.layers
    r1 = np.tanh(x @ _p(l1, "weight_ih").T + h1 @ _p(l1, "weight_hh").T + _p(l1, "bias_ih") + _p(l1, "bias_hh"))
    r2 = _sigmoid(r1 @ _p(l2, "weight_ih").T + h2 @ _p(l2, "weight_hh").T + _p(l2, "bias_ih") + _p(l2, "bias_hh"))
    np.testing.assert_allclose(n1.numpy(), r1, rtol=1e-12)
    np.testing.assert_allclose(n2.numpy(), r2, rtol=1e-12)
    assert y is n2 and cell.output_size == 2
    assert [n for n, _ in cell.named_parameters()][:2] == ["layers.0.weight_ih", "layers.0.weight_hh"]


# --------------------------------------------------------------------------- against torch

torch_cells = [
    ("RNNCell", lambda b: nn.RNNCell(3, 5, bias=b), "RNNCell", {}),
    ("RNNCell-relu", lambda b: nn.RNNCell(3, 5, bias=b, nonlinearity="relu"), "RNNCell", {"nonlinearity": "relu"}),
    ("LSTMCell", lambda b: nn.LSTMCell(3, 5, bias=b), "LSTMCell", {}),
    ("GRUCell", lambda b: nn.GRUCell(3, 5, bias=b), "GRUCell", {}),
]


@pytest.mark.torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name, ours, theirs, kwargs", torch_cells, ids=[c[0] for c in torch_cells])
def test_cell_matches_torch_over_steps(rng, name, ours, theirs, kwargs, bias):
    torch = pytest.importorskip("torch")
    cell = ours(bias)
    ref = getattr(torch.nn, theirs)(3, 5, bias=bias, **kwargs)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    load_into_torch(cell, ref)
    lstm = name == "LSTMCell"
    xs = rng.standard_normal((4, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 5)).astype(np.float32)
    x_ours, h_ours = tensor(xs, True), tensor(h0, True)
    x_ref, h_ref = torch.tensor(xs, requires_grad=True), torch.tensor(h0, requires_grad=True)
    state, state_ref = ((h_ours, h_ours * 0.5) if lstm else h_ours), ((h_ref, h_ref * 0.5) if lstm else h_ref)
    total, total_ref = 0, 0
    for t in range(4):
        y, state = cell(x_ours[t], state)
        state_ref = ref(x_ref[t], state_ref)
        y_ref = state_ref[0] if lstm else state_ref
        np.testing.assert_allclose(y.numpy(), y_ref.detach().numpy(), rtol=1e-5, atol=1e-6)
        total = total + (y * (t + 1.0)).sum()
        total_ref = total_ref + (y_ref * (t + 1.0)).sum()
    if lstm:
        np.testing.assert_allclose(state[1].numpy(), state_ref[1].detach().numpy(), rtol=1e-5, atol=1e-6)
        total, total_ref = total + state[1].sum(), total_ref + state_ref[1].sum()
    total.backward()
    total_ref.backward()
    np.testing.assert_allclose(x_ours.grad.numpy(), x_ref.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_ours.grad.numpy(), h_ref.grad.numpy(), rtol=1e-5, atol=1e-6)
    theirs_grads = torch_grads_of(ref)
    for key, g in grads_of(cell).items():
        np.testing.assert_allclose(g, theirs_grads[key], rtol=1e-5, atol=1e-5, err_msg=key)


# --------------------------------------------------------------------------- gradchecks over time


def _unroll(cell, xs, state, **kwargs):
    ys = []
    for t in range(xs.shape[0]):
        y, state = cell(xs[t], state, **kwargs) if not kwargs else cell(xs[t], state, target=kwargs["targets"][t])
        ys.append(y)
    flat = [state] if isinstance(state, lucidnn.Tensor) else [s for part in state for s in
                                                             ([part] if isinstance(part, lucidnn.Tensor) else part)]
    return (lucidnn.functional.stack(ys), *flat)


gradcheck_cells = {
    "RNNCell-tanh-readout": lambda: nn.RNNCell(2, 3, output_size=2, dtype="float64"),
    "RNNCell-sigmoid": lambda: nn.RNNCell(2, 3, nonlinearity="sigmoid", dtype="float64"),
    "RNNCell-relu-nobias": lambda: nn.RNNCell(2, 3, nonlinearity="relu", bias=False, dtype="float64"),
    "LSTMCell": lambda: nn.LSTMCell(2, 3, dtype="float64"),
    "GRUCell": lambda: nn.GRUCell(2, 3, dtype="float64"),
    "RecurrentMLPCell": lambda: nn.RecurrentMLPCell(2, (3, 2), dtype="float64"),
    "SecondOrderCell": lambda: nn.SecondOrderCell(2, 3, dtype="float64"),
}


@pytest.mark.parametrize("name", list(gradcheck_cells))
def test_gradcheck_cell_unrolled_over_six_steps(rng, name):
    cell = gradcheck_cells[name]()
    xs = tensor(rng.standard_normal((6, 2, 2)), True)
    state = cell.zero_state(2)
    if isinstance(state, lucidnn.Tensor):
        state = tensor(rng.standard_normal(state.shape) * 0.5, True)
        inputs = [xs, state]
        fn = lambda x, s: _unroll(cell, x, s)  # noqa: E731
    else:
        parts = [tensor(rng.standard_normal(s.shape) * 0.5, True) for s in state]
        inputs = [xs, *parts]
        fn = lambda x, *s: _unroll(cell, x, tuple(s))  # noqa: E731
    assert gradcheck_with_parameters(fn, cell, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_gradcheck_narx_unrolled_over_six_steps(rng, mode):
    cell = nn.NARXCell(2, 1, input_delays=2, output_delays=3, hidden_sizes=(4,), mode=mode, dtype="float64")
    xs = tensor(rng.standard_normal((6, 2, 2)), True)
    lines = [tensor(rng.standard_normal((2, 2, 2)), True), tensor(rng.standard_normal((2, 3, 1)), True)]
    targets = tensor(rng.standard_normal((6, 2, 1)), True)
    if mode == "open":
        fn = lambda x, u, y, z: _unroll(cell, x, (u, y), targets=z)  # noqa: E731
        inputs = [xs, *lines, targets]
    else:
        fn = lambda x, u, y: _unroll(cell, x, (u, y))  # noqa: E731
        inputs = [xs, *lines]
    assert gradcheck_with_parameters(fn, cell, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_gradcheck_narx_run(rng, mode):
    cell = nn.NARXCell(1, 2, input_delays=3, output_delays=2, hidden_sizes=(3, 3), nonlinearity="sigmoid",
                       mode=mode, dtype="float64")
    xs = tensor(rng.standard_normal((5, 2, 1)), True)
    if mode == "open":
        fn = lambda x, z: cell.run(x, z)[0]  # noqa: E731
        inputs = [xs, tensor(rng.standard_normal((5, 2, 2)), True)]
    else:
        fn = lambda x: cell.run(x)[0]  # noqa: E731
        inputs = [xs]
    assert gradcheck_with_parameters(fn, cell, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("padding, dilation", [("valid", 1), ("causal", 2), ("same", 1)])
def test_gradcheck_time_delay(rng, padding, dilation):
    layer = nn.TimeDelay(2, 3, 3, dilation=dilation, padding=padding, dtype="float64")
    x = tensor(rng.standard_normal((2, 7, 2)), True)
    assert gradcheck_with_parameters(layer, layer, [x], atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(3, 4), lambda: nn.LSTMCell(3, 4), lambda: nn.GRUCell(3, 4),
                                  lambda: nn.SecondOrderCell(3, 4), lambda: nn.RecurrentMLPCell(3, (4,)),
                                  lambda: nn.NARXCell(3, 1, mode="closed")])
def test_wrong_input_size_names_the_shapes(make):
    cell = make()
    with pytest.raises(ShapeError, match=r"\(N, 3\).*\(2, 5\)"):
        cell(lucidnn.zeros(2, 5))
    with pytest.raises(ShapeError, match="nn.Recurrent"):
        cell(lucidnn.zeros(4, 2, 3))


@pytest.mark.parametrize("make, state", [
    (lambda: nn.RNNCell(3, 4), lucidnn.zeros(2, 5)),
    (lambda: nn.GRUCell(3, 4), lucidnn.zeros(3, 4)),
    (lambda: nn.LSTMCell(3, 4), (lucidnn.zeros(2, 4), lucidnn.zeros(2, 3))),
    (lambda: nn.SecondOrderCell(3, 4), lucidnn.zeros(2, 4, 1)),
])
def test_wrong_state_shape_names_the_shapes(make, state):
    with pytest.raises(ShapeError, match=r"must have shape \(2, 4\)"):
        make()(lucidnn.zeros(2, 3), state)


def test_bad_state_structures_and_settings():
    with pytest.raises(TypeError, match=r"pair \(h, c\)"):
        nn.LSTMCell(3, 4)(lucidnn.zeros(2, 3), lucidnn.zeros(2, 4))
    with pytest.raises(TypeError, match="tuple of 2 Tensors"):
        nn.RecurrentMLPCell(3, (4, 4))(lucidnn.zeros(2, 3), (lucidnn.zeros(2, 4),))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="softsign")
    with pytest.raises(ValueError, match="2 nonlinearities given for 1 layers"):
        nn.RecurrentMLPCell(3, (4,), nonlinearity=("tanh", "relu"))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.GRUCell(3, 0)
