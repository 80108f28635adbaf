"""Full and truncated BPTT: identities with a hand-built BPTT, updates, clipping, the gradient-norm diagnostic."""

import math

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn import nn, optim
from lucidnn.autograd import Tensor, no_grad
from lucidnn.errors import ShapeError
from lucidnn.train import BPTTTrainer, RecurrentReadout, bptt, hidden_gradient_norms, truncated_bptt

T, N, D_IN, H, D_OUT = 7, 3, 2, 4, 2
F64 = "float64"


class TupleStateLSTM(nn.Module):
    """A window model whose state is a bare (h, c) tuple, with a read-out."""

    def __init__(self, seed):
        super().__init__()
        self.cell = nn.LSTMCell(D_IN, H, dtype=F64, rng=lucidnn.Generator(seed))
        self.readout = nn.Linear(H, D_OUT, dtype=F64, rng=lucidnn.Generator(seed + 1))

    def forward(self, x, state=None):
        outputs = []
        for t in range(x.shape[0]):
            h, state = self.cell(x[t], state)
            outputs.append(self.readout(h))
        return F.stack(outputs, axis=0), state


def _model(kind, seed=0):
    g = lucidnn.Generator
    if kind == "rnn_readout":
        return nn.Recurrent(nn.RNNCell(D_IN, H, output_size=D_OUT, dtype=F64, rng=g(seed)))
    if kind == "lstm_tuple_state":
        return TupleStateLSTM(seed)
    if kind == "gru_readout":
        return RecurrentReadout(nn.Recurrent(nn.GRUCell(D_IN, H, dtype=F64, rng=g(seed))),
                                nn.Linear(H, D_OUT, dtype=F64, rng=g(seed + 1)))
    if kind == "stacked_sigmoid":
        return nn.Recurrent([nn.RNNCell(D_IN, H, nonlinearity="sigmoid", dtype=F64, rng=g(seed)),
                             nn.RNNCell(H, D_OUT, dtype=F64, rng=g(seed + 1))])
    if kind == "fused_lstm_readout":
        return RecurrentReadout(nn.LSTM(D_IN, H, dtype=F64, rng=g(seed)),
                                nn.Linear(H, D_OUT, dtype=F64, rng=g(seed + 1)))
    if kind == "fused_gru":
        return nn.GRU(D_IN, D_OUT, dtype=F64, rng=g(seed))
    if kind == "fused_rnn_2_layers":
        return nn.RNN(D_IN, D_OUT, num_layers=2, dtype=F64, rng=g(seed))
    raise AssertionError(kind)


KINDS = ["rnn_readout", "lstm_tuple_state", "gru_readout", "stacked_sigmoid", "fused_lstm_readout", "fused_gru",
         "fused_rnn_2_layers"]


def _data(rng, steps=T, scale=1.0):
    return rng.standard_normal((steps, N, D_IN)), Tensor(scale * rng.standard_normal((steps, N, D_OUT)))


