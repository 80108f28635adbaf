r"""Real-time recurrent learning (RTRL): forward-mode gradients and on-line updates for recurrent cells.

Instead of storing the sequence and propagating errors backwards (BPTT), RTRL carries forward the
*sensitivities* of the state to every recurrent parameter :math:`\theta`,
:math:`P_t = \partial h_t / \partial \theta`, updated at each step from the last one:

.. math::

    z_t = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}, \qquad h_t = f(z_t), \\
    P_t = D_t \Big(W_{hh} P_{t-1} + \frac{\partial z_t}{\partial \theta}\Big|_{h_{t-1}}\Big), \qquad
    D_t = \operatorname{diag} f'(z_t), \qquad P_0 = 0,

where the explicit term :math:`\partial z_t / \partial \theta` holds :math:`x_t` (for
:math:`W_{ih}`), :math:`h_{t-1}` (for :math:`W_{hh}`) and 1 (for the biases) in row k of unit k's
own parameters. The gradient of the step's loss is then available immediately,

.. math:: g_t = \frac{\partial L_t}{\partial \theta} = \frac{\partial L_t}{\partial h_t}\, P_t

(plus the direct gradient of a read-out layer), so the weights can change at every step: the on-line
algorithm of Williams & Zipser (1989), the notes' 实时递归学习 (连续训练). Summed over the steps,
:math:`\sum_t g_t` is exactly BPTT's gradient of :math:`\sum_t L_t` (docs/rtrl.md).

Cost, with n = H units and :math:`n^2 + nI + 2n` parameters: :math:`P_t` is (N, H, n_params), memory
:math:`O(n^3)` per sequence, and the product :math:`W_{hh} P_{t-1}` costs :math:`O(n^4)` time per step
(BPTT: :math:`O(n^2)` per step, but memory growing with T).

LSTM and GRU cells get the same treatment with their longer recursions (the cell state's
sensitivity for the LSTM, the reset and update gates' for the GRU), written out in each kernel.

Reference: Williams and Zipser, "A learning algorithm for continually running fully recurrent neural
networks", Neural Computation 1(2), 1989; course notes, "RNN 连续训练 / 实时递归学习".
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lucidnn import backend
from lucidnn.autograd.grad_mode import enable_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.nn import GRUCell, LSTMCell, RNNCell
from lucidnn.train._sequence import (
    as_sequence,
    check_clip,
    check_pair,
    clipped_step,
    finite_loss,
)

_np = backend.numpy


class RTRLResult(NamedTuple):
    """What :func:`rtrl` returns.

    Attributes:
        loss: mean over the steps of the per-step losses (a float).
        step_losses: the per-step losses, a NumPy array (T,), each measured before that step's update.
        state: the state after the last step, detached (a Tensor, or ``(h, c)`` for an LSTM cell).
        updates: optimizer steps taken (0 in accumulation mode).
    """

    loss: float
    step_losses: Any
    state: Any
    updates: int


def _sigmoid(xp: Any, z: Any) -> Any:
    return 0.5 * (1.0 + xp.tanh(0.5 * z))  # no overflow for large |z|


# --------------------------------------------------------------------------- kernels


class _Kernel:
    """The cell's recurrent parameters as one flat vector theta, and one step of the sensitivity recursion.

    A kernel sees raw arrays: ``state`` is a tuple of (N, H) arrays, ``sens`` a tuple of the same length of
    (N, H, n_params) arrays, component by component :math:`\\partial \\text{state} / \\partial \\theta`.
    """

    gates = 1
    components = 1  # state arrays: h (RNN, GRU) or h, c (LSTM)

    def __init__(self, cell: Any) -> None:
        self.cell = cell
        self.hidden_size = cell.hidden_size
        self.input_size = cell.input_size
        self.params: list[tuple[str, Tensor]] = []
        self.offset: dict[str, int] = {}
        size = 0
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            p = getattr(cell, name)
            if p is not None:
                self.params.append((name, p))
                self.offset[name] = size
                size += p.data.size
        self.size = size

    def weights(self) -> tuple:
        """(W_ih, W_hh, b_ih, b_hh) arrays as they are now (biases None without bias)."""
        c = self.cell
        return tuple(None if p is None else p.data for p in (c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh))

    def _affine(self, x: Any, h: Any) -> tuple[Any, Any]:
        """(x W_ih^T + b_ih, h W_hh^T + b_hh), each (N, G*H)."""
        w_ih, w_hh, b_ih, b_hh = self.weights()
        ax, bh = x @ w_ih.T, h @ w_hh.T
        if b_ih is not None:
            ax += b_ih
            bh += b_hh
        return ax, bh

    def _add_explicit(self, target: Any, name: str, values: Any, r0: int, r1: int) -> None:
        """target[n, r - r0, d theta] += d(row r of z)/d(parameter ``name``), rows r0 <= r < r1 of the G*H.

        Row r of ``x W_ih^T`` depends on W_ih[r, :] with derivative x (likewise W_hh with h); row r of a
        bias on its element r with derivative 1: one entry per (row, column), set without loops.
        """
        if name not in self.offset:
            return
        xp = backend.get_array_module(target)
        rows = xp.arange(r1 - r0)
        off = self.offset[name]
        if values is None:  # a bias
            target[:, rows, off + r0 + rows] += 1
            return
        cols = values.shape[1]
        index = off + (r0 + rows)[:, None] * cols + xp.arange(cols)[None, :]  # (R, cols)
        target[:, rows[:, None], index] += values[:, None, :]

    def _dz(self, x: Any, h: Any, sens_h: Any, ih_rows: tuple[int, int] | None = None) -> Any:
        """d(x W_ih^T + b_ih + h W_hh^T + b_hh)/d theta, (N, G*H, n_params); the input part only on ``ih_rows``."""
        rows = self.gates * self.hidden_size
        dz = self.weights()[1] @ sens_h  # (G*H, H) @ (N, H, P) -> (N, G*H, P): the O(n^4) product
        self._add_explicit(dz, "weight_hh", h, 0, rows)
        self._add_explicit(dz, "bias_hh", None, 0, rows)
        r0, r1 = (0, rows) if ih_rows is None else ih_rows
        self._add_explicit(dz, "weight_ih", x, r0, r1)
        self._add_explicit(dz, "bias_ih", None, r0, r1)
        return dz

    def step(self, x: Any, state: tuple, sens: tuple) -> tuple[tuple, tuple]:
        raise NotImplementedError  # abstract


class _RNNKernel(_Kernel):
    r""":math:`h' = f(z)`, :math:`P' = f'(z) \odot (W_{hh} P + \partial z / \partial \theta)`."""

    def step(self, x: Any, state: tuple, sens: tuple) -> tuple[tuple, tuple]:
        xp = backend.get_array_module(x)
        (h,), (p_h,) = state, sens
        ax, bh = self._affine(x, h)
        z = ax + bh
        kind = self.cell.nonlinearity
        if kind == "tanh":
            h_new = xp.tanh(z)
            d = 1.0 - h_new * h_new
        elif kind == "sigmoid":
            h_new = _sigmoid(xp, z)
            d = h_new * (1.0 - h_new)
        else:  # relu
            h_new = xp.maximum(z, 0)
            d = (z > 0).astype(z.dtype)
        dz = self._dz(x, h, p_h)
        dz *= d[:, :, None]
        return (h_new,), (dz,)


class _LSTMKernel(_Kernel):
    r"""Gates :math:`i, f, o = \sigma(\cdot)`, :math:`g = \tanh(\cdot)` of :math:`z = (z_i, z_f, z_g, z_o)`:

    .. math::

        P^c_{t} = f \odot P^c_{t-1} + c_{t-1} f(1-f) \odot \partial z_f + g\, i(1-i) \odot \partial z_i
                  + i (1-g^2) \odot \partial z_g, \\
        P^h_{t} = \tanh(c_t)\, o(1-o) \odot \partial z_o + o \big(1 - \tanh^2 c_t\big) \odot P^c_t,

    with :math:`\partial z = W_{hh} P^h_{t-1} + \partial z / \partial \theta|_{\text{explicit}}`.
    """

    gates, components = 4, 2

    def step(self, x: Any, state: tuple, sens: tuple) -> tuple[tuple, tuple]:
        xp = backend.get_array_module(x)
        (h, c), (p_h, p_c) = state, sens
        n = self.hidden_size
        ax, bh = self._affine(x, h)
        z = ax + bh
        i, f, o = (_sigmoid(xp, z[:, k * n:(k + 1) * n]) for k in (0, 1, 3))
        g = xp.tanh(z[:, 2 * n:3 * n])
        c_new = f * c + i * g
        tc = xp.tanh(c_new)
        dz = self._dz(x, h, p_h)
        dz_i, dz_f, dz_g, dz_o = (dz[:, k * n:(k + 1) * n] for k in range(4))
        p_c_new = f[:, :, None] * p_c
        p_c_new += (c * f * (1.0 - f))[:, :, None] * dz_f
        p_c_new += (g * i * (1.0 - i))[:, :, None] * dz_i
        p_c_new += (i * (1.0 - g * g))[:, :, None] * dz_g
        p_h_new = (tc * o * (1.0 - o))[:, :, None] * dz_o
        p_h_new += (o * (1.0 - tc * tc))[:, :, None] * p_c_new
        return (o * tc, c_new), (p_h_new, p_c_new)


class _GRUKernel(_Kernel):
    r"""PyTorch's GRU, :math:`n = \tanh(a_n + r \odot b_n)` with :math:`b_n = W_{hn} h + b_{hn}`:

    .. math::

        \partial r = r(1-r) \odot \partial z_r, \quad \partial u = u(1-u) \odot \partial z_u, \quad
        \partial n = (1 - n^2) \odot (\partial a_n + r \odot \partial b_n + b_n \odot \partial r), \\
        P_t = (1-u) \odot \partial n + (h_{t-1} - n) \odot \partial u + u \odot P_{t-1}

    (u is the update gate z of the cell's docstring; :math:`\partial a_n` holds only the explicit
    input terms, :math:`\partial b_n = W_{hn} P_{t-1}` + explicit).
    """

    gates = 3

    def step(self, x: Any, state: tuple, sens: tuple) -> tuple[tuple, tuple]:
        xp = backend.get_array_module(x)
        (h,), (p_h,) = state, sens
        n_units = self.hidden_size
        ax, bh = self._affine(x, h)
        r = _sigmoid(xp, ax[:, :n_units] + bh[:, :n_units])
        u = _sigmoid(xp, ax[:, n_units:2 * n_units] + bh[:, n_units:2 * n_units])
        b_n = bh[:, 2 * n_units:]
        n = xp.tanh(ax[:, 2 * n_units:] + r * b_n)
        # the input part of the candidate's pre-activation is not multiplied by r: keep it apart
        dz = self._dz(x, h, p_h, ih_rows=(0, 2 * n_units))
        da_n = xp.zeros_like(p_h)
        self._add_explicit(da_n, "weight_ih", x, 2 * n_units, 3 * n_units)
        self._add_explicit(da_n, "bias_ih", None, 2 * n_units, 3 * n_units)
        dr = (r * (1.0 - r))[:, :, None] * dz[:, :n_units]
        du = (u * (1.0 - u))[:, :, None] * dz[:, n_units:2 * n_units]
        dn = da_n
        dn += r[:, :, None] * dz[:, 2 * n_units:]
        dn += b_n[:, :, None] * dr
        dn *= (1.0 - n * n)[:, :, None]
        p_new = (1.0 - u)[:, :, None] * dn
        p_new += (h - n)[:, :, None] * du
        p_new += u[:, :, None] * p_h
        return (n + u * (h - n),), (p_new,)


def _kernel_for(cell: Any) -> _Kernel:
    kernels = {RNNCell: _RNNKernel, LSTMCell: _LSTMKernel, GRUCell: _GRUKernel}
    kernel = kernels.get(type(cell))
    if kernel is None:
        raise TypeError(f"RTRL: unsupported cell {type(cell).__name__}; RTRL supports nn.RNNCell (tanh, relu or "
                        "sigmoid, with or without a read-out), nn.LSTMCell and nn.GRUCell. Train other models "
                        "with lucidnn.train.truncated_bptt")
    if isinstance(cell, RNNCell) and cell.nonlinearity not in ("tanh", "relu", "sigmoid"):
        raise ValueError(f"RTRL: RNNCell nonlinearity {cell.nonlinearity!r} is not supported "
                         "(tanh, relu, sigmoid)")
    return kernel(cell)


# --------------------------------------------------------------------------- the learner


class RTRL:
    r"""Real-time recurrent learning of a recurrent cell, one time step at a time (Williams & Zipser).

    Each :meth:`step` advances the state and the sensitivities :math:`P_t = \partial h_t / \partial\theta`,
    computes the step's gradient :math:`g_t = (\partial L_t / \partial h_t) P_t` (plus the read-out's own
    gradient, by autograd) and, with an optimizer, updates the weights at once (on-line learning;
    :math:`P` keeps the history of older weights, as in the original algorithm). Without an
    optimizer the gradients are only added to ``p.grad``: over a sequence they sum to BPTT's.

    Time per step :math:`O(N n^4)` and memory :math:`O(N n^3)` for n = H units (the sensitivity
    tensor is (N, H, n_params) with n_params ~ n^2 + n I), independent of the sequence length.

    Args:
        cell: ``nn.RNNCell`` (nonlinearity tanh, relu or sigmoid; with or without ``readout``),
            ``nn.LSTMCell`` or ``nn.GRUCell``.
        loss_fn: ``loss_fn(y_t, target_t) -> scalar Tensor``; ``y_t`` is the cell's output
            (``readout(h_t)`` or ``h_t``).
        optimizer: updated after every step (``zero_grad`` first); None (default): accumulate only.
        clip_norm, clip_value: clip each step's gradient (by value, then global L2 norm) before the
            update; need an optimizer.

    Shape:
        x_t (N, I); state h (N, H) (``(h, c)`` for LSTM); sensitivities (N, H, n_params) each.
    """

    def __init__(self, cell: Any, loss_fn: Any, optimizer: Any = None, *, clip_norm: float | None = None,
                 clip_value: float | None = None) -> None:
        self.kernel = _kernel_for(cell)
        check_clip(clip_norm, clip_value, optimizer, "RTRL")
        self.cell, self.loss_fn, self.optimizer = cell, loss_fn, optimizer
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.updates = 0
        self.steps = 0
        self.reset()

    def reset(self, state: Any = None) -> None:
        """Start a new sequence from ``state`` (None: zeros) with zero sensitivities (the state is a constant)."""
        arrays = None
        if state is not None:
            parts = state if isinstance(state, (tuple, list)) else (state,)
            if len(parts) != self.kernel.components or not all(isinstance(s, Tensor) for s in parts):
                what = "a pair (h, c) of (N, H) Tensors" if self.kernel.components == 2 else "an (N, H) Tensor"
                raise TypeError(f"RTRL: the state of a {type(self.cell).__name__} must be {what}, "
                                f"got {type(state).__name__}")
            arrays = tuple(s.data for s in parts)
            for s in arrays:
                if s.ndim != 2 or s.shape[1] != self.kernel.hidden_size:
                    raise ShapeError(f"RTRL: a state has shape {s.shape}, expected (N, H) with "
                                     f"H = {self.kernel.hidden_size}")
        self._state, self._sens = arrays, None

    @property
    def state(self) -> Any:
        """The current state, detached (None before the first step after :meth:`reset` without a state)."""
        if self._state is None:
            return None
        parts = tuple(Tensor(s) for s in self._state)
        return parts if self.kernel.components == 2 else parts[0]

    @property
    def sensitivities(self) -> Any:
        """The current :math:`\\partial\\,\\text{state}/\\partial\\theta` arrays, each (N, H, n_params), or None."""
        return self._sens

    def step(self, x_t: Any, target_t: Any) -> float:
        """One time step: forward, sensitivities, the step's gradient and (with an optimizer) the update.

        Returns the step's loss (measured before the update).
        """
        x = self._check_input(x_t)
        xp = backend.get_array_module(x)
        shape = (x.shape[0], self.kernel.hidden_size)
        if self._state is None:
            self._state = tuple(xp.zeros(shape, dtype=x.dtype) for _ in range(self.kernel.components))
        if self._state[0].shape[0] != x.shape[0]:
            raise ShapeError(f"RTRL: x_t has batch size {x.shape[0]} but the state has {self._state[0].shape[0]}; "
                             "call reset() to start sequences of another batch size")
        if self._sens is None:
            self._sens = tuple(xp.zeros((*shape, self.kernel.size), dtype=x.dtype)
                               for _ in range(self.kernel.components))
        state, sens = self.kernel.step(x, self._state, self._sens)
        self._state, self._sens = state, sens
        with enable_grad():
            h = Tensor(state[0], requires_grad=True)
            readout = getattr(self.cell, "readout", None)
            loss = self.loss_fn(h if readout is None else readout(h), target_t)
        value = float(loss.item())
        self.steps += 1
        if not finite_loss(value, "RTRL", f"step {self.steps}"):
            return value
        if self.optimizer is not None:
            self.optimizer.zero_grad()
        loss.backward()  # the read-out's gradient, and dL_t/dh_t
        gh = h.grad.data
        grad = gh.reshape(1, -1) @ sens[0].reshape(gh.size, self.kernel.size)  # (1, n_params)
        for name, p in self.kernel.params:
            start = self.kernel.offset[name]
            g = grad[0, start:start + p.data.size].reshape(p.shape)
            if p.grad is None:
                p.grad = Tensor(g.copy())
            else:
                p.grad.data += g
        if self.optimizer is not None and clipped_step(self.optimizer, self.clip_norm, self.clip_value, "RTRL",
                                                       f"step {self.steps}"):
            self.updates += 1
        return value

    def run(self, x: Any, y: Any, *, state: Any = None, reset: bool = True) -> RTRLResult:
        """Run :meth:`step` over a whole sequence x (T, N, I), targets y (T, ...).

        Args:
            state: the initial state when ``reset`` (None: zeros).
            reset: start afresh (default) or continue from the current state and sensitivities
                (a stream cut into pieces).
        """
        x = as_sequence(x, "RTRL")
        steps = check_pair(x, y, "RTRL")
        if reset:
            self.reset(state)
        elif state is not None:
            raise ValueError("RTRL.run: state= is used only with reset=True (continuing keeps the current state)")
        before = self.updates
        losses = _np.array([self.step(x[t], y[t]) for t in range(steps)])
        return RTRLResult(float(losses.mean()), losses, self.state, self.updates - before)

    def _check_input(self, x_t: Any) -> Any:
        x = x_t.data if isinstance(x_t, Tensor) else x_t
        if not backend.is_array(x):
            raise TypeError(f"RTRL: x_t must be a Tensor of shape (N, {self.kernel.input_size}), "
                            f"got {type(x_t).__name__}")
        if x.ndim != 2 or x.shape[1] != self.kernel.input_size:
            raise ShapeError(f"RTRL: x_t must have shape (N, I) = (N, {self.kernel.input_size}), got {x.shape}; "
                             "a sequence is (T, N, I) and goes to run()")
        dtype = self.cell.weight_ih.dtype
        if x.dtype != dtype:
            raise DTypeError(f"RTRL: x_t is {x.dtype} but the cell's parameters are {dtype}; convert the input "
                             f"with .astype({dtype})")
        return x


def rtrl(cell: Any, x: Any, y: Any, loss_fn: Any, optimizer: Any = None, *, state: Any = None,
         clip_norm: float | None = None, clip_value: float | None = None) -> RTRLResult:
    r"""Real-time recurrent learning over one sequence: ``RTRL(cell, loss_fn, optimizer, ...).run(x, y)``.

    With an optimizer the weights change after every step (on-line); with ``optimizer=None`` the
    per-step gradients are added to ``p.grad`` and their sum equals BPTT's gradient of
    :math:`\sum_t L_t` on the same sequence.

    Args:
        cell: ``nn.RNNCell``, ``nn.LSTMCell`` or ``nn.GRUCell``.
        x: inputs (T, N, I), of the cell's dtype.
        y: targets indexable by time (T, ...).
        loss_fn: ``loss_fn(y_t, target_t) -> scalar Tensor``.
        optimizer: stepped at every time step; None: accumulate the gradient only.
        state: the initial state (None: zeros).
        clip_norm, clip_value: per-step gradient clipping (with an optimizer).

    Returns:
        :class:`RTRLResult`.
    """
    return RTRL(cell, loss_fn, optimizer, clip_norm=clip_norm, clip_value=clip_value).run(x, y, state=state)


__all__ = ["RTRL", "RTRLResult", "rtrl"]
