r"""Multi-layer recurrent layers ``RNN``, ``LSTM`` and ``GRU``: the fused fast path over whole sequences.

Each layer and direction is ONE call of :func:`~lucidnn.functional.rnn_sequence` /
:func:`~lucidnn.functional.lstm_sequence` / :func:`~lucidnn.functional.gru_sequence` (a fused Function
with a hand-written BPTT backward). The numbers equal running :class:`~lucidnn.nn.RNNCell` /
:class:`~lucidnn.nn.LSTMCell` / :class:`~lucidnn.nn.GRUCell` through :class:`~lucidnn.nn.Recurrent`
with the same weights, which the tests check.

Parameters are named, shaped and initialized as PyTorch's (``weight_ih_l0``, ``weight_hh_l1_reverse``,
``bias_ih_l0``, ...; gate blocks i, f, g, o for the LSTM and r, z, n for the GRU; all drawn from
:math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`), so a state dict moves between ``torch.nn.LSTM`` and
``nn.LSTM`` by name. ``lengths`` reproduces ``pack_padded_sequence(..., enforce_sorted=False)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.nn import init
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter
from lucidnn.nn.recurrent import check_sequence, sequence_mask


class _RNNBase(Module):
    """Shared constructor, parameters, state checks and the layer/direction loop of RNN, LSTM and GRU."""

    gates = 1
    #: number of state tensors: 1 (h) or 2 (h, c)
    n_states = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        layer = type(self).__name__
        self.input_size = positive_int(input_size, "input_size", layer)
        self.hidden_size = positive_int(hidden_size, "hidden_size", layer)
        self.num_layers = positive_int(num_layers, "num_layers", layer)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{layer}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.rng = rng
        rows, directions = self.gates * self.hidden_size, self.num_directions
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else self.hidden_size * directions
            for d in range(directions):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + suffix, Parameter(zeros(rows, width, dtype=dtype, device=device)))
                setattr(self, "weight_hh" + suffix, Parameter(zeros(rows, self.hidden_size, dtype=dtype,
                                                                    device=device)))
                if self.bias:
                    setattr(self, "bias_ih" + suffix, Parameter(zeros(rows, dtype=dtype, device=device)))
                    setattr(self, "bias_hh" + suffix, Parameter(zeros(rows, dtype=dtype, device=device)))
        self.reset_parameters(rng)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def weights(self, layer: int, direction: int = 0) -> tuple:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction (biases None without bias)."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(getattr(self, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _initial_states(self, hx: Any, x: Tensor) -> list[Tensor]:
        """The initial states as n_states tensors of shape (L*D, N, H); zeros for None."""
        layer = type(self).__name__
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        names = ("h0", "c0")[:self.n_states]
        if hx is None:
            return [zeros(*shape, dtype=x.dtype, device=x.device) for _ in names]
        parts = [hx] if self.n_states == 1 else hx
        if self.n_states == 2 and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{layer}: hx must be None or a pair (h0, c0) of Tensors of shape {shape}, "
                            f"got {type(hx).__name__}")
        for name, s in zip(names, parts):
            if not isinstance(s, Tensor):
                raise TypeError(f"{layer}: {name} must be a Tensor of shape {shape}, got {type(s).__name__}")
            if s.shape != shape:
                raise ShapeError(f"{layer}: {name} must have shape (num_layers * num_directions, N, H) = {shape}, "
                                 f"got {s.shape}")
            if s.dtype != x.dtype:
                raise DTypeError(f"{layer}: {name} is {s.dtype} but the input is {x.dtype}; convert one of them")
        return list(parts)

    def _direction(self, x: Tensor, states: list[Tensor], weights: tuple, mask: Any, reverse: bool) -> tuple:
        raise NotImplementedError  # abstract: (output, *final_states)

    def forward(self, x: Tensor, hx: Any = None, *, lengths: Any = None, mask: Any = None) -> tuple:
        layer = type(self).__name__
        check_sequence(layer, x, self.batch_first, self.input_size)
        if self.batch_first:
            x = F.transpose(x, 0, 1)  # the fused functions are time-major
        steps, batch = x.shape[:2]
        valid = sequence_mask(layer, lengths, mask, steps, batch, self.batch_first)
        initial = self._initial_states(hx, x)
        finals: list[list[Tensor]] = [[] for _ in initial]
        for k in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                index = k * self.num_directions + d
                out, *last = self._direction(x, [s[index] for s in initial], self.weights(k, d), valid, bool(d))
                outputs.append(out)
                for store, s in zip(finals, last):
                    store.append(s)
            x = outputs[0] if len(outputs) == 1 else F.cat(outputs, axis=2)
            if k < self.num_layers - 1 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, True, rng=self.rng)
        if self.batch_first:
            x = F.transpose(x, 0, 1)
        states = [F.stack(store, axis=0) for store in finals]
        return x, (states[0] if self.n_states == 1 else tuple(states))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    r"""Multi-layer Elman RNN: :math:`h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`, f tanh or ReLU.

    Same numbers as :class:`~lucidnn.nn.RNNCell` layers run by :class:`~lucidnn.nn.Recurrent`.

    Args:
        input_size: I, features per step of the input.
        hidden_size: H, size of the state.
        num_layers: L, stacked layers; layer k > 0 reads the D*H outputs of layer k-1 (1).
        nonlinearity: f, ``'tanh'`` (default) or ``'relu'``.
        bias: learn ``bias_ih_l*`` and ``bias_hh_l*`` (True).
        batch_first: input and output are (N, T, *) instead of (T, N, *); the states stay (L*D, N, H) (False).
        dropout: dropout probability on the outputs of every layer but the last, while training (0.0).
        bidirectional: add a reverse-time pass per layer (D = 2); outputs are [forward; reverse] (False).
        dtype, device: of the parameters (float32, ``'cpu'``).
        rng: Generator for the initialization and the dropout masks (default: the device's generator).

    Forward:
        ``output, h_n = rnn(x, hx=None, *, lengths=None, mask=None)``. ``hx``: the initial states (zeros
        when None). ``lengths``: optional int array-like (N,), 1 <= lengths[n] <= T, the valid prefix of
        each sequence (or ``mask``, boolean (T, N), or (N, T) with batch_first). Past a sequence's end its
        state is carried and its output is zero, and the reverse direction starts at its own last
        element: PyTorch's ``pack_padded_sequence(..., enforce_sorted=False)`` and ``pad_packed_sequence``.

    Shape:
        x (T, N, I); hx, h_n (L*D, N, H) in the order layer 0, layer 0 reverse, layer 1, ...;
        output (T, N, D*H): the last layer's outputs.

    Attributes:
        weight_ih_l{k}[_reverse]: (H, I) for k = 0, (H, D*H) after; weight_hh_l{k}[_reverse]: (H, H);
        bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse]: (H,); all from :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None, device: str | None = None, rng: backend.Generator | None = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first, dropout=dropout,
                         bidirectional=bidirectional, dtype=dtype, device=device, rng=rng)

    def _direction(self, x: Tensor, states: list[Tensor], weights: tuple, mask: Any, reverse: bool) -> tuple:
        return F.rnn_sequence(x, states[0], *weights, nonlinearity=self.nonlinearity, mask=mask, reverse=reverse)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity!r}"


