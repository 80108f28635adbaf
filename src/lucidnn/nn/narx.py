r"""Input-output recurrent models: the NARX network and the linear autoregressive model AR(p).

A NARX network (nonlinear autoregressive with exogenous inputs) predicts the next output from tapped
delay lines of past inputs and past outputs through an MLP. It is trained *open loop*
(series-parallel: the output delay line holds the true past outputs, teacher forcing, so a whole
series is one batched MLP call) and predicts *closed loop* (parallel: its own predictions are fed
back). AR(p) is the linear special case without exogenous input, with a least-squares fit.

Reference: course notes, "输入-输出递归模型 (NARX 模型)"; Narendra and Parthasarathy, "Identification
and control of dynamical systems using neural networks", 1990; Siegelmann et al., "Computational
capabilities of recurrent NARX neural networks", 1997.
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
from lucidnn.nn.activation import ReLU, Sigmoid, Tanh
from lucidnn.nn.cells import RecurrentCell, check_step_input, nonlinearity_name, state_or_zeros
from lucidnn.nn.container import Sequential
from lucidnn.nn.linear import Linear, positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter
from lucidnn.nn.recurrent import check_sequence

_np = backend.numpy
_ACTIVATIONS = {"tanh": Tanh, "relu": ReLU, "sigmoid": Sigmoid}
_MODES = ("open", "closed")


def _push(line: Tensor, value: Tensor) -> Tensor:
    """Shift a (N, K, F) delay line by one: ``value`` (N, F) becomes entry 0, the oldest entry drops."""
    value = F.unsqueeze(value, 1)
    return value if line.shape[1] == 1 else F.cat([value, line[:, :-1]], axis=1)


def _as_like(value: Any, like: Tensor) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(value, dtype=like.dtype, device=like.device)


class NARXCell(RecurrentCell):
    r"""NARX network, one step: an MLP over delay lines of the last q inputs and the last p outputs.

    .. math:: \hat y_t = \text{MLP}(u_t, u_{t-1}, \dots, u_{t-q+1};\ y_{t-1}, \dots, y_{t-p})

    The notes' :math:`y_{n+1} = F(y_n, \dots, y_{n-q+1}; u_n, \dots, u_{n-q+1})` with :math:`u_n = x_t`
    and :math:`y_{n+1} = \hat y_t`: a step takes the current input and returns the prediction of the
    next output. The fed-back :math:`y` are

    * ``mode='open'`` (training, series-parallel, teacher forcing): the true outputs, passed as
      ``target`` (the true :math:`y_t`) to each step and pushed into the output delay line;
    * ``mode='closed'`` (prediction, parallel): the cell's own predictions :math:`\hat y_t`.

    Switch with :meth:`open_loop` / :meth:`closed_loop`. :meth:`run` processes a whole series; in
    open loop it takes the true output series and evaluates all steps in one MLP call.

    The MLP is ``Linear -> f -> ... -> Linear``: one hidden layer per entry of ``hidden_sizes`` with the
    nonlinearity f, then a linear output layer (``hidden_sizes=()`` gives the linear ARX model). Its
    input is :math:`[u_t, \dots, u_{t-q+1}, y_{t-1}, \dots, y_{t-p}]` flattened, q*I + p*O features.

    Args:
        input_size: I, features of the exogenous input u.
        output_size: O, features of the output y.
        input_delays: q >= 1, input taps including the current input (2).
        output_delays: p >= 1, past outputs fed back (2).
        hidden_sizes: the MLP's hidden layer sizes ((16,)).
        nonlinearity: f of the hidden layers, ``'tanh'`` (default), ``'relu'`` or ``'sigmoid'``.
        bias: the MLP's layers learn biases (True).
        mode: ``'open'`` (default) or ``'closed'``.
        dtype, device, rng: as :class:`~lucidnn.nn.Linear`.

    Shape:
        x_t = u_t (N, I); target (N, O); state ``(u_line, y_line)``: u_line (N, q, I) holds
        :math:`u_t, \dots, u_{t-q+1}` after the step (newest first), y_line (N, p, O) holds
        :math:`y_t, \dots, y_{t-p+1}`; returns ``(ŷ_t, new_state)`` with ŷ_t (N, O).

    Attributes:
        mlp: the Sequential of Linear layers (PyTorch's Linear init) and activations.
    """

    def __init__(self, input_size: int, output_size: int, *, input_delays: int = 2, output_delays: int = 2,
                 hidden_sizes: Sequence[int] = (16,), nonlinearity: str = "tanh", bias: bool = True,
                 mode: str = "open", dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.input_size = positive_int(input_size, "input_size", "NARXCell")
        self.output_size = positive_int(output_size, "output_size", "NARXCell")
        self.input_delays = positive_int(input_delays, "input_delays", "NARXCell")
        self.output_delays = positive_int(output_delays, "output_delays", "NARXCell")
        self.nonlinearity = nonlinearity_name(nonlinearity, "NARXCell")
        self.hidden_sizes = tuple(positive_int(h, "hidden_sizes[]", "NARXCell") for h in hidden_sizes)
        layers: list[Module] = []
        width = self.input_delays * self.input_size + self.output_delays * self.output_size
        for size in self.hidden_sizes:
            layers += [Linear(width, size, bias=bias, dtype=dtype, device=device, rng=rng),
                       _ACTIVATIONS[self.nonlinearity]()]
            width = size
        layers.append(Linear(width, self.output_size, bias=bias, dtype=dtype, device=device, rng=rng))
        self.mlp = Sequential(*layers)
        self.mode = "open"
        self.set_mode(mode)

    def set_mode(self, mode: str) -> NARXCell:
        """``'open'`` (feed back the true outputs) or ``'closed'`` (feed back the predictions)."""
        if mode not in _MODES:
            raise ValueError(f"NARXCell: mode must be 'open' or 'closed', got {mode!r}")
        self.mode = mode
        return self

    def open_loop(self) -> NARXCell:
        """Series-parallel mode for training: the output delay line is filled with the true outputs."""
        return self.set_mode("open")

    def closed_loop(self) -> NARXCell:
        """Parallel mode for prediction: the cell's own predictions are fed back."""
        return self.set_mode("closed")

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Redraw the MLP's Linear layers."""
        for layer in self.mlp:
            if isinstance(layer, Linear):
                layer.reset_parameters(rng)

    def zero_state(self, batch_size: int, *, dtype: Any = None, device: str | None = None) -> tuple:
        dtype, device = self._like(dtype, device)
        return (zeros(batch_size, self.input_delays, self.input_size, dtype=dtype, device=device),
                zeros(batch_size, self.output_delays, self.output_size, dtype=dtype, device=device))

    def _lines(self, state: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        n = x.shape[0]
        if state is None:
            state = (None, None)
        elif not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"NARXCell: the state must be None or a pair (u_line, y_line), got "
                            f"{type(state).__name__}")
        return (state_or_zeros("NARXCell", "u_line", state[0], (n, self.input_delays, self.input_size), x),
                state_or_zeros("NARXCell", "y_line", state[1], (n, self.output_delays, self.output_size), x))

    def forward(self, x: Tensor, state: Any = None, target: Any = None) -> tuple[Tensor, tuple]:
        check_step_input("NARXCell", x, self.input_size)
        n = x.shape[0]
        u_line, y_line = self._lines(state, x)
        if self.mode == "open":
            if target is None:
                raise ValueError("NARXCell: in open loop each step needs target, the true output y_t (N, O); "
                                 "pass it, or call closed_loop() to feed back the predictions")
            target = _as_like(target, x)
            if target.shape != (n, self.output_size):
                raise ShapeError(f"NARXCell: target must have shape (N, O) = {(n, self.output_size)}, "
                                 f"got {target.shape}")
        elif target is not None:
            raise ValueError("NARXCell: a target was given in closed loop, where the predictions are fed back; "
                             "call open_loop() to train with the true outputs")
        u_line = _push(u_line, x)
        regressor = F.cat([F.reshape(u_line, (n, -1)), F.reshape(y_line, (n, -1))], axis=1)
        y = self.mlp(regressor)
        y_line = _push(y_line, y if target is None else target)
        return y, (u_line, y_line)

    def run(self, inputs: Tensor, targets: Any = None, state: Any = None, *,
            batch_first: bool = False) -> tuple[Tensor, tuple]:
        r"""Run a whole series in the current mode: ``(predictions, final_state)``.

        Open loop takes the true outputs ``targets`` and computes every step's regressor from the
        delay lines at once (one MLP call over T*N rows); closed loop steps through time, feeding
        back its predictions (``targets`` must be None).

        Shape:
            inputs (T, N, I), targets (T, N, O) (or (N, T, *) with ``batch_first``); predictions alike
            with O features; final_state as the cell's state.
        """
        check_sequence("NARXCell.run", inputs, batch_first, self.input_size)
        if batch_first:
            inputs = F.transpose(inputs, 0, 1)
        steps, n = inputs.shape[:2]
        if self.mode == "closed":
            if targets is not None:
                raise ValueError("NARXCell.run: targets were given in closed loop, where the predictions are "
                                 "fed back; call open_loop() to train with the true outputs")
            ys = []
            for t in range(steps):
                y, state = self(inputs[t], state)
                ys.append(y)
            out = F.stack(ys, axis=0)
        else:
            if targets is None:
                raise ValueError("NARXCell.run: open loop needs targets, the true output series; call "
                                 "closed_loop() to predict from the model's own outputs")
            targets = _as_like(targets, inputs)
            if batch_first:
                targets = F.transpose(targets, 0, 1)
            if targets.shape != (steps, n, self.output_size):
                layout = "(N, T, O)" if batch_first else "(T, N, O)"
                raise ShapeError(f"NARXCell.run: targets must have shape {layout} matching the inputs "
                                 f"(T={steps}, N={n}, O={self.output_size}), got {targets.shape}")
            out, state = self._open_loop_series(inputs, targets, state)
        return (F.transpose(out, 0, 1) if batch_first else out), state

    def _open_loop_series(self, u: Tensor, y: Tensor, state: Any) -> tuple[Tensor, tuple]:
        steps, n = u.shape[:2]
        q, p = self.input_delays, self.output_delays
        u_line, y_line = self._lines(state, u[0])
        # time-major histories, oldest first: u_hist[q + t] = u_t and y_hist[p + t] = y_t for t >= -q, -p
        u_hist = F.cat([F.transpose(u_line[:, ::-1], 0, 1), u], axis=0)  # (q+T, N, I)
        y_hist = F.cat([F.transpose(y_line[:, ::-1], 0, 1), y], axis=0)  # (p+T, N, O)
        u_taps = F.stack([u_hist[q - k:q - k + steps] for k in range(q)], axis=2)  # u_{t-k}: (T, N, q, I)
        y_taps = F.stack([y_hist[p - k:p - k + steps] for k in range(1, p + 1)], axis=2)  # y_{t-k}
        regressors = F.cat([F.reshape(u_taps, (steps, n, -1)), F.reshape(y_taps, (steps, n, -1))], axis=2)
        predictions = self.mlp(regressors)  # (T, N, O)
        # the lines after the last step, newest first: u_{T-1} .. u_{T-q} and y_{T-1} .. y_{T-p}
        final = (F.transpose(u_hist[q + steps - 1:steps - 1:-1], 0, 1),
                 F.transpose(y_hist[p + steps - 1:steps - 1:-1], 0, 1))
        return predictions, final

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.output_size}, input_delays={self.input_delays}, "
                f"output_delays={self.output_delays}, mode={self.mode!r}")


