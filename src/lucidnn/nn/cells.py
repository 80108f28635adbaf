r"""Recurrent cells: one time step of a recurrent network, with the state passed explicitly.

Every cell is called as ``y_t, state = cell(x_t, state)`` with ``x_t`` of shape (N, I); ``state=None``
means the zero state. :class:`~lucidnn.nn.recurrent.Recurrent` runs any cell over a whole sequence
(stacked, bidirectional, with variable lengths); ``nn.RNN``/``nn.LSTM``/``nn.GRU`` are the fused
fast paths of the three cells here and load the same weights.

:class:`RNNCell`, :class:`LSTMCell` and :class:`GRUCell` use PyTorch's parameter names, shapes, gate
order, equations and initialization, so a state dict moves to and from ``torch.nn.RNNCell`` and
friends by name. Each docstring maps the course notes' symbols onto the parameters.

Reference: course notes, "循环神经网络" (simple recurrent network, LSTM, GRU); Elman, "Finding
structure in time", 1990; Hochreiter and Schmidhuber, "Long Short-Term Memory", 1997; Cho et al.,
"Learning Phrase Representations using RNN Encoder-Decoder", 2014.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.nn import init
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter

#: the nonlinearities a simple recurrent cell accepts; 'logistic' is the notes' name for the sigmoid
NONLINEARITIES: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": F.tanh, "relu": F.relu, "sigmoid": F.sigmoid, "logistic": F.sigmoid,
}


def nonlinearity_name(value: Any, layer: str, allowed: tuple = ("tanh", "relu", "sigmoid", "logistic")) -> str:
    """``value`` checked against ``allowed``; 'logistic' is stored as 'sigmoid'."""
    if value not in allowed:
        raise ValueError(f"{layer}: nonlinearity must be one of {', '.join(repr(a) for a in allowed)}, "
                         f"got {value!r}")
    return "sigmoid" if value == "logistic" else value


def check_step_input(layer: str, x: Any, input_size: int) -> None:
    """One time step must be a (N, input_size) Tensor; otherwise a ShapeError saying what to pass."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: the input x_t must be a Tensor of shape (N, {input_size}), "
                        f"got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != input_size:
        hint = " (a cell takes one time step; run a sequence with nn.Recurrent)" if x.ndim == 3 else ""
        raise ShapeError(f"{layer}: the input x_t must have shape (N, I) = (N, {input_size}) "
                         f"(input_size={input_size}), got {x.shape}{hint}")


def state_or_zeros(layer: str, name: str, state: Any, shape: tuple, x: Tensor) -> Tensor:
    """``state`` checked to be a Tensor of ``shape``, or zeros of that shape in ``x``'s dtype and device."""
    if state is None:
        return zeros(*shape, dtype=x.dtype, device=x.device)
    if not isinstance(state, Tensor):
        raise TypeError(f"{layer}: the state {name} must be a Tensor of shape {shape} or None, "
                        f"got {type(state).__name__}")
    if state.shape != shape:
        raise ShapeError(f"{layer}: the state {name} must have shape {shape} (N={shape[0]} from the input), "
                         f"got {state.shape}")
    return state


class RecurrentCell(Module):
    """Base class of the cells: ``forward(x_t, state=None) -> (y_t, new_state)``.

    Subclasses set ``input_size`` (I, the feature size of ``x_t``) and ``output_size`` (the feature
    size of ``y_t``), implement ``forward`` and :meth:`zero_state`. A state is a Tensor or a
    (nested) tuple of Tensors whose first axis is the batch.
    """

    input_size: int
    output_size: int

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> Any:
        """The state that ``state=None`` stands for, for a batch of ``batch_size``."""
        raise NotImplementedError(f"{type(self).__name__} has no zero_state()")  # abstract

    def _like(self, dtype: Any, device: str | None) -> tuple:
        """Default dtype and device: those of the cell's first parameter."""
        first = next(self.parameters(), None)
        if first is not None:
            dtype = first.dtype if dtype is None else dtype
            device = first.device if device is None else device
        return dtype, device


