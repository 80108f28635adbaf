r"""The fused whole-sequence RNN, LSTM and GRU Functions (wrappers and docs: recurrent.py).

Each Function runs a whole sequence in one graph node, so a training step over T steps costs
a handful of nodes instead of thousands (PERFORMANCE.md, item 1). The layout of the work:

* forward: the input projection of every step in one GEMM per gate block over all T*N rows,
  biases folded in (except the GRU's b_hn, which r multiplies), then per step one GEMM
  ``h_{t-1} @ W_hh^T`` and the gate arithmetic, written with ``out=`` into preallocated
  ``(..., T, N, H)`` buffers;
* gates are kept gate-major, ``(G, T, N, H)``: every per-step operand is then a contiguous
  (N, H) block, where NumPy's ufuncs run 2-3x faster than on the strided column slices of a
  batch-major (N, G*H) row;
* while the values are hot in cache the forward also stores the per-step *factors* of the
  backward (e.g. :math:`o(1-o)\tanh c` for the LSTM), with the mask folded in, so each
  backward step is a few multiplies and one GEMM; inference (no graph) skips them;
* backward: the delta recursion in one reverse loop writing the pre-activation gradients
  batch-major into a reused ``(T, N, K)`` workspace, then ``dW_ih``, ``dW_hh`` and ``dx`` as one
  GEMM each over all T*N rows and the biases as column sums.

Gate orders: the LSTM keeps PyTorch's (i, f, g, o) everywhere (one exponential pass covers all
four gates, see LSTMSequenceFn); the GRU's forward keeps (r, z, n) and its backward stores
(hn, r, z, n), so ``[:, H:]`` is the ``W_ih`` operand and ``[:, :3H]`` the ``W_hh`` one, with
W_hh's rows taken as (n, r, z). docs/rnn_bptt.md derives every formula.

Step bookkeeping: the states live in one ``(T+1, N, H)`` buffer. Forward order writes slot
``t+1`` from slot ``t`` (h0 in slot 0); reverse order writes slot ``t`` from slot ``t+1`` (h0 in
slot T). The outputs are then slots ``[1:]`` or ``[:T]`` and the previous states, stacked for
the ``dW_hh`` GEMM, the other T slots: both contiguous views.
"""

from __future__ import annotations

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.functional._workspace import scratch

_np = backend.numpy


# --------------------------------------------------------------------------- shared helpers


def _steps(T: int, reverse: bool) -> list:
    """(t, cur, prev) in processing order: time index, state slot written, state slot read."""
    if reverse:
        return [(t, t, t + 1) for t in range(T - 1, -1, -1)]
    return [(t, t + 1, t) for t in range(T)]


def _state_views(states, T: int, reverse: bool) -> tuple:
    """(outputs, previous states, final state) as views of the (T+1, N, H) state buffer."""
    if reverse:
        return states[:T], states[1:], states[0]
    return states[1:], states[:T], states[T]


def _start_states(xp, like, T: int, reverse: bool, *initial) -> list:
    """One (T+1, N, H) buffer per initial state, with the initial state in its start slot."""
    bufs = []
    for s0 in initial:
        buf = xp.empty((T + 1,) + s0.shape, dtype=like.dtype)
        buf[T if reverse else 0] = s0
        bufs.append(buf)
    return bufs


def _projection(x, w_ih, bias):
    """All steps' input projections x W_ih^T + b in one GEMM, shape (T, N, G*H)."""
    T, N, _ = x.shape
    pre = x.reshape(T * N, -1) @ w_ih.T
    if bias is not None:
        pre += bias
    return pre.reshape(T, N, -1)


def _mask_arrays(mask, dtype) -> tuple:
    """(float mask (T, N, 1) to fold into factors, boolean 'invalid' (T, N, 1) for carries), or Nones."""
    if mask is None:
        return None, None
    return mask.astype(dtype)[:, :, None], ~mask[:, :, None]


def _sigmoid_(xp, a) -> None:
    """a <- 1 / (1 + e^{-a}) in place; call inside ``errstate(over='ignore')``.

    For a < -88 (float32) e^{-a} overflows to inf and the result is exactly 0, the correctly
    rounded limit; four passes instead of the five of the branch-free ``where`` form.
    """
    xp.negative(a, out=a)
    xp.exp(a, out=a)
    a += 1.0
    xp.divide(1.0, a, out=a)


