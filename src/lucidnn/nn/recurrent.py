r"""The generic sequence driver: run any recurrent cell over a sequence.

:class:`Recurrent` unrolls cells (``y_t, state = cell(x_t, state)``) over the time axis, stacks
layers, runs reverse-direction cells for a bidirectional network, applies dropout between layers and
handles batches of sequences of different lengths. It is the reference against which the fused
``nn.RNN``/``nn.LSTM``/``nn.GRU`` are tested, and the way to run cells that have no fused kernel
(NARX, second-order, recurrent MLP, custom cells).

Variable lengths follow PyTorch's packed sequences: on a step past a sequence's end the state is
carried unchanged and the output row is zero, so the final state is the state after the sequence's
own last element, and the reverse direction starts at that element.

Reference: course notes, "堆叠循环神经网络" and "双向循环神经网络" (stacked and bidirectional RNNs).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import zeros_like
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError
from lucidnn.nn.container import ModuleList
from lucidnn.nn.module import Module

_np = backend.numpy


def map_state(fn: Callable[..., Tensor], *states: Any) -> Any:
    """Apply ``fn`` leaf by leaf to states of the same structure (a Tensor or nested tuples/lists)."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    if isinstance(first, (tuple, list)):
        return type(first)(map_state(fn, *parts) for parts in zip(*states))
    raise TypeError(f"a recurrent state must be a Tensor or a tuple of Tensors, got {type(first).__name__}")


def _rows(keep: Any, ndim: int) -> Any:
    """A (N,) boolean row selector shaped (N, 1, ..., 1) to broadcast over an ndim-dimensional tensor."""
    return keep.reshape(keep.shape + (1,) * (ndim - 1))


def check_sequence(layer: str, x: Any, batch_first: bool, input_size: int | None = None) -> None:
    """``x`` must be a 3-D (T, N, I) Tensor (or (N, T, I)) with T >= 1 and, if given, I = input_size."""
    layout = "(N, T, I)" if batch_first else "(T, N, I)"
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: the input must be a Tensor of shape {layout}, got {type(x).__name__}")
    if x.ndim != 3:
        raise ShapeError(f"{layer}: the input must be 3-D {layout} (batch_first={batch_first}), got shape "
                         f"{x.shape}; add a batch axis of size 1 for a single sequence")
    if x.shape[1 if batch_first else 0] == 0:
        raise ShapeError(f"{layer}: the input {layout} = {x.shape} is an empty sequence (T=0); "
                         "a recurrent layer needs at least one time step")
    if input_size is not None and x.shape[2] != input_size:
        raise ShapeError(f"{layer}: the input has {x.shape[2]} features (shape {x.shape}, layout {layout}) "
                         f"but the layer expects input_size={input_size}")


def sequence_mask(layer: str, lengths: Any, mask: Any, steps: int, batch: int, batch_first: bool) -> Any:
    """The (T, N) boolean NumPy mask of valid steps from ``lengths`` or ``mask``; None when all are valid.

    ``lengths`` is int array-like (N,) with 1 <= lengths[n] <= T; ``mask`` is boolean (T, N), or
    (N, T) when ``batch_first``. At most one of them may be given.
    """
    if lengths is not None and mask is not None:
        raise ValueError(f"{layer}: give either lengths or mask, not both")
    if lengths is not None:
        data = backend.to_numpy(lengths.data if isinstance(lengths, Tensor) else _np.asarray(lengths))
        if data.dtype.kind not in "iu":
            raise DTypeError(f"{layer}: lengths must hold integers, got dtype {data.dtype}")
        if data.shape != (batch,):
            raise ShapeError(f"{layer}: lengths must have shape (N,) = ({batch},), one length per sequence of "
                             f"the batch, got shape {data.shape}")
        data = data.astype(_np.int64)
        bad = _np.flatnonzero((data < 1) | (data > steps))
        if bad.size:
            n = int(bad[0])
            raise ValueError(f"{layer}: every length must be in [1, T] = [1, {steps}] (T from the input), got "
                             f"lengths[{n}] = {int(data[n])}; drop empty sequences from the batch")
        if (data == steps).all():
            return None
        return _np.arange(steps)[:, None] < data[None, :]
    if mask is None:
        return None
    data = backend.to_numpy(mask.data if isinstance(mask, Tensor) else _np.asarray(mask))
    if data.dtype != _np.bool_:
        raise DTypeError(f"{layer}: mask must be boolean (True where a step is valid), got dtype {data.dtype}")
    expected = (batch, steps) if batch_first else (steps, batch)
    if data.shape != expected:
        layout = "(N, T)" if batch_first else "(T, N)"
        raise ShapeError(f"{layer}: mask must have shape {layout} = {expected} like the input's first two axes, "
                         f"got {data.shape}")
    data = data.T if batch_first else data
    return None if data.all() else _np.ascontiguousarray(data)