def lagged_design_matrix(series: Any, order: int) -> tuple[Any, Any]:
    r"""The regression problem of AR(p): rows of lagged values and the values they predict.

    .. math:: X_{t-p} = [y_{t-1}, y_{t-2}, \dots, y_{t-p}], \qquad z_{t-p} = y_t, \qquad t = p, \dots, T-1

    Args:
        series: a 1-D array-like or Tensor, y_0 .. y_{T-1}, T > order.
        order: p >= 1.

    Returns:
        ``(X, z)`` arrays (NumPy, or CuPy for a CUDA tensor) of shapes (T-p, p) and (T-p,).
    """
    p = positive_int(order, "order", "lagged_design_matrix")
    y = series.data if isinstance(series, Tensor) else _np.asarray(series)
    if y.ndim != 1 or y.shape[0] <= p:
        raise ShapeError(f"lagged_design_matrix: the series must be 1-D with more than order={p} values, "
                         f"got shape {y.shape}")
    xp = backend.get_array_module(y)
    steps = y.shape[0]
    lags = xp.stack([y[p - i:steps - i] for i in range(1, p + 1)], axis=1)  # column i-1 = y_{t-i}
    return lags, y[p:]


class AR(Module):
    r"""Autoregressive model AR(p) over a delay line of past values.

    .. math:: \hat y_t = \sum_{i=1}^{p} a_i\, y_{t-i} + b

    Args:
        order: p, the number of past values.
        bias: learn the intercept b (True).
        dtype, device, rng: as :class:`~lucidnn.nn.Linear`.

    Shape:
        input: the delay line (*, p) = :math:`[y_{t-1}, \dots, y_{t-p}]`, newest first; output (*).

    Attributes:
        weight: (1, p) = :math:`[a_1, \dots, a_p]` (Linear's layout and init,
            :math:`\mathcal U(-1/\sqrt p, 1/\sqrt p)`); bias: (1,) = b or None.
    """

    def __init__(self, order: int, *, bias: bool = True, dtype: Any = None, device: str | None = None,
                 rng: backend.Generator | None = None) -> None:
        super().__init__()
        self.order = positive_int(order, "order", "AR")
        self.weight = Parameter(zeros(1, self.order, dtype=dtype, device=device))
        self.bias = Parameter(zeros(1, dtype=dtype, device=device)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Draw the coefficients and the intercept from U(-1/sqrt(p), 1/sqrt(p))."""
        bound = 1.0 / math.sqrt(self.order)
        for p in self.parameters():
            init.uniform_(p, -bound, bound, rng=rng)

    def forward(self, lags: Tensor) -> Tensor:
        if not isinstance(lags, Tensor) or lags.ndim == 0 or lags.shape[-1] != self.order:
            shape = lags.shape if isinstance(lags, Tensor) else type(lags).__name__
            raise ShapeError(f"AR: the input must be a delay line (*, p) = (*, {self.order}) of past values, "
                             f"newest first, got {shape}")
        return F.linear(lags, self.weight, self.bias)[..., 0]

    def forecast(self, history: Any, steps: int) -> Tensor:
        """Closed-loop forecast of the next ``steps`` values after ``history`` (*, T), T >= p: (*, steps)."""
        steps = positive_int(steps, "steps", "AR.forecast")
        history = _as_like(history, self.weight)
        if history.ndim == 0 or history.shape[-1] < self.order:
            raise ShapeError(f"AR.forecast: history must be (*, T) with T >= order={self.order}, "
                             f"got {history.shape}")
        line = history[..., ::-1][..., :self.order]  # the delay line, newest first
        predictions = []
        for _ in range(steps):
            y = self(line)
            predictions.append(y)
            line = F.unsqueeze(y, -1) if self.order == 1 else F.cat([F.unsqueeze(y, -1), line[..., :-1]], axis=-1)
        return F.stack(predictions, axis=-1)

    @classmethod
    def fit(cls, series: Any, order: int, *, bias: bool = True, dtype: Any = None) -> AR:
        r"""An AR(p) whose coefficients minimise :math:`\sum_t (y_t - \hat y_t)^2` over the series (lstsq)."""
        lags, z = lagged_design_matrix(series, order)
        xp = backend.get_array_module(lags)
        design = xp.concatenate([lags, xp.ones_like(lags[:, :1])], axis=1) if bias else lags
        coef = xp.linalg.lstsq(design.astype(_np.float64), z.astype(_np.float64), rcond=None)[0]
        dtype = lags.dtype if dtype is None and lags.dtype.kind == "f" else dtype
        device = backend.device_of(lags)
        # a throwaway generator: the random init is overwritten, so leave the default stream alone
        model = cls(order, bias=bias, dtype=dtype, device=device, rng=backend.Generator(0, device=device))
        model.weight.data[0] = coef[:order]
        if bias:
            model.bias.data[0] = coef[order]
        return model

    def extra_repr(self) -> str:
        return f"order={self.order}" + ("" if self.bias is not None else ", bias=False")


__all__ = ["AR", "NARXCell", "lagged_design_matrix"]