def _grads(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def _reference_full(model, x, y, loss_fn, scale=1.0):
    """Full BPTT by hand: one forward over the sequence, sum of step losses, one backward."""
    model.zero_grad()
    out, _ = model(Tensor(x), None)
    total = sum((loss_fn(out[t], y[t]) for t in range(len(x))), Tensor(np.zeros((), dtype=x.dtype)))
    (total * scale).backward()
    grads = _grads(model)
    model.zero_grad()
    return grads


def _reference_truncated(model, x, y, loss_fn, k1, k2, mean=False):
    """Sum over updates of the gradient of the losses of [first, end) with the state at first - (k2 - k1) constant.

    The state at the cut comes from a separate no-grad run of the sequence up to the cut (fixed weights).
    """
    model.zero_grad()
    steps = len(x)
    updates = [*range(k1, steps, k1), steps]
    for index, end in enumerate(updates):
        first = updates[index - 1] if index else 0
        cut = max(0, first - (k2 - k1))
        state = None
        if cut > 0:
            with no_grad():
                _, state = model(Tensor(x[:cut]), None)
        out, _ = model(Tensor(x[cut:end]), state)
        total = sum(loss_fn(out[t - cut], y[t]) for t in range(first, end))
        (total * (1.0 / (end - first)) if mean else total).backward()
    grads = _grads(model)
    model.zero_grad()
    return grads


def _assert_close(actual, expected, atol=1e-10):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=atol)


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("kind", KINDS)
def test_full_window_equals_full_bptt(kind, rng):
    model = _model(kind)
    x, y = _data(rng)
    expected = _reference_full(model, x, y, nn.MSELoss())
    result = truncated_bptt(model, x, y, nn.MSELoss(), k1=T, k2=T)
    assert result.updates == 1
    _assert_close(_grads(model), expected)
    model.zero_grad()
    bptt(model, x, y, nn.MSELoss())
    _assert_close(_grads(model), expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k1", [1, 2, 3, 5])
def test_untruncated_updates_sum_to_full_bptt(kind, k1, rng):
    """With k2 >= T every update's gradient flows back to t = 0, so their sum is full BPTT's gradient."""
    model = _model(kind)
    x, y = _data(rng)
    expected = _reference_full(model, x, y, nn.MSELoss())
    result = truncated_bptt(model, x, y, nn.MSELoss(), k1=k1, k2=T + 3)
    assert result.updates == math.ceil(T / k1)
    _assert_close(_grads(model), expected)


@pytest.mark.parametrize("kind", ["rnn_readout", "lstm_tuple_state", "stacked_sigmoid", "fused_lstm_readout",
                                  "fused_rnn_2_layers"])
@pytest.mark.parametrize(("k1", "k2"), [(1, 1), (2, 2), (3, 3), (2, 3), (2, 5), (3, 4), (1, 4), (4, 6)])
def test_truncated_gradient_matches_reference(kind, k1, k2, rng):
    model = _model(kind)
    x, y = _data(rng)
    expected = _reference_truncated(model, x, y, nn.MSELoss(), k1, k2)
    truncated_bptt(model, x, y, nn.MSELoss(), k1=k1, k2=k2)
    _assert_close(_grads(model), expected)
    if k2 < T:  # truncation changes the gradient, so the test above could tell a wrong window
        full = _reference_full(model, x, y, nn.MSELoss())
        assert max(np.abs(a - b).max() for a, b in zip(expected, full)) > 1e-6


@pytest.mark.parametrize("k1", [3, T])
def test_mean_reduction_divides_each_update_by_its_steps(k1, rng):
    model = _model("rnn_readout")
    x, y = _data(rng)
    expected = _reference_truncated(model, x, y, nn.MSELoss(), k1, k1, mean=True)  # k1=3: by 3, 3, then 1
    truncated_bptt(model, x, y, nn.MSELoss(), k1=k1, reduction="mean")
    _assert_close(_grads(model), expected)
    if k1 == T:
        model.zero_grad()
        bptt(model, x, y, nn.MSELoss(), reduction="mean")
        _assert_close(_grads(model), _reference_full(model, x, y, nn.MSELoss(), scale=1.0 / T))


def test_state_is_carried_detached_and_returned(rng):
    model = _model("lstm_tuple_state")
    x, y = _data(rng)
    with no_grad():
        _, (h, c) = model(Tensor(x), None)
    result = truncated_bptt(model, x, y, nn.MSELoss(), k1=2, k2=3)
    rh, rc = result.state
    assert not rh.requires_grad and not rc.requires_grad
    np.testing.assert_allclose(rh.numpy(), h.numpy(), atol=1e-12)
    np.testing.assert_allclose(rc.numpy(), c.numpy(), atol=1e-12)
    assert result.step_losses.shape == (T,)
    np.testing.assert_allclose(result.loss, result.step_losses.mean())


def test_continuing_from_a_state_equals_one_run(rng):
    """Two calls chained through result.state make the same updates as one call over the whole sequence."""
    model = _model("rnn_readout")
    x, y = _data(rng)
    whole = truncated_bptt(model, x, y, nn.MSELoss(), k1=2)
    expected = _grads(model)
    model.zero_grad()
    first = truncated_bptt(model, x[:4], y[:4], nn.MSELoss(), k1=2)
    second = truncated_bptt(model, x[4:], y[4:], nn.MSELoss(), k1=2, state=first.state)
    _assert_close(_grads(model), expected)
    np.testing.assert_allclose(np.concatenate([first.step_losses, second.step_losses]), whole.step_losses)


# --------------------------------------------------------------------------- updates and clipping


def _manual_windows(model, optimizer, x, y, loss_fn, k, clip_norm=None, clip_value=None):
    """Truncated BPTT with k1 = k2 = k written out: detach, forward a window, backward, clip, step."""
    state = None
    for start in range(0, len(x), k):
        out, state = model(Tensor(x[start:start + k]), state)
        total = sum(loss_fn(out[t], y[start + t]) for t in range(out.shape[0]))
        optimizer.zero_grad()
        total.backward()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if clip_value is not None:
            optim.clip_grad_value_(params, clip_value)
        if clip_norm is not None:
            optim.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        state = [s.detach() for s in state] if isinstance(state, list) else state.detach()


@pytest.mark.parametrize(("clip_norm", "clip_value"), [(None, None), (0.5, None), (None, 0.05), (0.3, 0.05)])
@pytest.mark.parametrize("k", [2, 3, T])
def test_windows_with_optimizer_match_manual_loop(k, clip_norm, clip_value, rng):
    x, y = _data(rng, scale=3.0)
    ours, reference = _model("rnn_readout", seed=5), _model("rnn_readout", seed=5)
    opt_ours = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_ref = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    result = truncated_bptt(ours, x, y, nn.MSELoss(), opt_ours, k1=k, clip_norm=clip_norm, clip_value=clip_value)
    _manual_windows(reference, opt_ref, x, y, nn.MSELoss(), k, clip_norm, clip_value)
    assert result.updates == math.ceil(T / k)
    for p, q in zip(ours.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_bounds_the_update(clip, rng):
    x, y = _data(rng, scale=10.0)  # large errors: the raw gradient is well above the bounds
    model = _model("rnn_readout")
    before = [p.numpy().copy() for p in model.parameters()]
    bound = 0.01
    options = {"clip_norm": bound} if clip == "norm" else {"clip_value": bound}
    bptt(model, x, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.0), **options)
    steps = [b - p.numpy() for b, p in zip(before, model.parameters())]
    if clip == "norm":
        assert math.sqrt(sum((s * s).sum() for s in steps)) == pytest.approx(bound, rel=1e-4)
    else:
        largest = max(np.abs(s).max() for s in steps)
        assert largest == pytest.approx(bound, rel=1e-12)


def _echo_loss(model, data):
    """Mean per-step MSE of ``model`` over ``data``, without gradients."""
    with no_grad():
        return float(np.mean([nn.MSELoss()(model(Tensor(x), None)[0], y).item() for x, y in data]))


def test_trainer_learns_delayed_echo():
    """BPTT(10; 5) on y_t = x_{t-2}: the loss falls far below the untrained model's."""
    rng = np.random.default_rng(3)
    data = []
    for _ in range(4):
        x = rng.choice([-1.0, 1.0], size=(30, 16, 1)).astype(np.float32)
        y = np.zeros_like(x)
        y[2:] = x[:-2]
        data.append((x, Tensor(y)))
    model = nn.Recurrent(nn.RNNCell(1, 16, output_size=1, rng=lucidnn.Generator(1)))
    trainer = BPTTTrainer(model, optim.Adam(model.parameters(), lr=0.02), nn.MSELoss(), k1=5, k2=10,
                          clip_norm=5.0, reduction="mean")
    before = _echo_loss(model, data)
    history = trainer.fit(data, epochs=6)
    assert len(history) == 6 and history[-1] < history[0]
    assert _echo_loss(model, data) < 0.02 * before


def test_stateful_trainer_carries_state(rng):
    """stateful=True passes each sequence's final state to the next: as giving it explicitly."""
    (x1, y1), (x2, y2) = _data(rng), _data(rng)
    models = [_model("rnn_readout", seed=8) for _ in range(3)]
    trainers = [BPTTTrainer(m, optim.SGD(m.parameters(), lr=0.05), nn.MSELoss(), k1=3, stateful=s)
                for m, s in zip(models, (True, False, False))]
    trainers[0].fit([(x1, y1), (x2, y2)])
    first = trainers[1].train_sequence(x1, y1)
    trainers[1].train_sequence(x2, y2, state=first.state)
    trainers[2].fit([(x1, y1), (x2, y2)])
    (h,) = trainers[0].state
    assert h.shape == (N, H) and not h.requires_grad and trainers[2].state is None
    for p, q, _ in zip(*(m.parameters() for m in models)):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-13)
    assert any(np.abs(p.numpy() - r.numpy()).max() > 1e-6 for p, r in zip(models[0].parameters(),
                                                                             models[2].parameters()))