def _seed(xp, g, like):
    """A writable copy of an incoming state gradient, zeros when none arrived."""
    return xp.zeros_like(like) if g is None else g.copy()


def _total_grad(xp, dh, gy, t, invalid, buf):
    """dL/dh_t: the gradient from later steps plus the output's own (a new buffer when dh must survive)."""
    if gy is None:
        return dh
    if invalid is None:
        dh += gy[t]
        return dh
    xp.add(dh, gy[t], out=buf)  # dh itself is still needed: it is carried past invalid rows
    return buf


def _masked_output(out, mf):
    return out if mf is None else out * mf


# --------------------------------------------------------------------------- Elman RNN


class RNNSequenceFn(Function):
    r"""h_t = \phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), \phi = tanh or relu, over the whole sequence.

    Backward: with :math:`\delta_t = (g_{y_t} + g_{h_t}) \odot \phi'(a_t)`,
    :math:`g_{h_{t-1}} = \delta_t W_{hh}`; then :math:`g_{W_{hh}} = \sum_t \delta_t^T h_{t-1}`,
    :math:`g_{W_{ih}} = \sum_t \delta_t^T x_t`, :math:`g_x = \delta W_{ih}`, :math:`g_b = \sum \delta`.

    Inputs: x, h0, w_ih, w_hh, [b_ih], [b_hh]. Outputs: (output, h_n).
    """

    def forward(self, x, h0, w_ih, w_hh, *biases, has_bias_ih, has_bias_hh, nonlinearity, mask, reverse, keep):
        xp = backend.get_array_module(x)
        T = x.shape[0]
        bias = biases[0] + biases[1] if len(biases) == 2 else (biases[0] if biases else None)
        pre = _projection(x, w_ih, bias)
        (states,) = _start_states(xp, x, T, reverse, h0)
        mf, invalid = _mask_arrays(mask, x.dtype)
        w_hh_t, relu = w_hh.T, nonlinearity == "relu"
        for t, cur, prev in _steps(T, reverse):
            h = states[cur]
            xp.matmul(states[prev], w_hh_t, out=h)
            h += pre[t]
            if relu:
                xp.maximum(h, 0.0, out=h)
            else:
                xp.tanh(h, out=h)
            if invalid is not None:
                xp.copyto(h, states[prev], where=invalid[t])
        out, _, last = _state_views(states, T, reverse)
        if keep:
            self.x, self.w_ih, self.w_hh, self.states = x, w_ih, w_hh, states
            self.relu, self.mask, self.reverse = relu, mask, reverse
            self.has_bias = (has_bias_ih, has_bias_hh)
        return _masked_output(out, mf), last.copy()

    def backward(self, gy, gh_n):
        xp = backend.get_array_module(self.states)
        x, states, w_hh, reverse = self.x, self.states, self.w_hh, self.reverse
        T, N, _ = x.shape
        out, prev_states, _ = _state_views(states, T, reverse)
        mf, invalid = _mask_arrays(self.mask, x.dtype)
        # phi'(a_t) from the outputs, the mask folded in: delta is zero on invalid steps
        fac = scratch(out, "rnn_factor", out.shape, x.dtype)
        if self.relu:
            xp.greater(out, 0.0, out=fac)
        else:
            xp.multiply(out, out, out=fac)
            xp.subtract(1.0, fac, out=fac)
        if mf is not None:
            fac *= mf
        delta = scratch(out, "rnn_delta", out.shape, x.dtype)
        dh, dh_next, buf = _seed(xp, gh_n, states[0]), xp.empty_like(states[0]), xp.empty_like(states[0])
        for t, _, _ in reversed(_steps(T, reverse)):
            dtot = _total_grad(xp, dh, gy, t, invalid, buf)
            xp.multiply(dtot, fac[t], out=delta[t])
            xp.matmul(delta[t], w_hh, out=dh_next)
            if invalid is not None:  # the state was carried through: so is its gradient
                xp.copyto(dh_next, dh, where=invalid[t])
            dh, dh_next = dh_next, dh
        every = slice(None)
        return _input_and_weight_grads(self, delta, prev_states, (dh,), self.w_ih, every, every, _same, _same)


