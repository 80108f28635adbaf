r"""More recurrent structures from the course notes: the recurrent MLP, the second-order network, TDNN.

:class:`RecurrentMLPCell` and :class:`SecondOrderCell` are cells (``y_t, state = cell(x_t, state)``)
that :class:`~lucidnn.nn.recurrent.Recurrent` runs over a sequence. :class:`TimeDelay` is a layer over
a whole sequence: a time-delay neural network layer whose units see a window of delayed inputs,
computed as one 1-D convolution.

Reference: course notes, "四种基本递归结构" (recurrent multilayer perceptron, second-order network);
Giles et al., "Learning and extracting finite state automata with second-order recurrent neural
networks", 1992; Waibel et al., "Phoneme recognition using time-delay neural networks", 1989.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.nn import init
from lucidnn.nn.cells import RecurrentCell, RNNCell, check_step_input, state_or_zeros
from lucidnn.nn.container import ModuleList
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter

_TDNN_PADDING = ("valid", "causal", "same")


class RecurrentMLPCell(RecurrentCell):
    r"""Recurrent multilayer perceptron: stacked layers, each fed back its own previous state, one step.

    .. math::

        h^{(1)}_t = f_1(W^{(1)} x_t + U^{(1)} h^{(1)}_{t-1} + b^{(1)}), \qquad
        h^{(l)}_t = f_l(W^{(l)} h^{(l-1)}_t + U^{(l)} h^{(l)}_{t-1} + b^{(l)}), \qquad y_t = h^{(L)}_t

    The notes write :math:`x_{\mathrm{I},n+1} = \phi_{\mathrm I}(x_{\mathrm I,n}, u_n)`,
    :math:`x_{\mathrm{II},n+1} = \phi_{\mathrm{II}}(x_{\mathrm{II},n}, x_{\mathrm I,n+1})`, ...: layer l's
    state :math:`x_{l,n}` is :math:`h^{(l)}`, and the last layer is the (recurrent) output layer. Within
    one step a layer sees the *new* state of the layer below. Each layer is an :class:`RNNCell`
    (``layers.l``), so :math:`W^{(l)}` is ``layers.l.weight_ih``, :math:`U^{(l)}` is
    ``layers.l.weight_hh`` and :math:`b^{(l)} = b_{ih} + b_{hh}`.

    Args:
        input_size: I, features of ``x_t``.
        hidden_sizes: the layer sizes :math:`H_1, \dots, H_L` (at least one); the last is the output size.
        nonlinearity: f for every layer (``'tanh'``, ``'relu'``, ``'sigmoid'``), or one name per layer
            ('tanh').
        bias: learn biases (True).
        dtype, device, rng: as :class:`~lucidnn.nn.RNNCell`.

    Shape:
        x_t (N, I); state: a tuple of L tensors (N, H_l); y_t (N, H_L).

    Attributes:
        layers: ModuleList of the L RNNCells, initialized from :math:`\mathcal U(-1/\sqrt{H_l}, 1/\sqrt{H_l})`.
    """

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], *, nonlinearity: str | Sequence[str] = "tanh",
                 bias: bool = True, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size", "RecurrentMLPCell")
        sizes = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
        if not sizes:
            raise ValueError("RecurrentMLPCell: hidden_sizes must list at least one layer size")
        sizes = [positive_int(s, "hidden_sizes[]", "RecurrentMLPCell") for s in sizes]
        names = [nonlinearity] * len(sizes) if isinstance(nonlinearity, str) else list(nonlinearity)
        if len(names) != len(sizes):
            raise ValueError(f"RecurrentMLPCell: {len(names)} nonlinearities given for {len(sizes)} layers")
        widths = [self.input_size] + sizes
        self.layers = ModuleList(RNNCell(widths[k], sizes[k], bias=bias, nonlinearity=names[k], dtype=dtype,
                                         device=device, rng=rng) for k in range(len(sizes)))
        self.hidden_sizes = tuple(sizes)
        self.output_size = sizes[-1]

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Redraw every layer as :meth:`RNNCell.reset_parameters`."""
        for layer in self.layers:
            layer.reset_parameters(rng)

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> tuple:
        return tuple(layer.zero_state(batch_size, dtype=dtype, device=device) for layer in self.layers)

    def forward(self, x: Tensor, state: Sequence[Tensor] | None = None) -> tuple[Tensor, tuple]:
        check_step_input("RecurrentMLPCell", x, self.input_size)
        count = len(self.layers)
        if state is None:
            state = (None,) * count
        elif not isinstance(state, (tuple, list)) or len(state) != count:
            raise TypeError(f"RecurrentMLPCell: the state must be None or a tuple of {count} Tensors (one per "
                            f"layer, shapes (N, H_l) with H = {self.hidden_sizes}), got {type(state).__name__}")
        new = []
        for layer, h in zip(self.layers, state):
            x, h = layer(x, h)
            new.append(h)
        return x, tuple(new)

    def extra_repr(self) -> str:
        return f"{self.input_size}, hidden_sizes={self.hidden_sizes}"


