r"""Whole-sequence recurrent layers: ``rnn_sequence``, ``lstm_sequence``, ``gru_sequence``.

Each runs one direction of one layer over a time-major sequence as ONE fused Function with a
hand-written backpropagation-through-time backward (the Functions live in
``_recurrent_kernels.py``; docs/rnn_bptt.md derives the equations). Parameters use PyTorch's
names, shapes and gate orders, so a state_dict moves between the two libraries by name:

========  ===  ==========================  ===================
layer      G   weight_ih / weight_hh        gate order
========  ===  ==========================  ===================
RNN        1   (H, I) / (H, H)              --
LSTM       4   (4H, I) / (4H, H)            i, f, g, o
GRU        3   (3H, I) / (3H, H)            r, z, n
========  ===  ==========================  ===================

Variable-length batches use ``mask`` (T, N): on a step where ``mask[t, n]`` is False the state of
sequence n is carried unchanged and its output row is zero. With ``reverse=True`` the steps run
from T-1 down to 0 and the outputs stay at their own time index, so a mask built from lengths
makes each sequence start at its own last valid element: the reverse half of PyTorch's packed
bidirectional layers.

Reference: the course notes on recurrent networks (BPTT); Hochreiter and Schmidhuber, "Long
Short-Term Memory", 1997; Cho et al., "Learning Phrase Representations using RNN
Encoder-Decoder", 2014; PyTorch's ``torch.nn.RNN``/``LSTM``/``GRU`` for the exact formulas.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd import grad_mode
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.functional._recurrent_kernels import GRUSequenceFn, LSTMSequenceFn, RNNSequenceFn

_NONLINEARITIES = ("tanh", "relu")


# --------------------------------------------------------------------------- argument checks


def _check_tensor(op: str, name: str, t: Any, x: Tensor, shape: tuple, fix: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if t.shape != shape:
        raise ShapeError(f"{op}: {name} has shape {t.shape} but expected {shape}; {fix}")
    if t.dtype != x.dtype:
        raise DTypeError(f"{op}: {name} is {t.dtype} but the input x is {x.dtype}; convert one of them with "
                         ".astype() so that no silent up/down-cast happens")


def _check_mask(op: str, mask: Any, x: Tensor) -> Any:
    """The mask as a boolean xp array on x's device, or None."""
    if mask is None:
        return None
    data = mask.data if isinstance(mask, Tensor) else mask
    if not backend.is_array(data):
        data = backend.numpy.asarray(data)
    if data.dtype != bool:
        raise DTypeError(f"{op}: mask must be boolean (True where step t of sequence n is valid), got "
                         f"{data.dtype}; build it with a comparison, e.g. arange(T)[:, None] < lengths[None, :]")
    T, N = x.shape[:2]
    if data.shape != (T, N):
        raise ShapeError(f"{op}: mask has shape {data.shape} but the input x of shape {x.shape} (T, N, I) "
                         f"needs ({T}, {N}): one entry per time step and sequence")
    return backend.to_device(data, x.device)