def _input_and_weight_grads(fn, delta, prev_states, state_grads, w_ih_used, ih_cols, hh_cols, to_ih, to_hh) -> tuple:
    """Every gradient after the state ones, from the stacked pre-activation gradients ``delta``.

    ``delta`` (T, N, K) holds the gate gradients in the internal order; columns ``ih_cols``
    multiply W_ih (what the forward used: ``w_ih_used``) and ``hh_cols`` multiply W_hh;
    ``to_ih``/``to_hh`` map (G*H, ...) arrays from those orders to PyTorch's. Each weight
    gradient is ONE GEMM over all T*N rows.
    """
    needs = fn.needs_input_grad
    x = fn.x
    T, N, _ = x.shape
    d2 = delta.reshape(T * N, -1)
    d_ih, d_hh = d2[:, ih_cols], d2[:, hh_cols]
    grads = [(d_ih @ w_ih_used).reshape(x.shape) if needs[0] else None]
    grads += [g if need else None for g, need in zip(state_grads, needs[1:])]
    k = len(grads)
    grads.append(to_ih(d_ih.T @ x.reshape(T * N, -1)) if needs[k] else None)
    grads.append(to_hh(d_hh.T @ prev_states.reshape(T * N, -1)) if needs[k + 1] else None)
    has_ih, has_hh = fn.has_bias
    if (has_ih and needs[k + 2]) or (has_hh and needs[-1]):
        colsum = d2.sum(axis=0)
        if has_ih:
            grads.append(to_ih(colsum[ih_cols]) if needs[k + 2] else None)
        if has_hh:
            grads.append(to_hh(colsum[hh_cols]).copy() if needs[-1] else None)
    elif has_ih or has_hh:
        grads += [None] * (has_ih + has_hh)
    return tuple(grads)


def _same(a):
    return a


# --------------------------------------------------------------------------- LSTM

_LSTM_SCALE = (-1.0, -1.0, -2.0, -1.0)  # forward pre-activation scales of the gates (i, f, g, o)


