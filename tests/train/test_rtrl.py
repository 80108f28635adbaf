"""RTRL: its accumulated gradient equals BPTT's; it learns on-line; streams, clipping and bad input."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import nn, optim
from lucidnn.autograd import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.train import RTRL, rtrl

T, N, D_IN, H, D_OUT = 6, 3, 2, 4, 3
F64 = "float64"


def _cell(kind, seed=0, **options):
    g = lucidnn.Generator(seed)
    if kind == "lstm":
        return nn.LSTMCell(D_IN, H, dtype=F64, rng=g, **options)
    if kind == "gru":
        return nn.GRUCell(D_IN, H, dtype=F64, rng=g, **options)
    return nn.RNNCell(D_IN, H, nonlinearity=kind, dtype=F64, rng=g, **options)


def _bptt_grads(cell, x, y, loss_fn, state=None):
    """BPTT by autograd through the cell loop: the gradient of sum_t loss_fn(y_t, target_t)."""
    cell.zero_grad()
    total = None
    for t in range(len(x)):
        out, state = cell(Tensor(x[t]), state)
        loss = loss_fn(out, y[t])
        total = loss if total is None else total + loss
    total.backward()
    grads = {name: p.grad.numpy().copy() for name, p in cell.named_parameters()}
    cell.zero_grad()
    return grads


def _grads(cell):
    return {name: p.grad.numpy() for name, p in cell.named_parameters()}


def _assert_grads_equal(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("readout", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["tanh", "sigmoid", "relu"])
def test_rnn_cell_rtrl_equals_bptt(kind, bias, readout, rng):
    cell = _cell(kind, bias=bias, output_size=D_OUT if readout else None)
    x = rng.standard_normal((T, N, D_IN))
    y = Tensor(rng.standard_normal((T, N, D_OUT if readout else H)))
    expected = _bptt_grads(cell, x, y, nn.MSELoss())
    result = rtrl(cell, x, y, nn.MSELoss())
    assert result.updates == 0 and result.step_losses.shape == (T,)
    _assert_grads_equal(_grads(cell), expected)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gated_cell_rtrl_equals_bptt(kind, rng):
    cell = _cell(kind, seed=3)
    x = rng.standard_normal((T, N, D_IN))
    y = Tensor(rng.standard_normal((T, N, H)))
    expected = _bptt_grads(cell, x, y, nn.MSELoss())
    rtrl(cell, x, y, nn.MSELoss())
    _assert_grads_equal(_grads(cell), expected)


@pytest.mark.parametrize("kind", ["tanh", "lstm", "gru"])
def test_rtrl_from_a_given_state_and_cross_entropy(kind, rng):
    """A non-zero initial state (a constant: P_0 = 0) and a classification loss on the read-out."""
    cell = _cell(kind, seed=4, **({"output_size": D_OUT} if kind == "tanh" else {}))
    classes = D_OUT if kind == "tanh" else H
    x = rng.standard_normal((T, N, D_IN))
    y = rng.integers(0, classes, size=(T, N))
    h0 = Tensor(0.5 * rng.standard_normal((N, H)))
    state = (h0, Tensor(0.5 * rng.standard_normal((N, H)))) if kind == "lstm" else h0
    expected = _bptt_grads(cell, x, y, nn.CrossEntropyLoss(), state=state)
    result = rtrl(cell, x, y, nn.CrossEntropyLoss(), state=state)
    _assert_grads_equal(_grads(cell), expected)
    final = result.state[0] if kind == "lstm" else result.state
    assert final.shape == (N, H) and not final.requires_grad


def test_sensitivities_are_the_jacobian_of_the_state(rng):
    """P_T = dh_T/dtheta, column by column against central differences of the cell's own forward."""
    cell = _cell("tanh", seed=5)
    x = rng.standard_normal((3, 2, D_IN))
    learner = RTRL(cell, nn.MSELoss())
    learner.run(x, Tensor(np.zeros((3, 2, H))))
    sens = learner.sensitivities[0]
    assert sens.shape == (2, H, H * D_IN + H * H + 2 * H)

    def final_state():
        state = None
        for t in range(len(x)):
            _, state = cell(Tensor(x[t]), state)
        return state.numpy()

    column, eps = 0, 1e-6
    for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh):
        flat = p.data.reshape(-1)
        for k in range(flat.size):
            flat[k] += eps
            plus = final_state()
            flat[k] -= 2 * eps
            minus = final_state()
            flat[k] += eps
            np.testing.assert_allclose(sens[:, :, column], (plus - minus) / (2 * eps), atol=1e-8)
            column += 1


def test_a_stream_in_pieces_equals_one_run(rng):
    """run(reset=False) continues the state and the sensitivities."""
    cell = _cell("tanh", seed=6, output_size=D_OUT)
    x = rng.standard_normal((T, N, D_IN))
    y = Tensor(rng.standard_normal((T, N, D_OUT)))
    whole = rtrl(cell, x, y, nn.MSELoss())
    expected = {k: v.copy() for k, v in _grads(cell).items()}
    cell.zero_grad()
    learner = RTRL(cell, nn.MSELoss())
    first = learner.run(x[:2], y[:2])
    second = learner.run(x[2:], y[2:], reset=False)
    _assert_grads_equal(_grads(cell), expected)
    np.testing.assert_allclose(np.concatenate([first.step_losses, second.step_losses]), whole.step_losses)