class LSTM(_RNNBase):
    r"""Multi-layer long short-term memory, PyTorch's equations (see :class:`~lucidnn.nn.LSTMCell`).

    .. math::
        i, f, o = \sigma(\cdot),\ g = \tanh(\cdot) \text{ of } W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh},
        \quad c_t = f \odot c_{t-1} + i \odot g, \quad h_t = o \odot \tanh c_t

    Args: as :class:`RNN`, without ``nonlinearity``.

    Forward:
        ``output, (h_n, c_n) = lstm(x, hx=None, *, lengths=None, mask=None)``; hx: None or (h0, c0);
        lengths and mask as :class:`RNN`.

    Shape:
        x (T, N, I); h0, c0, h_n, c_n (L*D, N, H); output (T, N, D*H).

    Attributes:
        weight_ih_l{k}[_reverse]: (4H, I) for k = 0, (4H, D*H) after; weight_hh_l{k}[_reverse]: (4H, H);
        biases (4H,); gate blocks i, f, g, o; all from :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`.
    """

    gates = 4
    n_states = 2

    def _direction(self, x: Tensor, states: list[Tensor], weights: tuple, mask: Any, reverse: bool) -> tuple:
        return F.lstm_sequence(x, states[0], states[1], *weights, mask=mask, reverse=reverse)


class GRU(_RNNBase):
    r"""Multi-layer gated recurrent unit, PyTorch's equations (see :class:`~lucidnn.nn.GRUCell`).

    .. math::
        r, z = \sigma(\cdot), \quad n = \tanh(W_{in} x_t + b_{in} + r \odot (W_{hn} h_{t-1} + b_{hn})),
        \quad h_t = (1 - z) \odot n + z \odot h_{t-1}

    Args: as :class:`RNN`, without ``nonlinearity``.

    Forward:
        ``output, h_n = gru(x, hx=None, *, lengths=None, mask=None)``; as :class:`RNN`.

    Shape:
        x (T, N, I); hx, h_n (L*D, N, H); output (T, N, D*H).

    Attributes:
        weight_ih_l{k}[_reverse]: (3H, I) for k = 0, (3H, D*H) after; weight_hh_l{k}[_reverse]: (3H, H);
        biases (3H,); gate blocks r, z, n; all from :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`.
    """

    gates = 3

    def _direction(self, x: Tensor, states: list[Tensor], weights: tuple, mask: Any, reverse: bool) -> tuple:
        return F.gru_sequence(x, states[0], *weights, mask=mask, reverse=reverse)


__all__ = ["GRU", "LSTM", "RNN"]