class LSTMSequenceFn(Function):
    r"""The LSTM over a whole sequence (PyTorch's equations, gate order i, f, g, o).

    i, f, o = \sigma(\cdot), g = tanh(\cdot) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh;
    c_t = f c_{t-1} + i g, h_t = o tanh(c_t). Backward (docs/rnn_bptt.md), with
    :math:`\bar h = g_{y_t} + g_{h_t}`: :math:`\bar c = g_{c_t} + \bar h\, o (1 - \tanh^2 c_t)`,
    :math:`\delta_o = \bar h \tanh c_t\, o(1-o)`, :math:`\delta_i = \bar c\, g\, i(1-i)`,
    :math:`\delta_f = \bar c\, c_{t-1} f(1-f)`, :math:`\delta_g = \bar c\, i (1-g^2)`,
    :math:`g_{c_{t-1}} = \bar c f`, :math:`g_{h_{t-1}} = \delta W_{hh}`.

    The forward multiplies by copies of the weights scaled per gate by (-1, -1, -2, -1), so
    the pre-activations arrive as -a (i, f, o) and -2a (g) and ONE pass of 1/(1 + e^{(.)})
    over all four gates gives sigma(a) and sigma(2a) = (1 + tanh a)/2, from which g = 2 sigma(2a) - 1.
    Scaling by -1 and -2 is exact in floating point; the backward uses the original weights.

    Inputs: x, h0, c0, w_ih, w_hh, [b_ih], [b_hh]. Outputs: (output, h_n, c_n).
    """

    def forward(self, x, h0, c0, w_ih, w_hh, *biases, has_bias_ih, has_bias_hh, mask, reverse, keep):
        xp = backend.get_array_module(x)
        T, N, _ = x.shape
        H = w_hh.shape[1]
        bias = biases[0] + biases[1] if len(biases) == 2 else (biases[0] if biases else None)
        scale = xp.asarray(_LSTM_SCALE, dtype=x.dtype)[:, None, None]
        gates = _gate_projection(x, w_ih.reshape(4, H, -1) * scale,
                                 None if bias is None else bias.reshape(4, H) * scale[:, :, 0])
        hs, cs = _start_states(xp, x, T, reverse, h0, c0)
        tcs = xp.empty((T, N, H), dtype=x.dtype)
        fac = xp.empty((T, 5, N, H), dtype=x.dtype) if keep else None  # (C, D, E, B, A), see _lstm_factors
        mf, invalid = _mask_arrays(mask, x.dtype)
        w_hh_t = (w_hh.reshape(4, H, H) * scale).transpose(0, 2, 1)
        rec, ig = xp.empty((4, N, H), dtype=x.dtype), xp.empty((N, H), dtype=x.dtype)
        with _np.errstate(over="ignore"):
            for t, cur, prev in _steps(T, reverse):
                g4 = gates[:, t]
                xp.matmul(hs[prev], w_hh_t, out=rec)  # one GEMM per gate, straight into gate-major blocks
                g4 += rec
                xp.exp(g4, out=g4)  # e^{-a}: overflow to inf gives sigma = 0 exactly, the right limit
                g4 += 1.0
                xp.divide(1.0, g4, out=g4)
                i, f, g, o = g4
                g *= 2.0
                g -= 1.0
                c, tc = cs[cur], tcs[t]
                xp.multiply(f, cs[prev], out=c)
                xp.multiply(i, g, out=ig)
                c += ig
                xp.tanh(c, out=tc)
                xp.multiply(o, tc, out=hs[cur])
                if keep:
                    _lstm_factors(xp, fac[t], g4, tc, cs[prev])
                    if mf is not None:  # invalid rows: no gate gradient, and dc passes through (f := 1)
                        fac[t] *= mf[t]
                        xp.copyto(f, 1.0, where=invalid[t])
                if invalid is not None:
                    xp.copyto(hs[cur], hs[prev], where=invalid[t])
                    xp.copyto(c, cs[prev], where=invalid[t])
        out, _, h_last = _state_views(hs, T, reverse)
        c_last = _state_views(cs, T, reverse)[2]
        if keep:
            self.x, self.w_ih, self.w_hh, self.hs, self.gates, self.fac = x, w_ih, w_hh, hs, gates, fac
            self.mask, self.reverse, self.H = mask, reverse, H
            self.has_bias = (has_bias_ih, has_bias_hh)
        return _masked_output(out, mf), h_last.copy(), c_last.copy()

    def backward(self, gy, gh_n, gc_n):
        xp = backend.get_array_module(self.hs)
        x, hs, H, reverse, fac, gates = self.x, self.hs, self.H, self.reverse, self.fac, self.gates
        T, N, _ = x.shape
        _, invalid = _mask_arrays(self.mask, x.dtype)
        # batch-major (T, N, 4H) in PyTorch's gate order: the step GEMMs and the weight GEMMs
        # take it as one matrix against the original weights
        delta = scratch(x, "rnn_delta", (T, N, 4 * H), x.dtype)
        delta4 = delta.reshape(T, N, 4, H)
        dh, dc = _seed(xp, gh_n, hs[0]), _seed(xp, gc_n, hs[0])
        dh_next, buf, tmp = xp.empty_like(dh), xp.empty_like(dh), xp.empty_like(dh)
        w_hh = self.w_hh
        for t, _, _ in reversed(_steps(T, reverse)):
            CDE, B, A = fac[t, :3], fac[t, 3], fac[t, 4]
            dtot = _total_grad(xp, dh, gy, t, invalid, buf)
            xp.multiply(dtot, A, out=tmp)
            dc += tmp
            xp.multiply(dc, CDE, out=delta4[t, :, :3].transpose(1, 0, 2))  # delta_i, delta_f, delta_g
            xp.multiply(dtot, B, out=delta4[t, :, 3])  # delta_o
            xp.matmul(delta[t], w_hh, out=dh_next)
            if invalid is not None:  # the states were carried through: so are their gradients
                xp.copyto(dh_next, dh, where=invalid[t])
            dc *= gates[1, t]  # f (1 on invalid rows)
            dh, dh_next = dh_next, dh
        _, prev_states, _ = _state_views(hs, T, reverse)
        every = slice(None)
        return _input_and_weight_grads(self, delta, prev_states, (dh, dc), self.w_ih, every, every, _same, _same)