def _check_arguments(op: str, gates: int, x: Any, states: tuple, weight_ih: Any, weight_hh: Any,
                     bias_ih: Any, bias_hh: Any) -> int:
    """Validate shapes and dtypes of everything but the mask; returns the hidden size H.

    ``states`` holds (name, Tensor) pairs, each of which must be (N, H).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: x must be a Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ShapeError(f"{op}: x has shape {x.shape} but must be 3-D (T, N, I), time-major; "
                         "for batch-first data pass x.transpose(1, 0, 2), for one sequence add a batch axis")
    T, N, n_in = x.shape
    if T == 0:
        raise ShapeError(f"{op}: x of shape {x.shape} is a zero-length sequence (T = 0); there is no step "
                         "to run and no last state to return, so pass at least one time step")
    if not backend.is_floating(x.dtype):
        raise DTypeError(f"{op}: x must be floating point, got {x.dtype}; convert it with .astype('float32')")
    for name, w in (("weight_ih", weight_ih), ("weight_hh", weight_hh)):
        if not isinstance(w, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(w).__name__}")
        if w.ndim != 2:
            raise ShapeError(f"{op}: {name} has shape {w.shape} but must be 2-D ({gates}*hidden_size, ...)")
    H = weight_hh.shape[1]
    layout = "" if gates == 1 else f"{gates}*"
    _check_tensor(op, "weight_hh", weight_hh, x, (gates * H, H),
                  f"weight_hh must be ({layout}hidden_size, hidden_size) and its {H} columns give hidden_size = {H}")
    _check_tensor(op, "weight_ih", weight_ih, x, (gates * H, n_in),
                  f"weight_ih must be ({layout}hidden_size, input_size) with hidden_size = {H} (from weight_hh) "
                  f"and input_size = {n_in} (the last axis of x of shape {x.shape})")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            _check_tensor(op, name, b, x, (gates * H,), f"biases are ({layout}hidden_size,) with hidden_size = {H}")
    for name, s in states:
        _check_tensor(op, name, s, x, (N, H), f"the initial state is (N, H) = (batch of x, hidden_size); pass "
                      f"zeros of shape ({N}, {H}) for a fresh start")
    tensors = [x, weight_ih, weight_hh] + [s for _, s in states] + [b for b in (bias_ih, bias_hh) if b is not None]
    backend.check_same_device([t.data for t in tensors], op)
    return H


def _call(fn: Any, tensors: list, bias_ih: Any, bias_hh: Any, reverse: Any, mask: Any, **params: Any) -> tuple:
    tensors += [b for b in (bias_ih, bias_hh) if b is not None]
    # the forward stores the backward's factors only when a backward can happen
    keep = grad_mode.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return fn.apply(*tensors, has_bias_ih=bias_ih is not None, has_bias_hh=bias_hh is not None,
                    mask=mask, reverse=bool(reverse), keep=keep, **params)


# --------------------------------------------------------------------------- wrappers


def rnn_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
                 bias_hh: Tensor | None = None, *, nonlinearity: str = "tanh", mask: Any = None,
                 reverse: bool = False) -> tuple[Tensor, Tensor]:
    r"""Elman RNN over a whole sequence, one fused Function.

    .. math:: h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad y_t = h_t

    with :math:`\phi` = tanh or ReLU. Gradient (BPTT): with :math:`\delta_t = (g_{y_t} +
    g_{h_t}) \odot \phi'(a_t)` from t = T-1 down to 0, :math:`g_{h_{t-1}} = \delta_t W_{hh}`,
    :math:`g_{W_{hh}} = \sum_t \delta_t^\top h_{t-1}`, :math:`g_{W_{ih}} = \sum_t \delta_t^\top x_t`,
    :math:`g_{x_t} = \delta_t W_{ih}`, :math:`g_b = \sum_t \delta_t` (docs/rnn_bptt.md).

    Args:
        x: input sequence, time-major.
        h0: initial hidden state (required; zeros for a fresh start).
        weight_ih, weight_hh: PyTorch's ``weight_ih_l0`` (H, I) and ``weight_hh_l0`` (H, H).
        bias_ih, bias_hh: optional (H,) biases (default None: no bias).
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        mask: optional boolean (T, N) array or Tensor: False marks padding, where the state is
            carried unchanged and the output is zero (default None: every step valid).
        reverse: process t = T-1 down to 0 (default False); outputs keep their time index.

    Returns:
        (output, h_n): every step's hidden state (zero where masked) and the state after the
        last step processed.

    Shape:
        x (T, N, I); h0 (N, H); output (T, N, H); h_n (N, H); mask (T, N).

    Reference: Elman, "Finding Structure in Time", 1990; ``torch.nn.RNN`` (one layer).
    """
    op = "rnn_sequence"
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"{op}: nonlinearity must be one of {_NONLINEARITIES}, got {nonlinearity!r}")
    _check_arguments(op, 1, x, (("h0", h0),), weight_ih, weight_hh, bias_ih, bias_hh)
    mask = _check_mask(op, mask, x)
    return _call(RNNSequenceFn, [x, h0, weight_ih, weight_hh], bias_ih, bias_hh, reverse, mask,
                 nonlinearity=nonlinearity)


def lstm_sequence(x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                  bias_ih: Tensor | None = None, bias_hh: Tensor | None = None, *, mask: Any = None,
                  reverse: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    r"""LSTM over a whole sequence, one fused Function (PyTorch's equations and gate order).

    .. math::
        [i, f, g, o] = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \text{ (pre-activations)}, \\
        i, f, o \leftarrow \sigma(\cdot), \quad g \leftarrow \tanh(\cdot), \quad
        c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh c_t.

    Gradient (BPTT, t from T-1 down to 0): with :math:`\bar h = g_{y_t} + g_{h_t}`,
    :math:`\bar c = g_{c_t} + \bar h\, o (1 - \tanh^2 c_t)`; the pre-activation gradients are
    :math:`\delta_i = \bar c\, g\, i(1-i)`, :math:`\delta_f = \bar c\, c_{t-1} f(1-f)`,
    :math:`\delta_g = \bar c\, i (1 - g^2)`, :math:`\delta_o = \bar h \tanh c_t\, o(1-o)`; then
    :math:`g_{c_{t-1}} = \bar c f`, :math:`g_{h_{t-1}} = \delta_t W_{hh}`, and the weight, input and
    bias gradients as for :func:`rnn_sequence` (docs/rnn_bptt.md).

    Args:
        x: input sequence, time-major.
        h0, c0: initial hidden and cell states (required; zeros for a fresh start).
        weight_ih, weight_hh: (4H, I) and (4H, H), gate blocks in the order i, f, g, o.
        bias_ih, bias_hh: optional (4H,) biases (default None).
        mask: optional boolean (T, N): False marks padding (states carried, output zero).
        reverse: process t = T-1 down to 0 (default False); outputs keep their time index.

    Returns:
        (output, h_n, c_n).

    Shape:
        x (T, N, I); h0, c0 (N, H); output (T, N, H); h_n, c_n (N, H); mask (T, N).

    Reference: Hochreiter and Schmidhuber, "Long Short-Term Memory", 1997 (with the forget gate
    of Gers et al., 2000); ``torch.nn.LSTM`` (one layer).
    """
    op = "lstm_sequence"
    _check_arguments(op, 4, x, (("h0", h0), ("c0", c0)), weight_ih, weight_hh, bias_ih, bias_hh)
    mask = _check_mask(op, mask, x)
    return _call(LSTMSequenceFn, [x, h0, c0, weight_ih, weight_hh], bias_ih, bias_hh, reverse, mask)


def gru_sequence(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None = None,
                 bias_hh: Tensor | None = None, *, mask: Any = None, reverse: bool = False) -> tuple[Tensor, Tensor]:
    r"""GRU over a whole sequence, one fused Function (PyTorch's equations and gate order).

    .. math::
        r = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}), \quad
        z = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}), \\
        n = \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})), \quad
        h_t = (1 - z) \odot n + z \odot h_{t-1}.

    Gradient (BPTT): with :math:`\bar h = g_{y_t} + g_{h_t}`, :math:`\delta_n = \bar h (1-z)(1-n^2)`,
    :math:`\delta_z = \bar h (h_{t-1} - n) z(1-z)`, :math:`\delta_{hn} = \delta_n r`,
    :math:`\delta_r = \delta_n (W_{hn} h_{t-1} + b_{hn}) r(1-r)`;
    :math:`g_{h_{t-1}} = \bar h z + [\delta_r, \delta_z, \delta_{hn}] W_{hh}`; ``weight_ih`` and
    ``bias_ih`` see :math:`[\delta_r, \delta_z, \delta_n]`, ``weight_hh`` and ``bias_hh`` see
    :math:`[\delta_r, \delta_z, \delta_{hn}]` (docs/rnn_bptt.md).

    Args:
        x: input sequence, time-major.
        h0: initial hidden state (required; zeros for a fresh start).
        weight_ih, weight_hh: (3H, I) and (3H, H), gate blocks in the order r, z, n.
        bias_ih, bias_hh: optional (3H,) biases (default None).
        mask: optional boolean (T, N): False marks padding (state carried, output zero).
        reverse: process t = T-1 down to 0 (default False); outputs keep their time index.

    Returns:
        (output, h_n).

    Shape:
        x (T, N, I); h0 (N, H); output (T, N, H); h_n (N, H); mask (T, N).

    Reference: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
    Statistical Machine Translation", 2014; ``torch.nn.GRU`` (one layer).
    """
    op = "gru_sequence"
    _check_arguments(op, 3, x, (("h0", h0),), weight_ih, weight_hh, bias_ih, bias_hh)
    mask = _check_mask(op, mask, x)
    return _call(GRUSequenceFn, [x, h0, weight_ih, weight_hh], bias_ih, bias_hh, reverse, mask)
