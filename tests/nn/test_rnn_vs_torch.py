"""nn.RNN / nn.LSTM / nn.GRU against torch.nn with our weights loaded into torch by name (float32).

Two layers, bidirectional, with and without bias, time-major and batch-first, tanh and ReLU RNNs,
full-length batches and variable lengths (torch: pack_padded_sequence(enforce_sorted=False)). Every
output is compared: the sequence output, h_n, c_n, and the gradients of the input, of the initial
states and of every parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import nn
from tests.nn.recurrent_support import grads_of, load_into_torch, tensor, torch_grads_of

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

T, N, IN, H = 6, 4, 3, 5  # steps, batch, input size, hidden size
KINDS = {
    "RNN-tanh": (nn.RNN, "RNN", {}),
    "RNN-relu": (nn.RNN, "RNN", {"nonlinearity": "relu"}),
    "LSTM": (nn.LSTM, "LSTM", {}),
    "GRU": (nn.GRU, "GRU", {}),
}
RTOL, ATOL = 1e-5, 1e-6


def _close(ours, theirs, what):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=what)


@pytest.mark.parametrize("variable_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-first"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch_outputs_states_and_every_gradient(rng, kind, bias, batch_first, variable_lengths):
    ours_cls, theirs_name, kwargs = KINDS[kind]
    settings = dict(num_layers=2, bias=bias, batch_first=batch_first, bidirectional=True, **kwargs)
    ours = ours_cls(IN, H, **settings, rng=lucidnn.Generator(3))
    theirs = getattr(torch.nn, theirs_name)(IN, H, **settings)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    load_into_torch(ours, theirs)
    lstm = kind == "LSTM"

    x = rng.standard_normal((N, T, IN) if batch_first else (T, N, IN)).astype(np.float32)
    h0 = rng.standard_normal((4, N, H)).astype(np.float32) * 0.5
    c0 = rng.standard_normal((4, N, H)).astype(np.float32) * 0.5
    lengths = np.array([T, 2, 5, 1]) if variable_lengths else None
    w_out = rng.standard_normal((N, T, 2 * H) if batch_first else (T, N, 2 * H)).astype(np.float32)
    w_h, w_c = rng.standard_normal((2, 4, N, H)).astype(np.float32)

    xs, h0s, c0s = tensor(x, True), tensor(h0, True), tensor(c0, True)
    out, state = ours(xs, (h0s, c0s) if lstm else h0s, lengths=lengths)
    h_n, c_n = state if lstm else (state, None)
    loss = (out * tensor(w_out)).sum() + (h_n * tensor(w_h)).sum()
    if lstm:
        loss = loss + (c_n * tensor(w_c)).sum()
    loss.backward()

    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    inp = xt
    if variable_lengths:
        inp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                                      enforce_sorted=False)
    out_t, state_t = theirs(inp, (h0t, c0t) if lstm else h0t)
    if variable_lengths:
        out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=batch_first, total_length=T)
    h_t, c_t = state_t if lstm else (state_t, None)
    loss_t = (out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    if lstm:
        loss_t = loss_t + (c_t * torch.tensor(w_c)).sum()
    loss_t.backward()

    _close(out.numpy(), out_t.detach().numpy(), "output")
    _close(h_n.numpy(), h_t.detach().numpy(), "h_n")
    if lstm:
        _close(c_n.numpy(), c_t.detach().numpy(), "c_n")
        _close(c0s.grad.numpy(), c0t.grad.numpy(), "grad c0")
    _close(xs.grad.numpy(), xt.grad.numpy(), "grad x")
    _close(h0s.grad.numpy(), h0t.grad.numpy(), "grad h0")
    theirs_grads = torch_grads_of(theirs)
    ours_grads = grads_of(ours)
    assert ours_grads.keys() == theirs_grads.keys()
    for key, g in ours_grads.items():
        _close(g, theirs_grads[key], f"grad {key}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_torch_state_dict_loads_into_ours(rng, kind):
    ours_cls, theirs_name, kwargs = KINDS[kind]
    theirs = getattr(torch.nn, theirs_name)(IN, H, num_layers=2, bidirectional=True, **kwargs)
    ours = ours_cls(IN, H, 2, bidirectional=True, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((T, N, IN)).astype(np.float32)
    out, _ = ours(lucidnn.tensor(x))
    with torch.no_grad():
        out_t, _ = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), out_t.numpy(), rtol=RTOL, atol=ATOL)