def _gate_projection(x, w_k, bias_k):
    """All steps' input projections in gate-major layout (G, T, N, H): one GEMM per gate.

    Gate-major keeps every per-step operand a contiguous (N, H) block: NumPy's ufuncs run 2-3x
    slower on the strided (N, H) column slices of a batch-major (N, G*H) array.
    """
    T, N, _ = x.shape
    G, H, _ = w_k.shape
    pre = x.reshape(T * N, -1) @ w_k.transpose(0, 2, 1)  # (G, T*N, H)
    if bias_k is not None:
        pre += bias_k[:, None, :]
    return pre.reshape(G, T, N, H)


def _lstm_factors(xp, F, g4, tc, c_prev) -> None:
    """The backward's per-step factors into F (5, N, H) = (C, D, E, B, A) from the gates (i, f, g, o):

    C = i(1-i) g, D = f(1-f) c_{t-1}, E = i (1 - g^2), B = o(1-o) tanh c, A = o (1 - tanh^2 c);
    slots 0-2 line up with the gates i, f, g that the cell gradient multiplies.
    """
    i, _, g, o = g4
    xp.subtract(1.0, g4, out=F[:4])
    F[:4] *= g4  # s(1-s) for every gate; slot 2 (g) is overwritten with E below
    F[0] *= g
    F[1] *= c_prev
    F[3] *= tc
    E, A = F[2], F[4]
    xp.multiply(g, g, out=E)
    xp.subtract(1.0, E, out=E)
    E *= i
    xp.multiply(tc, tc, out=A)
    xp.subtract(1.0, A, out=A)
    A *= o


# --------------------------------------------------------------------------- GRU