def test_online_first_step_is_an_sgd_step_on_the_exact_gradient(rng):
    """Before any update P is exact, so the first on-line step moves the weights by -lr * dL_0/dtheta."""
    cell = _cell("tanh", seed=7, output_size=D_OUT)
    x = rng.standard_normal((1, N, D_IN))
    y = Tensor(rng.standard_normal((1, N, D_OUT)))
    grads = _bptt_grads(cell, x, y, nn.MSELoss())
    before = {name: p.numpy().copy() for name, p in cell.named_parameters()}
    result = rtrl(cell, x, y, nn.MSELoss(), optim.SGD(cell.parameters(), lr=0.1))
    assert result.updates == 1
    for name, p in cell.named_parameters():
        np.testing.assert_allclose(p.numpy(), before[name] - 0.1 * grads[name], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_online_clipping_bounds_each_step(clip, rng):
    cell = _cell("tanh", seed=8, output_size=D_OUT)
    x = rng.standard_normal((4, N, D_IN))
    y = Tensor(10.0 * rng.standard_normal((4, N, D_OUT)))
    options = {"clip_norm": 0.01} if clip == "norm" else {"clip_value": 0.01}
    learner = RTRL(cell, nn.MSELoss(), optim.SGD(cell.parameters(), lr=1.0), **options)
    learner.reset()
    for t in range(4):
        before = [p.numpy().copy() for p in cell.parameters()]
        learner.step(Tensor(x[t]), y[t])
        moves = [b - p.numpy() for b, p in zip(before, cell.parameters())]
        if clip == "norm":
            assert math.sqrt(sum((m * m).sum() for m in moves)) == pytest.approx(0.01, rel=1e-4)
        else:
            assert max(np.abs(m).max() for m in moves) == pytest.approx(0.01, rel=1e-12)
    assert learner.updates == 4


def test_rtrl_learns_sine_prediction_online():
    """On-line RTRL (one Adam step per time step) learns to predict sin(t + 0.3) from sin(t)."""
    steps, batch = 400, 4
    phase = np.linspace(0.0, 2.0, batch)
    t = np.arange(steps + 1)[:, None] * 0.3 + phase[None, :]
    x = np.sin(t[:-1])[:, :, None].astype(np.float32)  # (T, N, 1)
    y = Tensor(np.sin(t[1:])[:, :, None].astype(np.float32))
    cell = nn.RNNCell(1, 8, output_size=1, rng=lucidnn.Generator(0))
    result = rtrl(cell, x, y, nn.MSELoss(), optim.Adam(cell.parameters(), lr=0.02))
    assert result.updates == steps
    early, late = result.step_losses[:50].mean(), result.step_losses[-50:].mean()
    assert late < 0.05 * early
    assert late < 0.01


def test_non_finite_step_is_skipped_with_a_warning(rng):
    cell = _cell("tanh", seed=9, output_size=D_OUT)
    x = rng.standard_normal((3, N, D_IN))
    y = Tensor(rng.standard_normal((3, N, D_OUT)))
    y.data[1, 0, 0] = np.inf
    with pytest.warns(RuntimeWarning, match="the loss is inf at step 2; that update was skipped"):
        result = rtrl(cell, x, y, nn.MSELoss(), optim.SGD(cell.parameters(), lr=0.1))
    assert result.updates == 2 and np.isinf(result.step_losses[1])
    assert all(np.isfinite(p.numpy()).all() for p in cell.parameters())


def test_bad_input(rng):
    cell = _cell("tanh")
    x = rng.standard_normal((T, N, D_IN))
    y = Tensor(rng.standard_normal((T, N, H)))
    loss = nn.MSELoss()
    for unsupported in (nn.Recurrent(cell), nn.SecondOrderCell(D_IN, H), nn.Linear(D_IN, H)):
        with pytest.raises(TypeError, match="RTRL supports nn.RNNCell .* nn.LSTMCell and nn.GRUCell"):
            rtrl(unsupported, x, y, loss)
    with pytest.raises(ShapeError, match="T = 0"):
        rtrl(cell, x[:0], y[:0], loss)
    with pytest.raises(ShapeError, match="x has 6 time steps but the targets y have 5"):
        rtrl(cell, x, y[:5], loss)
    with pytest.raises(ShapeError, match=r"x_t must have shape \(N, I\) = \(N, 2\)"):
        rtrl(cell, rng.standard_normal((T, N, 3)), y, loss)
    with pytest.raises(DTypeError, match="float32 but the cell's parameters are float64"):
        rtrl(cell, x.astype(np.float32), y, loss)
    with pytest.raises(ShapeError, match="expected \\(N, H\\) with H = 4"):
        rtrl(cell, x, y, loss, state=Tensor(np.zeros((N, 5))))
    with pytest.raises(TypeError, match="pair \\(h, c\\)"):
        rtrl(_cell("lstm"), x, y, loss, state=Tensor(np.zeros((N, H))))
    with pytest.raises(ValueError, match="without an optimizer"):
        rtrl(cell, x, y, loss, clip_value=1.0)
    learner = RTRL(cell, loss)
    learner.step(Tensor(x[0]), y[0])
    with pytest.raises(ShapeError, match="batch size 1 but the state has 3"):
        learner.step(Tensor(x[1, :1]), y[1, :1])