class SecondOrderCell(RecurrentCell):
    r"""Second-order recurrent network: the state and the input interact multiplicatively, one step.

    .. math::

        v_k = b_k + \sum_{i=1}^{H} \sum_{j=1}^{I} w_{kij}\, x_i\, u_j, \qquad
        x'_k = \sigma(v_k) = \frac{1}{1 + e^{-v_k}}

    with the state :math:`x` (the notes' :math:`x_{\cdot,n}`) and the input :math:`u = x_t`. Each input
    symbol selects its own state-transition matrix :math:`W_{\cdot\cdot j}`, which is why the notes read
    the step as a finite-state transition :math:`\delta(x_i, u_j) = x_k`. Computed as one product: the
    outer products :math:`x u^\top`, flattened to (N, H*I), times ``weight`` viewed as (H, H*I).

    A zero state makes every product vanish, so the first output would ignore the input; such networks
    are usually started from a one-hot state, e.g. ``state = x0`` with ``x0[:, 0] = 1``.

    Args:
        input_size: I, features of ``u`` (e.g. a one-hot symbol).
        hidden_size: H, size of the state.
        bias: learn ``bias`` (True).
        dtype, device, rng: as :class:`~lucidnn.nn.RNNCell`.

    Shape:
        x_t (N, I); state (N, H); returns ``(x', x')``, each (N, H).

    Attributes:
        weight: (H, H, I) = :math:`w_{kij}`; bias: (H,) or None; both from
            :math:`\mathcal U(-1/\sqrt{HI}, 1/\sqrt{HI})` (the Linear rule with fan_in = H*I).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, dtype: Any = None,
                 device: str | None = None, rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size", "SecondOrderCell")
        self.hidden_size = positive_int(hidden_size, "hidden_size", "SecondOrderCell")
        self.output_size = self.hidden_size
        h, i = self.hidden_size, self.input_size
        self.weight = Parameter(zeros(h, h, i, dtype=dtype, device=device))
        self.bias = Parameter(zeros(h, dtype=dtype, device=device)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw weight and bias from U(-1/sqrt(H*I), 1/sqrt(H*I))."""
        bound = 1.0 / math.sqrt(self.hidden_size * self.input_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> Tensor:
        dtype, device = self._like(dtype, device)
        return zeros(batch_size, self.hidden_size, dtype=dtype, device=device)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_step_input("SecondOrderCell", x, self.input_size)
        n, h, i = x.shape[0], self.hidden_size, self.input_size
        s = state_or_zeros("SecondOrderCell", "x", state, (n, h), x)
        outer = F.reshape(F.unsqueeze(s, 2) * F.unsqueeze(x, 1), (n, h * i))  # x_i u_j at column i*I + j
        s = F.sigmoid(F.linear(outer, F.reshape(self.weight, (h, h * i)), self.bias))
        return s, s

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias is not None else s + ", bias=False"


class TimeDelay(Module):
    r"""Time-delay neural network (TDNN) layer: each output sees a window of K delayed inputs.

    .. math:: y_t = b + \sum_{k=0}^{K-1} W_k\, x_{t - k d}, \qquad W_k = \text{weight}[:, :, K-1-k]

    a 1-D convolution over time (``F.conv1d``) with K taps spaced ``dilation`` = d steps apart, the
    same weights at every t (the TDNN's shift invariance). ``padding`` decides the alignment:

    * ``'valid'`` (default): only full windows; output t ends at input t + (K-1)d,
      :math:`T_{out} = T - (K-1)d`.
    * ``'causal'``: (K-1)d zeros before the start; output t sees inputs t, t-d, ... only,
      :math:`T_{out} = T`.
    * ``'same'``: the window is centred (zeros on both sides), :math:`T_{out} = T`.

    Args:
        input_size: I, features per step.
        output_size: O, units per step.
        context: K, number of taps (the window length in steps when d = 1).
        dilation: d, spacing of the taps in steps (1).
        padding: ``'valid'``, ``'causal'`` or ``'same'`` ('valid').
        bias: learn ``bias`` (True).
        dtype, device, rng: as :class:`~lucidnn.nn.Conv1d`.

    Shape:
        input (N, T, I), batch first; output (N, T_out, O).

    Attributes:
        weight: (O, I, K), Conv1d's layout; bias: (O,) or None; both from
            :math:`\mathcal U(-1/\sqrt{IK}, 1/\sqrt{IK})` (Conv1d's init).
    """

    def __init__(self, input_size: int, output_size: int, context: int, *, dilation: int = 1,
                 padding: str = "valid", bias: bool = True, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size", "TimeDelay")
        self.output_size = positive_int(output_size, "output_size", "TimeDelay")
        self.context = positive_int(context, "context", "TimeDelay")
        self.dilation = positive_int(dilation, "dilation", "TimeDelay")
        if padding not in _TDNN_PADDING:
            raise ValueError(f"TimeDelay: padding must be one of {_TDNN_PADDING}, got {padding!r}")
        self.padding = padding
        self.weight = Parameter(zeros(self.output_size, self.input_size, self.context, dtype=dtype, device=device))
        self.bias = Parameter(zeros(self.output_size, dtype=dtype, device=device)) if bias else None
        self.reset_parameters(rng)

    @property
    def span(self) -> int:
        """Steps covered by one window, (K-1)d + 1."""
        return (self.context - 1) * self.dilation + 1

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw weight and bias from U(-1/sqrt(I*K), 1/sqrt(I*K)), as Conv1d."""
        bound = 1.0 / math.sqrt(self.input_size * self.context)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[2] != self.input_size:
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"TimeDelay: the input must be (N, T, I) = (N, T, {self.input_size}) "
                             f"(batch first, input_size={self.input_size}), got {shape}")
        if self.padding == "valid" and x.shape[1] < self.span:
            raise ShapeError(f"TimeDelay: the input has T={x.shape[1]} steps but one window spans {self.span} "
                             f"(context={self.context}, dilation={self.dilation}); use padding='causal' or "
                             "'same', or longer sequences")
        x = F.transpose(x, 1, 2)  # (N, I, T), conv1d's channels-first layout
        padding: Any = 0 if self.padding == "valid" else "same"
        if self.padding == "causal":
            x = F.pad(x, (self.span - 1, 0))
            padding = 0
        y = F.conv1d(x, self.weight, self.bias, 1, padding, self.dilation)  # (N, O, T_out)
        return F.transpose(y, 1, 2)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.output_size}, context={self.context}"
        if self.dilation != 1:
            s += f", dilation={self.dilation}"
        if self.padding != "valid":
            s += f", padding={self.padding!r}"
        return s if self.bias is not None else s + ", bias=False"


__all__ = ["RecurrentMLPCell", "SecondOrderCell", "TimeDelay"]
