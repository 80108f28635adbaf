"""Op-table rows for the fused sequence Functions (lucidnn.functional.recurrent).

A row returns ONE Tensor, so each row concatenates every output flattened (output, h_n and,
for the LSTM, c_n): gradcheck and the parity checks then see all of them. The reference is a
NumPy loop over time steps written from the equations; torch parity runs ``torch.nn.RNN``/
``LSTM``/``GRU`` through ``torch.func.functional_call`` with the row's tensors as parameters
(reverse rows: on the time-flipped input, flipped back). Masked rows have no torch
counterpart here; tests/functional/test_recurrent.py compares them with packed sequences.
"""

from __future__ import annotations

import numpy as np

from lucidnn import functional as F
from tests.functional.op_table import OpCase

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# (T, N, I, H): a plain one, batch 1, and a wider input than hidden size
_SHAPES = [(5, 3, 3, 4), (6, 1, 2, 3), (5, 2, 4, 3)]


def _samples(kind: str, bias: bool, masked: bool):
    def samples(rng):
        out = []
        for T, N, n_in, H in _SHAPES:
            rows = GATES[kind] * H
            sample = [rng.standard_normal((T, N, n_in)), rng.standard_normal((N, H)) * 0.5]
            if kind == "lstm":
                sample.append(rng.standard_normal((N, H)) * 0.5)
            sample += [rng.standard_normal((rows, n_in)) * 0.6, rng.standard_normal((rows, H)) * 0.6]
            if bias:
                sample += [rng.standard_normal(rows) * 0.3, rng.standard_normal(rows) * 0.3]
            if masked:  # lengths from 1 to T, the longest first in no particular order
                lengths = rng.integers(1, T + 1, N)
                lengths[rng.integers(N)] = T
                sample.append(np.arange(T)[:, None] < lengths[None, :])
            out.append(tuple(sample))
        return out
    return samples


def _split(kind: str, bias: bool, masked: bool, args):
    """(x, states, w_ih, w_hh, b_ih, b_hh, mask) from a row's positional inputs."""
    args = list(args)
    x = args.pop(0)
    states = [args.pop(0) for _ in range(2 if kind == "lstm" else 1)]
    w_ih, w_hh = args.pop(0), args.pop(0)
    b_ih, b_hh = (args.pop(0), args.pop(0)) if bias else (None, None)
    mask = args.pop(0) if masked else None
    return x, states, w_ih, w_hh, b_ih, b_hh, mask


def _fn(kind: str, nonlinearity: str, bias: bool, masked: bool, reverse: bool):
    def fn(*args):
        x, states, w_ih, w_hh, b_ih, b_hh, mask = _split(kind, bias, masked, args)
        if kind == "rnn":
            outs = F.rnn_sequence(x, states[0], w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity,
                                  mask=mask, reverse=reverse)
        elif kind == "lstm":
            outs = F.lstm_sequence(x, *states, w_ih, w_hh, b_ih, b_hh, mask=mask, reverse=reverse)
        else:
            outs = F.gru_sequence(x, states[0], w_ih, w_hh, b_ih, b_hh, mask=mask, reverse=reverse)
        return F.cat([o.reshape(-1) for o in outs])
    return fn


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _np_step(kind: str, nonlinearity: str, x_t, state, w_ih, w_hh, b_ih, b_hh):
    """One step of the textbook equations (PyTorch's gate orders) on float64 arrays."""
    gi = x_t @ w_ih.T + (0.0 if b_ih is None else b_ih)
    gh = state[0] @ w_hh.T + (0.0 if b_hh is None else b_hh)
    H = w_hh.shape[1]
    if kind == "rnn":
        a = gi + gh
        return [np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)]
    if kind == "lstm":
        a = gi + gh
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
        c = f * state[1] + i * np.tanh(a[:, 2 * H:3 * H])
        return [o * np.tanh(c), c]
    r, z = _sigmoid(gi[:, :H] + gh[:, :H]), _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return [(1.0 - z) * n + z * state[0]]


def _reference(kind: str, nonlinearity: str, bias: bool, masked: bool, reverse: bool):
    def ref(*args):
        x, states, w_ih, w_hh, b_ih, b_hh, mask = _split(kind, bias, masked, args)
        T = x.shape[0]
        out = np.zeros(x.shape[:2] + (w_hh.shape[1],))
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            new = _np_step(kind, nonlinearity, x[t], states, w_ih, w_hh, b_ih, b_hh)
            valid = np.ones((x.shape[1], 1), bool) if mask is None else mask[t][:, None]
            states = [np.where(valid, s_new, s) for s_new, s in zip(new, states)]
            out[t] = np.where(valid, new[0], 0.0)
        return np.concatenate([out.ravel()] + [s.ravel() for s in states])
    return ref


def _torch_fn(kind: str, nonlinearity: str, bias: bool, reverse: bool):
    def torch_fn(torch, *args):
        x, states, w_ih, w_hh, b_ih, b_hh, _ = _split(kind, bias, False, args)
        size = (x.shape[2], w_hh.shape[1])
        if kind == "rnn":
            module = torch.nn.RNN(*size, nonlinearity=nonlinearity, bias=bias, dtype=x.dtype)
        else:
            module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](*size, bias=bias, dtype=x.dtype)
        params = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh}
        if bias:
            params.update(bias_ih_l0=b_ih, bias_hh_l0=b_hh)
        hx = tuple(s[None] for s in states) if kind == "lstm" else states[0][None]
        out, final = torch.func.functional_call(module, params, (x.flip(0) if reverse else x, hx))
        finals = final if kind == "lstm" else (final,)
        out = out.flip(0) if reverse else out
        return torch.cat([out.reshape(-1)] + [s.reshape(-1) for s in finals])
    return torch_fn


def _case(kind: str, nonlinearity: str = "tanh", *, bias: bool = True, masked: bool = False,
          reverse: bool = False) -> OpCase:
    name = f"{kind}_sequence" + (f"-{nonlinearity}" if kind == "rnn" else "")
    name += ("" if bias else "-no-bias") + ("-mask" if masked else "") + ("-reverse" if reverse else "")
    torch_fn = None if masked else _torch_fn(kind, nonlinearity, bias, reverse)
    return OpCase(name, _fn(kind, nonlinearity, bias, masked, reverse), _samples(kind, bias, masked),
                  _reference(kind, nonlinearity, bias, masked, reverse), torch_fn, fwd_atol=1e-5)


CASES = [
    _case("rnn", "tanh"),
    _case("rnn", "relu", reverse=True),
    _case("rnn", "tanh", bias=False, masked=True, reverse=True),
    _case("rnn", "relu", masked=True),
    _case("lstm"),
    _case("lstm", bias=False, reverse=True),
    _case("lstm", masked=True),
    _case("lstm", masked=True, reverse=True),
    _case("gru"),
    _case("gru", bias=False, masked=True),
    _case("gru", reverse=True),
    _case("gru", masked=True, reverse=True),
]
