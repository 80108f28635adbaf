r"""Backpropagation through time: full BPTT, truncated BPTT(k2; k1), and a vanishing-gradient diagnostic.

A recurrent model is unrolled over a sequence and the per-step losses are added up, as the notes
write the episode loss :math:`L = \sum_t L(y_t)`; the gradient of every weight collects the local
gradients :math:`\delta_t = \partial L / \partial v_t` of all steps, which flow backwards by

.. math:: \delta_t = \frac{\partial L(y_t)}{\partial v_t} + \frac{\partial v_{t+1}}{\partial v_t}\, \delta_{t+1}.

*Full BPTT* (the notes' 分回合训练, one update per sequence) backpropagates once through all T
steps. *Truncated BPTT* (Williams & Peng's BPTT(k2; k1); the notes' truncation depth h is k2) runs
the sequence forward, and every k1 new steps makes one update whose gradient is that of the losses
of those k1 steps, flowing back at most k2 steps; the state is carried between windows and cut
from the graph automatically.

**The model.** Every function here takes ``model(x_window, state) -> (y_window, state)``, TIME-MAJOR:
``x_window`` is (W, N, ...) and ``y_window`` (W, N, ...) for a window of W steps, ``state=None`` the
first time (the model's zero state), afterwards whatever the model returned, a Tensor or a (nested)
tuple of Tensors (LSTM's ``(h, c)``). ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (``batch_first=False``) and
``nn.Recurrent`` already have this form, with the hidden states as outputs; wrap them in
:class:`RecurrentReadout` to add a read-out layer.

**The loss.** ``loss_fn(y_t, target_t)`` is called on every step t (``y_t = y_window[t']``,
``target_t = y[t]``) and returns a scalar; an update's loss is the sum of its steps' losses
(``reduction='sum'``, the notes' :math:`L`) or their mean (``'mean'``: divided by the number of
steps of the update, k1, or T for full BPTT).

Reference: course notes, "RNN 分回合训练", "截断深度为 h 的学习"; Williams and Peng, "An efficient
gradient-based algorithm for on-line training of recurrent network trajectories", 1990; Werbos,
"Backpropagation through time: what it does and how to do it", 1990.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from lucidnn import backend
from lucidnn.autograd.grad_mode import enable_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.nn.module import Module
from lucidnn.train._sequence import (
    as_sequence,
    check_clip,
    check_pair,
    check_reduction,
    clipped_step,
    detach_state,
    finite_loss,
    state_leaf,
    state_tensors,
    window_sizes,
)

_np = backend.numpy


class BPTTResult(NamedTuple):
    """What a BPTT run returns.

    Attributes:
        loss: mean over the T steps of the per-step losses ``loss_fn(y_t, target_t)`` (a float,
            whatever the reduction).
        step_losses: the T per-step losses, a NumPy array (T,).
        state: the state after the last step, detached: pass it as ``state=`` to continue a stream.
        updates: the number of updates made (optimizer steps, or gradient accumulations).
    """

    loss: float
    step_losses: Any
    state: Any
    updates: int


class RecurrentReadout(Module):
    r"""A recurrent sequence model followed by a read-out layer applied at every step.

    ``forward(x, state=None)`` returns ``(readout(output), new_state)`` where ``output, new_state =
    recurrent(x, state)``: the form the BPTT functions expect, for ``nn.RNN``/``nn.GRU``/``nn.LSTM``
    (``(output, h_n)``, ``(output, (h_n, c_n))``) or ``nn.Recurrent``.

    Args:
        recurrent: the sequence module, time-major (``batch_first=False``).
        readout: a module applied to the (T, N, H) outputs, e.g. ``nn.Linear(H, O)`` (which acts on
            the last axis).

    Shape:
        x (T, N, I); returns y (T, N, O) and the state as ``recurrent`` returns it.
    """

    def __init__(self, recurrent: Module, readout: Module) -> None:
        super().__init__()
        if getattr(recurrent, "batch_first", False):
            raise ValueError("RecurrentReadout: the recurrent module has batch_first=True, but the BPTT functions "
                             "pass time-major windows (T, N, ...); build it with batch_first=False")
        self.recurrent = recurrent
        self.readout = readout

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        output, state = self.recurrent(x, state)
        return self.readout(output), state


@dataclass
class _Chunk:
    """Steps [start, end) run in one model call: the state they started from, their outputs and final state."""

    start: int
    end: int
    state_in: Any
    own_leaf: bool  # state_in is a leaf made here (its .grad may be reset and read)
    out: Tensor
    state_out: Any
    losses: Tensor | None = None  # the scaled sum of this chunk's step losses in the current update


def bptt(model: Any, x: Any, y: Any, loss_fn: Any, optimizer: Any = None, *, state: Any = None,
         clip_norm: float | None = None, clip_value: float | None = None, reduction: str = "sum") -> BPTTResult:
    r"""Full backpropagation through time: one forward over the whole sequence, one backward, one update.

    .. math:: L = \sum_{t=0}^{T-1} L_t(y_t) \ (\text{or } \tfrac1T \sum_t L_t), \qquad
              \theta \leftarrow \theta - \eta\, \mathrm{clip}(\nabla_\theta L)

    Args:
        model: ``model(x_window, state) -> (y_window, state)``, time-major (see the module docstring).
        x: the inputs, a Tensor or array (T, N, ...).
        y: the targets, indexable by time: ``y[t]`` is passed to ``loss_fn`` with the output of step t.
        loss_fn: ``loss_fn(y_t, target_t) -> scalar Tensor`` (a loss module such as ``nn.MSELoss()``).
        optimizer: steps once after the backward pass (``zero_grad`` first). None: only accumulate
            the gradient into ``p.grad`` (nothing is zeroed), as ``loss.backward()`` would.
        state: the initial state (None: the model's zero state). A state that requires grad (a
            learned initial state) receives its gradient.
        clip_norm: clip the gradient to this global L2 norm before the step (None: no clipping).
        clip_value: clamp every gradient element into [-clip_value, clip_value] before the step
            (applied before ``clip_norm`` when both are given).
        reduction: ``'sum'`` (default) or ``'mean'`` of the per-step losses over time.

    Returns:
        :class:`BPTTResult` (mean step loss, per-step losses, final state detached, updates = 1).
    """
    x = as_sequence(x, "bptt")
    steps = check_pair(x, y, "bptt")
    check_clip(clip_norm, clip_value, optimizer, "bptt")
    return _unroll(model, x, y, loss_fn, optimizer, steps, steps, state, clip_norm, clip_value,
                   check_reduction(reduction, "bptt"), "bptt")


def truncated_bptt(model: Any, x: Any, y: Any, loss_fn: Any, optimizer: Any = None, *, k1: int,
                   k2: int | None = None, state: Any = None, clip_norm: float | None = None,
                   clip_value: float | None = None, reduction: str = "sum") -> BPTTResult:
    r"""Truncated backpropagation through time, BPTT(k2; k1) (Williams & Peng): an update every k1 steps.

    At every time :math:`u = k_1, 2k_1, \dots` (and at T, for a last, shorter window) the update's
    gradient is

    .. math:: g_u = \nabla_\theta \sum_{t=u-k_1}^{u-1} L_t \Big|_{h_{u-k_2} \text{ held constant}}

    i.e. the losses of the k1 steps since the previous update, backpropagated at most k2 steps
    back (the notes' truncation depth h = k2). The last update, over the T mod k1 remaining steps
    when k1 does not divide T, is cut like the others, k2 - k1 steps before its first step. With
    k1 = k2 the sequence is cut into independent windows of k1 steps (the common "detach every k
    steps"); with k1 = k2 = T this is full BPTT.
    The state is carried from window to window and detached automatically.

    The model is called once per stretch of steps between consecutive update and truncation
    points (windows of k1 steps when k2 is a multiple of k1), and the graph of the last k2 steps
    is kept; each update backpropagates through it stretch by stretch, passing the gradient of the
    state across. When k2 > k1 and an optimizer steps, the steps computed before the previous
    update keep the activations of that time (Williams & Peng's on-line approximation); in
    accumulation mode (``optimizer=None``) every update's gradient is exact, and with k2 >= T
    their sum equals full BPTT's gradient.

    Args:
        model, x, y, loss_fn, optimizer, state, clip_norm, clip_value: as in :func:`bptt`; the
            optimizer steps (and the clipping acts) once per update.
        k1: new steps between two updates, >= 1.
        k2: how many steps back the gradient flows, >= k1 (default: k1). May exceed T.
        reduction: ``'sum'`` (default) or ``'mean'`` of each update's step losses (the mean
            divides by the update's number of steps, k1 or fewer for the last one).

    Returns:
        :class:`BPTTResult`; ``updates`` is ceil(T / k1).

    Shape:
        x (T, N, ...), y (T, ...); the model sees windows (W, N, ...) with W <= k1.
    """
    k1, k2 = window_sizes(k1, k2, "truncated_bptt")
    x = as_sequence(x, "truncated_bptt")
    check_pair(x, y, "truncated_bptt")
    check_clip(clip_norm, clip_value, optimizer, "truncated_bptt")
    return _unroll(model, x, y, loss_fn, optimizer, k1, k2, state, clip_norm, clip_value,
                   check_reduction(reduction, "truncated_bptt"), "truncated_bptt")


def _unroll(model: Any, x: Tensor, y: Any, loss_fn: Any, optimizer: Any, k1: int, k2: int, state: Any,
            clip_norm: float | None, clip_value: float | None, reduction: str, where: str) -> BPTTResult:
    steps = x.shape[0]
    updates = [*range(k1, steps, k1), steps]
    # an update's gradient reaches k2 - k1 steps before its first step: u - k2 for a full window,
    # and the last, shorter window is cut the same way (with k1 = k2 the windows stay independent)
    firsts = [0, *updates[:-1]]
    cuts = [max(0, first - (k2 - k1)) for first in firsts]
    bounds = sorted(set(updates) | set(cuts) - {0})
    chained = k2 > k1  # some update's gradient crosses from one model call into an earlier one
    step_losses = _np.zeros(steps)
    history: list[_Chunk] = []
    start, done = 0, 0
    with enable_grad():
        for end in bounds:
            own_leaf = start > 0 and chained
            state_in = state if start == 0 else state_leaf(state) if chained else detach_state(state)
            out, state = _call(model, x[start:end], state_in, end - start, where)
            history.append(_Chunk(start, end, state_in, own_leaf, out, state))
            start = end
            if end != updates[done]:
                continue
            next_cut = cuts[done + 1] if done + 1 < len(updates) else end
            _update(history, firsts[done], end, cuts[done], next_cut, y, loss_fn, optimizer, reduction,
                    step_losses, clip_norm, clip_value, x.requires_grad, where, done + 1)
            history = [c for c in history if c.end > next_cut]
            done += 1
    return BPTTResult(float(step_losses.mean()), step_losses, detach_state(state), len(updates))


def _call(model: Any, x: Tensor, state: Any, steps: int, where: str) -> tuple[Tensor, Any]:
    result = model(x, state)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"{where}: the model must return (y_window, state), got {type(result).__name__}; wrap a "
                        "module that returns only outputs, or use nn.Recurrent / RecurrentReadout")
    out, new_state = result
    if not isinstance(out, Tensor) or out.ndim < 1 or out.shape[0] != steps:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ShapeError(f"{where}: for a window of {steps} steps the model returned outputs of shape {shape}; "
                         "they must be time-major (W, N, ...) with W = the window's steps (is the model "
                         "batch_first?)")
    return out, new_state


def _update(history: list[_Chunk], first: int, end: int, cut: int, next_cut: int, y: Any, loss_fn: Any,
            optimizer: Any, reduction: str, step_losses: Any, clip_norm: float | None, clip_value: float | None,
            keep_x_graph: bool, where: str, update: int) -> None:
    """One update: the losses of steps [first, end), backpropagated through the chunks after ``cut``."""
    scale = 1.0 / (end - first) if reduction == "mean" else None
    values = []
    for chunk in history:
        chunk.losses = None
        for t in range(max(chunk.start, first), chunk.end):
            loss = loss_fn(chunk.out[t - chunk.start], y[t])
            values.append(loss.data.reshape(()))
            loss = loss if scale is None else loss * scale
            chunk.losses = loss if chunk.losses is None else chunk.losses + loss
    # one device-to-host copy per update rather than one per step
    step_losses[first:end] = backend.to_numpy(backend.get_array_module(values[0]).stack(values))
    if not finite_loss(float(step_losses[first:end].sum()), where, f"update {update}"):
        return
    if optimizer is not None:
        optimizer.zero_grad()
    grad_state = None  # dL/d(state at the end of the chunk being processed)
    for chunk in reversed(history):
        if chunk.end <= cut:
            break
        total = chunk.losses
        if grad_state is not None:
            term = _state_dot(chunk.state_out, grad_state)
            if term is not None:
                total = term if total is None else total + term
        if total is None or not total.requires_grad:
            break
        leaves = list(state_tensors(chunk.state_in)) if chunk.own_leaf else []
        for leaf in leaves:
            leaf.grad = None
        # a chunk stays needed while a later update's window reaches it; x's own graph (an
        # embedding computed once for the sequence) is shared by every chunk
        total.backward(retain_graph=keep_x_graph or chunk.start >= next_cut)
        if chunk.start <= cut or not leaves:
            break
        grad_state = [None if leaf.grad is None else leaf.grad.data for leaf in leaves]
        if all(g is None for g in grad_state):
            break
    for chunk in history:
        chunk.losses = None
    if optimizer is not None:
        clipped_step(optimizer, clip_norm, clip_value, where, f"update {update}")


def _state_dot(state: Any, grads: list) -> Tensor | None:
    """sum_i <state_i, grads_i>, whose backward sends grads_i into state_i; None if nothing connects."""
    total = None
    for s, g in zip(state_tensors(state), grads):
        if g is None or not s.requires_grad:
            continue
        term = (s * Tensor(g)).sum()
        total = term if total is None else total + term
    return total


class BPTTTrainer:
    """Trains a recurrent model on sequences with full BPTT (``k1=None``) or truncated BPTT(k2; k1).

    Args:
        model: ``model(x_window, state) -> (y_window, state)``, time-major (see the module docstring).
        optimizer: a ``lucidnn.optim`` optimizer over the model's parameters.
        loss_fn: ``loss_fn(y_t, target_t) -> scalar Tensor``, called per step.
        k1: steps between updates; None (default) for full BPTT, one update per sequence.
        k2: truncation depth, >= k1 (default: k1).
        clip_norm: clip each update's gradient to this global L2 norm (None: off).
        clip_value: clamp each gradient element into [-clip_value, clip_value] (None: off).
        reduction: ``'sum'`` (default) or ``'mean'`` of the per-step losses of an update.
        stateful: carry each sequence's final state into the next one (a long stream cut into
            consecutive batches of the same N); False (default) starts every sequence from zeros.

    Attributes:
        state: the carried state (stateful mode), or None.
        history: the mean step loss of every epoch run by :meth:`fit`.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any, *, k1: int | None = None, k2: int | None = None,
                 clip_norm: float | None = None, clip_value: float | None = None, reduction: str = "sum",
                 stateful: bool = False) -> None:
        if optimizer is None:
            raise ValueError("BPTTTrainer: an optimizer is required (use bptt/truncated_bptt with optimizer=None "
                             "to only accumulate gradients)")
        if k1 is None and k2 is not None:
            raise ValueError("BPTTTrainer: k2 was given without k1; pass k1 for truncated BPTT")
        self.k1, self.k2 = (None, None) if k1 is None else window_sizes(k1, k2, "BPTTTrainer")
        check_clip(clip_norm, clip_value, optimizer, "BPTTTrainer")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.reduction = check_reduction(reduction, "BPTTTrainer")
        self.stateful = bool(stateful)
        self.state: Any = None
        self.history: list[float] = []

    def train_sequence(self, x: Any, y: Any, state: Any = None) -> BPTTResult:
        """Train on one batch of sequences x (T, N, ...) with targets y (T, ...); returns its :class:`BPTTResult`."""
        if state is None and self.stateful:
            state = self.state
        options = {"state": state, "clip_norm": self.clip_norm, "clip_value": self.clip_value,
                   "reduction": self.reduction}
        if self.k1 is None:
            result = bptt(self.model, x, y, self.loss_fn, self.optimizer, **options)
        else:
            result = truncated_bptt(self.model, x, y, self.loss_fn, self.optimizer, k1=self.k1, k2=self.k2,
                                    **options)
        if self.stateful:
            self.state = result.state
        return result

    def fit(self, sequences: Iterable, epochs: int = 1) -> list[float]:
        """Train on every ``(x, y)`` pair of ``sequences`` (a list or a re-iterable loader) ``epochs`` times.

        Returns the history: the mean step loss of each epoch (weighted by sequence length).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"BPTTTrainer.fit: epochs must be a non-negative integer, got {epochs!r}")
        for _ in range(epochs):
            if hasattr(self.model, "train"):
                self.model.train()
            total, count = 0.0, 0
            for pair in sequences:
                x, y = pair
                result = self.train_sequence(x, y)
                total += float(result.step_losses.sum())
                count += len(result.step_losses)
            if count == 0:
                raise ValueError("BPTTTrainer.fit: sequences yielded no (x, y) pair")
            self.history.append(total / count)
        return self.history


def hidden_gradient_norms(cell: Any, x: Any, y: Any, loss_fn: Any, state: Any = None, *,
                          loss_steps: str = "all") -> Any:
    r"""The norm of the gradient reaching each hidden state, :math:`\lVert \partial L / \partial h_t \rVert`.

    Runs ``cell`` over the sequence step by step (``y_t, state = cell(x_t, state)``; :math:`h_t` is the
    state, or its first Tensor for LSTM's ``(h, c)``), keeps the gradient of every :math:`h_t` and
    backpropagates

    .. math:: L = \sum_t L_t \ (\text{loss\_steps='all'}) \quad\text{or}\quad L = L_{T-1}
              \ (\text{'last'}), \qquad
              \frac{\partial L}{\partial h_t} = \frac{\partial L_t}{\partial h_t}
              + \Big(\frac{\partial h_{t+1}}{\partial h_t}\Big)^{\!\top} \frac{\partial L}{\partial h_{t+1}}.

    With ``loss_steps='last'`` the curve shows how the error signal of the last step fades (vanishing
    gradients: for a contracting RNN it decays geometrically with T-1-t) or grows (exploding).
    The parameters' ``.grad`` are left as they were.

    Args:
        cell: a recurrent cell, ``cell(x_t, state) -> (y_t, state)`` (``nn.RNNCell``, ``nn.LSTMCell``, ...).
        x: inputs (T, N, I).
        y: targets indexable by time (T, ...).
        loss_fn: ``loss_fn(y_t, target_t) -> scalar Tensor``.
        state: the initial state (None: zeros).
        loss_steps: ``'all'`` (default) sums the losses of every step; ``'last'`` uses only the
            last step's loss (``y[:-1]`` is then ignored).

    Returns:
        A NumPy float64 array (T,): the Frobenius norm over the batch and the units of
        :math:`\partial L / \partial h_t` (0 where no gradient reaches :math:`h_t`).
    """
    if loss_steps not in ("all", "last"):
        raise ValueError(f"hidden_gradient_norms: loss_steps must be 'all' or 'last', got {loss_steps!r}")
    x = as_sequence(x, "hidden_gradient_norms")
    steps = check_pair(x, y, "hidden_gradient_norms")
    params = list(cell.parameters()) if hasattr(cell, "parameters") else []
    saved = [p.grad for p in params]
    hidden = []
    total = None
    try:
        with enable_grad():
            for t in range(steps):
                out, state = cell(x[t], state)
                h = next(state_tensors(state), None)
                if h is None or not h.requires_grad:
                    raise TypeError("hidden_gradient_norms: the cell's state must be a Tensor (or a tuple whose "
                                    "first element is the hidden state h_t) that depends on the parameters")
                h.retain_grad()
                hidden.append(h)
                if loss_steps == "all" or t == steps - 1:
                    loss = loss_fn(out, y[t])
                    total = loss if total is None else total + loss
            total.backward()
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    norms = _np.zeros(steps)
    for t, h in enumerate(hidden):
        if h.grad is not None:
            g = backend.to_numpy(h.grad.data).astype(_np.float64)
            norms[t] = float(_np.sqrt((g * g).sum()))
    return norms


__all__ = ["BPTTResult", "BPTTTrainer", "RecurrentReadout", "bptt", "hidden_gradient_norms", "truncated_bptt"]