def test_non_finite_update_is_skipped_with_a_warning(rng):
    x, y = _data(rng)
    y.data[3, 0, 0] = np.nan  # spoils the second window of 2 steps only
    model = _model("rnn_readout")
    reference = _model("rnn_readout")
    with pytest.warns(RuntimeWarning, match="the loss is nan at update 2; that update was skipped"):
        result = truncated_bptt(model, x, y, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), k1=2)
    assert result.updates == 4 and np.isnan(result.step_losses[3]) and np.isfinite(result.step_losses[4:]).all()
    manual = optim.SGD(reference.parameters(), lr=0.1)
    state = None
    for start in (0, 2, 4, 6):  # the same windows, the second one only run forward
        out, state = reference(Tensor(x[start:start + 2]), state)
        state = [s.detach() for s in state]
        if start != 2:
            total = sum(nn.MSELoss()(out[t], y[start + t]) for t in range(out.shape[0]))
            manual.zero_grad()
            total.backward()
            manual.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- bad input


def test_bad_windows_and_sequences(rng):
    model = _model("rnn_readout")
    x, y = _data(rng)
    loss = nn.MSELoss()
    with pytest.raises(ValueError, match="k1 .* must be >= 1, got 0"):
        truncated_bptt(model, x, y, loss, k1=0)
    with pytest.raises(ValueError, match="k2 .* must be >= k1 = 3, got 2"):
        truncated_bptt(model, x, y, loss, k1=3, k2=2)
    with pytest.raises(TypeError, match="k1 must be an int"):
        truncated_bptt(model, x, y, loss, k1=2.0)
    with pytest.raises(ShapeError, match="T = 0"):
        bptt(model, x[:0], y[:0], loss)
    with pytest.raises(ShapeError, match="x has 7 time steps but the targets y have 6"):
        truncated_bptt(model, x, y[:6], loss, k1=2)
    with pytest.raises(ValueError, match="without an optimizer"):
        bptt(model, x, y, loss, clip_norm=1.0)
    with pytest.raises(ValueError, match="clip_value must be a positive number"):
        bptt(model, x, y, loss, optim.SGD(model.parameters(), lr=0.1), clip_value=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        bptt(model, x, y, loss, reduction="none")
    with pytest.raises(ValueError, match="k2 was given without k1"):
        BPTTTrainer(model, optim.SGD(model.parameters(), lr=0.1), loss, k2=4)


def test_model_contract_errors(rng):
    x, y = _data(rng)
    inner = _model("rnn_readout")

    def batch_first(xw, state):
        out, state = inner(xw, state)
        return F.transpose(out, 0, 1), state

    with pytest.raises(ShapeError, match="time-major"):
        truncated_bptt(batch_first, x, y, nn.MSELoss(), k1=2)
    with pytest.raises(TypeError, match=r"must return \(y_window, state\)"):
        bptt(lambda xw, state: inner(xw, state)[0], x, y, nn.MSELoss())
    with pytest.raises(ValueError, match="batch_first=True"):
        RecurrentReadout(nn.Recurrent(nn.RNNCell(D_IN, H), batch_first=True), nn.Linear(H, D_OUT))


# --------------------------------------------------------------------------- gradient-norm diagnostic


def _hand_hidden_gradients(cell, x, y, loss_steps):
    """dL/dh_t for an RNNCell(tanh) with read-out and MSE loss, unrolled by hand in NumPy."""
    w_ih, w_hh = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    b = cell.bias_ih.numpy() + cell.bias_hh.numpy()
    v, c = cell.readout.weight.numpy(), cell.readout.bias.numpy()
    targets = y.numpy()
    steps = len(x)
    h = np.zeros((x.shape[1], w_hh.shape[0]))
    hs = []
    for t in range(steps):
        h = np.tanh(x[t] @ w_ih.T + h @ w_hh.T + b)
        hs.append(h)
    direct = [2.0 * (hs[t] @ v.T + c - targets[t]) / targets[t].size @ v for t in range(steps)]
    if loss_steps == "last":
        direct = [np.zeros_like(d) for d in direct[:-1]] + direct[-1:]
    grads = [None] * steps
    grads[-1] = direct[-1]
    for t in range(steps - 2, -1, -1):
        grads[t] = direct[t] + (grads[t + 1] * (1.0 - hs[t + 1] ** 2)) @ w_hh
    return np.array([np.linalg.norm(g) for g in grads])


@pytest.mark.parametrize("loss_steps", ["all", "last"])
def test_hidden_gradient_norms_match_hand_unrolled(loss_steps, rng):
    cell = nn.RNNCell(D_IN, H, output_size=D_OUT, dtype=F64, rng=lucidnn.Generator(2))
    x, y = _data(rng, steps=5)
    marker = [Tensor(np.full(p.shape, 7.0)) for p in cell.parameters()]
    for p, m in zip(cell.parameters(), marker):
        p.grad = m
    norms = hidden_gradient_norms(cell, x, y, nn.MSELoss(), loss_steps=loss_steps)
    np.testing.assert_allclose(norms, _hand_hidden_gradients(cell, x, y, loss_steps), rtol=1e-10)
    assert all(p.grad is m for p, m in zip(cell.parameters(), marker))  # the diagnostic leaves .grad alone


def test_hidden_gradient_norms_vanish_for_a_contracting_rnn(rng):
    cell = nn.RNNCell(D_IN, H, output_size=D_OUT, dtype=F64, rng=lucidnn.Generator(4))
    cell.weight_hh.data[...] = 0.3 * rng.standard_normal((H, H)) / math.sqrt(H)  # spectral radius well below 1
    x, y = _data(rng, steps=12)
    norms = hidden_gradient_norms(cell, x, y, nn.MSELoss(), loss_steps="last")
    assert np.all(np.diff(norms) > 0)  # further from the loss, smaller
    assert norms[0] < 1e-4 * norms[-1]


def test_hidden_gradient_norms_lstm_and_errors(rng):
    cell = nn.LSTMCell(D_IN, H, dtype=F64, rng=lucidnn.Generator(6))
    x = rng.standard_normal((6, N, D_IN))
    y = Tensor(rng.standard_normal((6, N, H)))
    norms = hidden_gradient_norms(cell, x, y, nn.MSELoss())
    assert norms.shape == (6,) and np.all(norms > 0)
    with pytest.raises(ValueError, match="loss_steps"):
        hidden_gradient_norms(cell, x, y, nn.MSELoss(), loss_steps="first")
    with pytest.raises(ShapeError, match="T = 0"):
        hidden_gradient_norms(cell, x[:0], y[:0], nn.MSELoss())