def _sizes(cell: Module) -> tuple:
    return getattr(cell, "input_size", None), getattr(cell, "output_size", None)


class Recurrent(Module):
    r"""Run recurrent cells over a sequence: layers stacked, optionally bidirectional, any cell.

    Layer :math:`l` maps the sequence :math:`x^{(l-1)}_{1..T}` to :math:`x^{(l)}_{1..T}` with
    :math:`(x^{(l)}_t, s^{(l)}_t) = \text{cell}_l(x^{(l-1)}_t, s^{(l)}_{t-1})` for t = 1..T. With reverse
    cells, a second pass runs t = T..1 over the same input and its outputs are concatenated after the
    forward ones on the feature axis, :math:`[\overrightarrow{y}_t; \overleftarrow{y}_t]`, as PyTorch
    does. Between layers (not after the last) dropout with probability ``dropout`` is applied while
    training.

    Args:
        cells: one cell or a sequence of cells, bottom layer first. A cell is any Module called as
            ``y_t, state = cell(x_t, state)`` that accepts ``state=None`` (e.g. ``nn.LSTMCell``).
        reverse_cells: None (default, one direction) or one cell per layer for the reverse direction.
        batch_first: inputs and outputs are (N, T, *) instead of (T, N, *) (False).
        dropout: probability of zeroing a layer's output before the next layer, while training (0.0).
        rng: Generator for the dropout masks (default: the device's default generator).

    Call:
        ``output, states = driver(x, state=None, *, lengths=None, mask=None)``

        * ``state``: None (zero states) or a list of L*D states in PyTorch's order (layer 0, layer 0
          reverse, layer 1, ...); an entry may be None.
        * ``lengths``: int array-like (N,), 1 <= lengths[n] <= T: sequence n occupies its first
          lengths[n] steps. ``mask``: boolean (T, N) (or (N, T) with batch_first), True on valid steps.
          Past the end the state is carried and the output is zero; the reverse direction starts at
          each sequence's own last valid step.
        * returns ``output`` (T, N, D*O) (or (N, T, D*O)) and ``states``, the list of L*D final states.
          Passing ``states`` back as ``state`` continues the sequence; passing
          ``map_state(lambda s: s.detach(), states)`` also cuts the graph there (truncated BPTT).

    Shape:
        x (T, N, I); output (T, N, D*O) where O is the last layer's output size, D = 2 with reverse cells.
    """

    def __init__(self, cells: Module | Sequence[Module], *, reverse_cells: Module | Sequence[Module] | None = None,
                 batch_first: bool = False, dropout: float = 0.0, rng: backend.Generator | None = None) -> None:
        super().__init__()
        forward_cells = [cells] if isinstance(cells, Module) else list(cells)
        if not forward_cells:
            raise ValueError("Recurrent: give at least one cell")
        self.cells = ModuleList(forward_cells)
        self.reverse_cells = None
        if reverse_cells is not None:
            backward = [reverse_cells] if isinstance(reverse_cells, Module) else list(reverse_cells)
            if len(backward) != len(forward_cells):
                raise ValueError(f"Recurrent: {len(backward)} reverse cells given for {len(forward_cells)} layers; "
                                 "give one reverse cell per layer")
            self.reverse_cells = ModuleList(backward)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"Recurrent: dropout must be a probability in [0, 1], got {dropout!r}")
        if rng is not None and not isinstance(rng, backend.Generator):
            raise TypeError(f"Recurrent: rng must be a lucidnn.Generator, got {type(rng).__name__}")
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.rng = rng
        self._check_sizes()

    @property
    def num_layers(self) -> int:
        return len(self.cells)

    @property
    def num_directions(self) -> int:
        return 1 if self.reverse_cells is None else 2

    def _layer(self, layer: int) -> list[Module]:
        cells = [self.cells[layer]]
        return cells if self.reverse_cells is None else cells + [self.reverse_cells[layer]]

    def _check_sizes(self) -> None:
        """Where cells declare input_size/output_size, each layer's input must be the layer below's output."""
        below = None
        for layer in range(self.num_layers):
            sizes = [_sizes(cell) for cell in self._layer(layer)]
            for direction, (size_in, _) in enumerate(sizes):
                if below is not None and size_in is not None and size_in != below:
                    name = "reverse_cells" if direction else "cells"
                    raise ShapeError(f"Recurrent: {name}[{layer}] has input_size={size_in} but the layer below "
                                     f"outputs {below} features per step")
            if sizes[0][0] is not None and any(s[0] not in (None, sizes[0][0]) for s in sizes):
                raise ShapeError(f"Recurrent: the forward and reverse cells of layer {layer} expect different "
                                 f"input sizes {[s[0] for s in sizes]}")
            outs = [s[1] for s in sizes]
            below = None if None in outs else sum(outs)

    def _initial_states(self, state: Any) -> list:
        count = self.num_layers * self.num_directions
        if state is None:
            return [None] * count
        if not isinstance(state, list) or len(state) != count:
            got = f"a list of {len(state)}" if isinstance(state, list) else type(state).__name__
            raise TypeError(f"Recurrent: state must be None or a list of num_layers * num_directions = {count} "
                            f"states (layer 0, layer 0 reverse, layer 1, ...), got {got}")
        return list(state)

    def forward(self, x: Tensor, state: list | None = None, *, lengths: Any = None,
                mask: Any = None) -> tuple[Tensor, list]:
        input_size = _sizes(self.cells[0])[0]
        if input_size is not None or not isinstance(x, Tensor) or x.ndim < 3:
            check_sequence("Recurrent", x, self.batch_first, input_size)
        if self.batch_first:
            x = F.transpose(x, 0, 1)
        steps, batch = x.shape[:2]
        if steps == 0:
            raise ShapeError(f"Recurrent: the input {x.shape} is an empty sequence (T=0)")
        valid = sequence_mask("Recurrent", lengths, mask, steps, batch, self.batch_first)
        states = self._initial_states(state)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, cell in enumerate(self._layer(layer)):
                y, s = _unroll(cell, x, states[layer * self.num_directions + direction], valid, bool(direction))
                outputs.append(y)
                finals.append(s)
            x = outputs[0] if len(outputs) == 1 else F.cat(outputs, axis=-1)
            if layer < self.num_layers - 1 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, True, rng=self.rng)
        if self.batch_first:
            x = F.transpose(x, 0, 1)
        return x, finals

    def extra_repr(self) -> str:
        parts = []
        if self.batch_first:
            parts.append("batch_first=True")
        if self.dropout:
            parts.append(f"dropout={self.dropout}")
        return ", ".join(parts)


def _unroll(cell: Module, x: Tensor, state: Any, valid: Any, reverse: bool) -> tuple[Tensor, Any]:
    """One layer, one direction: the (T, N, O) outputs and the final state."""
    steps = x.shape[0]
    if valid is not None:
        xp = backend.get_array_module(x.data)
        complete = valid.all(axis=1)  # host-side, so the loop never waits on the device
        keep_rows = xp.asarray(valid)
    ys: list[Tensor | None] = [None] * steps
    inputs = F.unbind(x, 0)  # one node for all steps (x[t] would cost a full-size gradient per step)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        y, new = cell(inputs[t], state)
        if valid is not None and not complete[t]:
            keep = keep_rows[t]
            old = state if state is not None else map_state(zeros_like, new)
            new = map_state(lambda a, b, keep=keep: F.where(_rows(keep, a.ndim), a, b), new, old)
            y = F.where(_rows(keep, y.ndim), y, 0.0)
        ys[t] = y
        state = new
    return F.stack(ys, axis=0), state


__all__ = ["Recurrent", "map_state", "sequence_mask"]