class _GatedCell(RecurrentCell):
    """Shared parameters and init of RNNCell, LSTMCell and GRUCell: ``gates`` stacked blocks of H rows."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool, dtype: Any, device: str | None,
                 rng: backend.Generator | None) -> None:
        super().__init__()
        layer = type(self).__name__
        self.input_size = positive_int(input_size, "input_size", layer)
        self.hidden_size = positive_int(hidden_size, "hidden_size", layer)
        rows = self.gates * self.hidden_size
        self.weight_ih = Parameter(zeros(rows, self.input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(zeros(rows, self.hidden_size, dtype=dtype, device=device))
        self.bias_ih = Parameter(zeros(rows, dtype=dtype, device=device)) if bias else None
        self.bias_hh = Parameter(zeros(rows, dtype=dtype, device=device)) if bias else None

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's recurrent layers."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def _projections(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """(x W_ih^T + b_ih, h W_hh^T + b_hh), each (N, gates*H)."""
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> Any:
        dtype, device = self._like(dtype, device)
        return zeros(batch_size, self.hidden_size, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias_ih is not None else s + ", bias=False"


class RNNCell(_GatedCell):
    r"""Simple recurrent network (Elman) / state-space model, one step.

    .. math::

        h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad y_t = V h_t + c \ \text{(or } h_t)

    In the notes' symbols :math:`h_t = f(U h_{t-1} + W x_t + b)`: :math:`U` is ``weight_hh``, :math:`W`
    is ``weight_ih`` and :math:`b = b_{ih} + b_{hh}` (PyTorch's two biases); in the state-space form
    :math:`x_{n+1} = a(x_n, u_n),\ y_n = B x_n` the state is :math:`h`, the input :math:`u = x_t`, and
    :math:`B` is the optional linear read-out ``readout.weight``.

    Args:
        input_size: I, features of ``x_t``.
        hidden_size: H, size of the state.
        bias: learn ``bias_ih`` and ``bias_hh`` (True).
        nonlinearity: f, ``'tanh'`` (default), ``'relu'`` or ``'sigmoid'`` (alias ``'logistic'``).
        output_size: when given, O, the size of a linear read-out ``y_t = readout(h_t)``; when None
            (default) ``y_t = h_t``.
        dtype, device: of the parameters (float32, ``'cpu'``).
        rng: Generator for the initialization (default: the device's default generator).

    Shape:
        x_t (N, I); state h (N, H); y_t (N, O) with a read-out, else (N, H).

    Attributes:
        weight_ih: (H, I); weight_hh: (H, H); bias_ih, bias_hh: (H,) or None; all drawn from
            :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)` (PyTorch's init).
        readout: ``Linear(H, output_size)`` (PyTorch's Linear init) or None.
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, nonlinearity: str = "tanh",
                 output_size: int | None = None, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__(input_size, hidden_size, bias=bias, dtype=dtype, device=device, rng=rng)
        self.nonlinearity = nonlinearity_name(nonlinearity, "RNNCell")
        self.readout = None
        if output_size is not None:
            self.readout = Linear(self.hidden_size, positive_int(output_size, "output_size", "RNNCell"),
                                  dtype=dtype, device=device, rng=rng)
        self.output_size = self.hidden_size if self.readout is None else self.readout.out_features
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Recurrent weights from U(-1/sqrt(H), 1/sqrt(H)); the read-out as a Linear layer."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                init.uniform_(p, -bound, bound, rng=rng)
        if getattr(self, "readout", None) is not None:
            self.readout.reset_parameters(rng)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_step_input("RNNCell", x, self.input_size)
        h = state_or_zeros("RNNCell", "h", state, (x.shape[0], self.hidden_size), x)
        a, b = self._projections(x, h)
        h = NONLINEARITIES[self.nonlinearity](a + b)
        return (h if self.readout is None else self.readout(h)), h

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_GatedCell):
    r"""Long short-term memory cell, one step, PyTorch's equations.

    .. math::

        \begin{aligned}
        i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}), &
        f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}), \\
        g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}), &
        o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}), \\
        c' &= f \odot c + i \odot g, & h' &= o \odot \tanh(c').
        \end{aligned}

    The notes write :math:`i_t, f_t, o_t = \sigma(W_* x_t + U_* h_{t-1} + b_*)`,
    :math:`\tilde c_t = \tanh(W_c x_t + U_c h_{t-1} + b_c)`: their :math:`W_*` are the row blocks of
    ``weight_ih``, :math:`U_*` those of ``weight_hh``, :math:`b_* = b_{i*} + b_{h*}`, and
    :math:`\tilde c_t` is :math:`g`. Blocks are stacked in the order i, f, g, o.

    Args:
        input_size: I; hidden_size: H; bias: learn the biases (True).
        dtype, device, rng: as :class:`RNNCell`.

    Shape:
        x_t (N, I); state (h, c), each (N, H); returns ``(h', (h', c'))``.

    Attributes:
        weight_ih: (4H, I); weight_hh: (4H, H); bias_ih, bias_hh: (4H,) or None; all from
        :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`.
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__(input_size, hidden_size, bias=bias, dtype=dtype, device=device, rng=rng)
        self.output_size = self.hidden_size
        self.reset_parameters(rng)

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> Any:
        h = super().zero_state(batch_size, dtype=dtype, device=device)
        return h, zeros(*h.shape, dtype=h.dtype, device=h.device)

    def forward(self, x: Tensor, state: tuple | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        check_step_input("LSTMCell", x, self.input_size)
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            state = (None, None)
        elif not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"LSTMCell: the state must be a pair (h, c) of {shape} Tensors or None, "
                            f"got {type(state).__name__}")
        h = state_or_zeros("LSTMCell", "h", state[0], shape, x)
        c = state_or_zeros("LSTMCell", "c", state[1], shape, x)
        a, b = self._projections(x, h)
        i, f, g, o = F.chunk(a + b, 4, axis=1)
        c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
        h = F.sigmoid(o) * F.tanh(c)
        return h, (h, c)


class GRUCell(_GatedCell):
    r"""Gated recurrent unit, one step, PyTorch's equations.

    .. math::

        \begin{aligned}
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}), \qquad
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}), \\
        n &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})), \qquad
        h' = (1 - z) \odot n + z \odot h.
        \end{aligned}

    The notes write :math:`\tilde h_t = \tanh(W_c x_t + U (r_t \odot h_{t-1}))` and
    :math:`h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t`: the update is the same (:math:`n` is
    :math:`\tilde h_t`, z gates the old state), but the reset gate here multiplies :math:`U h + b_{hn}`
    after the matrix product, as PyTorch (and cuDNN) do, so weights move to and from ``torch.nn.GRU``.
    Blocks are stacked in the order r, z, n.

    Args:
        input_size: I; hidden_size: H; bias: learn the biases (True).
        dtype, device, rng: as :class:`RNNCell`.

    Shape:
        x_t (N, I); state h (N, H); returns ``(h', h')``.

    Attributes:
        weight_ih: (3H, I); weight_hh: (3H, H); bias_ih, bias_hh: (3H,) or None; all from
        :math:`\mathcal U(-1/\sqrt H, 1/\sqrt H)`.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__(input_size, hidden_size, bias=bias, dtype=dtype, device=device, rng=rng)
        self.output_size = self.hidden_size
        self.reset_parameters(rng)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_step_input("GRUCell", x, self.input_size)
        h = state_or_zeros("GRUCell", "h", state, (x.shape[0], self.hidden_size), x)
        a, b = self._projections(x, h)
        a_r, a_z, a_n = F.chunk(a, 3, axis=1)
        b_r, b_z, b_n = F.chunk(b, 3, axis=1)
        r = F.sigmoid(a_r + b_r)
        z = F.sigmoid(a_z + b_z)
        n = F.tanh(a_n + r * b_n)
        h = n + z * (h - n)  # = (1 - z) n + z h with one product fewer
        return h, h


__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RecurrentCell"]