class GRUSequenceFn(Function):
    r"""The GRU over a whole sequence (PyTorch's equations, gate order r, z, n).

    r, z = \sigma(W_i x_t + b_i + W_h h_{t-1} + b_h), hn = W_hn h_{t-1} + b_hn,
    n = tanh(W_in x_t + b_in + r hn), h_t = (1 - z) n + z h_{t-1}. Backward, with
    :math:`\bar h = g_{y_t} + g_{h_t}`: :math:`\delta_n = \bar h (1-z)(1-n^2)`,
    :math:`\delta_{hn} = \delta_n r`, :math:`\delta_r = \delta_n\, hn\, r(1-r)`,
    :math:`\delta_z = \bar h (h_{t-1} - n) z(1-z)`,
    :math:`g_{h_{t-1}} = \bar h z + [\delta_r, \delta_z, \delta_{hn}] W_{hh}`.

    Inputs: x, h0, w_ih, w_hh, [b_ih], [b_hh]. Outputs: (output, h_n).
    """

    def forward(self, x, h0, w_ih, w_hh, *biases, has_bias_ih, has_bias_hh, mask, reverse, keep):
        xp = backend.get_array_module(x)
        T, N, _ = x.shape
        H = w_hh.shape[1]
        b_ih = biases[0] if has_bias_ih else None
        b_hh = biases[-1] if has_bias_hh else None
        bias, b_hn = b_ih, None
        if b_hh is not None:  # b_hr, b_hz fold into the projection; b_hn sits inside r * (...)
            b_hn = b_hh[2 * H:]
            bias = xp.concatenate([b_hh[:2 * H], xp.zeros_like(b_hn)]) if bias is None else bias.copy()
            if b_ih is not None:
                bias[:2 * H] += b_hh[:2 * H]
        gates = _gate_projection(x, w_ih.reshape(3, H, -1), None if bias is None else bias.reshape(3, H))
        (hs,) = _start_states(xp, x, T, reverse, h0)
        fac = xp.empty((T, 4, N, H), dtype=x.dtype) if keep else None  # (R, P, Q, Z), see _gru_factors
        mf, invalid = _mask_arrays(mask, x.dtype)
        w_hh_t = w_hh.reshape(3, H, H).transpose(0, 2, 1)
        rec, tmp = xp.empty((3, N, H), dtype=x.dtype), xp.empty((N, H), dtype=x.dtype)
        hn = rec[2]
        with _np.errstate(over="ignore"):
            for t, cur, prev in _steps(T, reverse):
                g3 = gates[:, t]
                xp.matmul(hs[prev], w_hh_t, out=rec)
                if b_hn is not None:
                    hn += b_hn
                rz = g3[:2]
                rz += rec[:2]
                _sigmoid_(xp, rz)
                r, z, n = g3
                xp.multiply(r, hn, out=tmp)
                n += tmp
                xp.tanh(n, out=n)
                h = hs[cur]
                xp.subtract(hs[prev], n, out=h)  # h_{t-1} - n
                if keep:
                    _gru_factors(xp, fac[t], g3, hn, h)
                    if mf is not None:
                        fac[t, 1:] *= mf[t]
                h *= z
                h += n  # (1 - z) n + z h_{t-1}
                if invalid is not None:
                    xp.copyto(h, hs[prev], where=invalid[t])
        out, _, last = _state_views(hs, T, reverse)
        if keep:
            self.x, self.w_ih, self.w_hh, self.hs, self.gates, self.fac = x, w_ih, w_hh, hs, gates, fac
            self.mask, self.reverse, self.H = mask, reverse, H
            self.has_bias = (has_bias_ih, has_bias_hh)
        return _masked_output(out, mf), last.copy()

    def backward(self, gy, gh_n):
        xp = backend.get_array_module(self.hs)
        x, hs, H, reverse, gates, fac = self.x, self.hs, self.H, self.reverse, self.gates, self.fac
        T, N, _ = x.shape
        _, invalid = _mask_arrays(self.mask, x.dtype)
        w_hh_k = scratch(x, "rnn_weight", (3 * H, H), x.dtype)  # rows (n, r, z) match delta[..., :3H]
        w_hh_k[:H], w_hh_k[H:] = self.w_hh[2 * H:], self.w_hh[:2 * H]
        delta = scratch(x, "rnn_delta", (T, N, 4 * H), x.dtype)  # (delta_hn, delta_r, delta_z, delta_n)
        delta4 = delta.reshape(T, N, 4, H)
        dh = _seed(xp, gh_n, hs[0])
        dh_next, buf, tmp, dn = (xp.empty_like(dh) for _ in range(4))
        for t, _, _ in reversed(_steps(T, reverse)):
            R, P, Q, Z = fac[t]
            d4 = delta4[t]
            dtot = _total_grad(xp, dh, gy, t, invalid, buf)
            xp.multiply(dtot, P, out=dn)
            xp.multiply(dn, gates[0, t], out=d4[:, 0])  # delta_hn = delta_n r
            xp.multiply(dn, R, out=d4[:, 1])  # delta_r
            xp.multiply(dtot, Q, out=d4[:, 2])  # delta_z
            xp.copyto(d4[:, 3], dn)
            xp.matmul(delta[t, :, :3 * H], w_hh_k, out=dh_next)
            xp.multiply(dtot, Z, out=tmp)  # the direct path through z h_{t-1}
            dh_next += tmp
            if invalid is not None:
                xp.copyto(dh_next, dh, where=invalid[t])
            dh, dh_next = dh_next, dh
        _, prev_states, _ = _state_views(hs, T, reverse)
        rows = lambda a: _gru_rows_back(a, H)  # noqa: E731
        return _input_and_weight_grads(self, delta, prev_states, (dh,), self.w_ih, slice(H, None),
                                       slice(None, 3 * H), _same, rows)


def _gru_rows_back(a, H: int):
    """GRU (n, r, z) blocks along axis 0 -> PyTorch's (r, z, n)."""
    return backend.get_array_module(a).concatenate([a[H:3 * H], a[:H]])


def _gru_factors(xp, F, g3, hn, diff) -> None:
    """The backward's per-step factors into F (4, N, H) = (R, P, Q, Z) from the gates (r, z, n):

    R = r(1-r) hn, P = (1-z)(1-n^2), Q = z(1-z)(h_{t-1} - n), Z = z; ``diff`` = h_{t-1} - n.
    """
    _, z, n = g3
    R, P, Q, Z = F
    xp.subtract(1.0, g3[:2], out=F[:2])
    F[:2] *= g3[:2]  # (r(1-r), z(1-z)) in the R, P slots
    xp.multiply(P, diff, out=Q)
    R *= hn
    xp.multiply(n, n, out=P)
    xp.subtract(1.0, P, out=P)
    xp.subtract(1.0, z, out=Z)
    P *= Z
    xp.copyto(Z, z)
