r"""System identification with a NARX network: Narendra & Parthasarathy's nonlinear plant.

The plant (their Example 2 with a cubic input nonlinearity) is a first-order difference equation,

.. math:: y_{n+1} = \frac{y_n}{1 + y_n^2} + u_n^3 .

A NARX network :math:`\hat y_{n+1} = \text{MLP}(u_n, \dots, u_{n-q+1};\ y_n, \dots, y_{n-p+1})` is
fitted to a record of (u, y) *open loop* (series-parallel: the delay line holds the true past
outputs, so the whole record is one batched regression) and then checked on a held-out input of
another kind two ways:

* **open loop** (one-step-ahead): each prediction sees the true past outputs;
* **closed loop** (parallel, a simulator): the network feeds back its own predictions, so errors
  can accumulate; this is what a model of the plant is for.

Errors are the RMSE and the normalised MSE, :math:`\text{NMSE} = \overline{(y - \hat y)^2} /
\operatorname{var}(y)` (1 for predicting the mean, more than 1 for predicting zeros).

In :class:`~lucidnn.nn.NARXCell`'s indexing a step t takes :math:`u_t` and predicts the output that
follows it, so the cell's target series is :math:`z_t = y_{t+1}` and its output delay line starts
with :math:`z_{-1} = y_0`.

Reference: Narendra and Parthasarathy, "Identification and control of dynamical systems using
neural networks", IEEE Trans. Neural Networks 1(1), 1990; course notes, "输入-输出递归模型 (NARX 模型)".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lucidnn import backend, nn, optim
from lucidnn import functional as F
from lucidnn.autograd.grad_mode import no_grad
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import NonFiniteError
from lucidnn.optim.lr_scheduler import CosineAnnealingLR

_np = backend.numpy


def narendra_plant(y: Any, u: Any) -> Any:
    r"""One step of the plant, :math:`y_{n+1} = y_n / (1 + y_n^2) + u_n^3` (NumPy arrays or floats)."""
    return y / (1.0 + y * y) + u * u * u


def _positive(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, _np.integer)):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value}")
    return int(value)


def _series(values: Any, name: str, where: str, length: int | None = None) -> Any:
    """A 1-D float64 NumPy copy of ``values`` with at least one (or exactly ``length``) finite entries."""
    if isinstance(values, Tensor):
        values = values.numpy()
    elif backend.is_array(values):
        values = backend.to_numpy(values)
    array = _np.asarray(values, dtype=_np.float64)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"{where}: {name} must be a 1-D series with at least one value, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{where}: {name} has {array.shape[0]} values but {length} are needed")
    if not _np.all(_np.isfinite(array)):
        raise ValueError(f"{where}: {name} holds NaN or infinite values")
    return array


def simulate_plant(u: Any, y0: float = 0.0, plant: Callable[[Any, Any], Any] = narendra_plant) -> Any:
    r"""Run a first-order plant :math:`y_{n+1} = \text{plant}(y_n, u_n)` over an input series.

    Args:
        u: the input series u_0 .. u_{T-1}, 1-D.
        y0: the initial output y_0 (0.0).
        plant: the one-step map ``plant(y_n, u_n) -> y_{n+1}`` (:func:`narendra_plant`).

    Returns:
        float64 NumPy array (T+1,): y_0 .. y_T, so ``y[n + 1]`` is the output that follows ``u[n]``.
    """
    u = _series(u, "u", "simulate_plant")
    y = _np.empty(u.shape[0] + 1)
    y[0] = float(y0)
    for n in range(u.shape[0]):  # a recurrence: each output needs the previous one
        y[n + 1] = plant(y[n], u[n])
    return y


def random_input(steps: int, *, low: float = -1.0, high: float = 1.0, rng: backend.Generator | None = None) -> Any:
    """Independent uniform draws in [low, high): a training input that excites every frequency.

    Returns a float64 NumPy array (steps,).
    """
    steps = _positive(steps, "steps", "random_input")
    rng = rng if rng is not None else backend.default_generator()
    return backend.to_numpy(rng.uniform((steps,), low=low, high=high, dtype=backend.float64))


def sinusoid_input(steps: int, *, periods: Sequence[float] = (250.0, 25.0),
                   amplitudes: Sequence[float] = (0.6, 0.4)) -> Any:
    r"""A sum of sines, :math:`u_n = \sum_k a_k \sin(2\pi n / P_k)`: a held-out test input.

    The default, :math:`0.6 \sin(2\pi n/250) + 0.4 \sin(2\pi n/25)`, follows Narendra & Parthasarathy's
    test signal scaled to stay inside the [-1, 1] range of :func:`random_input`.
    Returns a float64 NumPy array (steps,).
    """
    steps = _positive(steps, "steps", "sinusoid_input")
    if len(periods) != len(amplitudes) or not periods:
        raise ValueError(f"sinusoid_input: give as many amplitudes as periods (at least one), got "
                         f"{len(periods)} periods and {len(amplitudes)} amplitudes")
    n = _np.arange(steps, dtype=_np.float64)
    return sum(a * _np.sin(2 * math.pi * n / p) for p, a in zip(periods, amplitudes))


def rmse(prediction: Any, target: Any) -> float:
    """Root mean squared error between two series of the same length."""
    target = _series(target, "target", "rmse")
    prediction = _series(prediction, "prediction", "rmse", target.shape[0])
    return float(_np.sqrt(_np.mean((prediction - target) ** 2)))


def nmse(prediction: Any, target: Any) -> float:
    r"""Normalised MSE, :math:`\overline{(\hat y - y)^2} / \operatorname{var}(y)`; the target must vary."""
    target = _series(target, "target", "nmse")
    prediction = _series(prediction, "prediction", "nmse", target.shape[0])
    variance = float(target.var())
    if variance == 0.0:
        raise ValueError("nmse: the target is constant, so its variance (the normaliser) is 0")
    return float(_np.mean((prediction - target) ** 2) / variance)


# --------------------------------------------------------------------------- fitting and prediction


def _column(series: Any, dtype: Any) -> Tensor:
    return Tensor(series.reshape(-1, 1, 1).astype(dtype))  # (T, N=1, 1)


def _initial_state(cell: Any, y0: float, dtype: Any) -> tuple:
    """Delay lines before the first step: past inputs 0, the newest past output y_0 (older ones 0)."""
    y_line = _np.zeros((1, cell.output_delays, 1), dtype=dtype)
    y_line[0, 0, 0] = y0
    return Tensor(_np.zeros((1, cell.input_delays, 1), dtype=dtype)), Tensor(y_line)


@dataclass
class NARXFit:
    """What :func:`fit_narx` returns.

    Attributes:
        cell: the trained :class:`~lucidnn.nn.NARXCell` (left in open loop).
        losses: the open-loop training MSE of every epoch, a NumPy array (epochs,).
        wall_time: seconds spent training.
    """

    cell: Any
    losses: Any
    wall_time: float


def fit_narx(u: Any, y: Any, *, input_delays: int = 2, output_delays: int = 2, hidden_sizes: Sequence[int] = (32,),
             nonlinearity: str = "tanh", epochs: int = 2000, lr: float = 0.02, schedule: str = "cosine",
             rng: backend.Generator | None = None, progress: bool = False) -> NARXFit:
    r"""Fit a NARX network to a plant record, open loop (series-parallel), full-batch Adam.

    Every epoch is one :meth:`~lucidnn.nn.NARXCell.run` over the record with the true outputs in the
    delay line (one MLP call over all T steps) and one Adam step on the MSE

    .. math:: L = \frac1T \sum_{n=0}^{T-1} \big(\hat y_{n+1} - y_{n+1}\big)^2 .

    A tanh network usually sits on a plateau (the best near-linear fit) for a few hundred epochs
    before it picks up the cubic; ``nonlinearity='relu'`` leaves it sooner, tanh ends smoother.

    Args:
        u: the input record u_0 .. u_{T-1}, 1-D.
        y: the outputs y_0 .. y_T (T+1 values, as :func:`simulate_plant` returns them).
        input_delays, output_delays: q and p of the NARX cell (2, 2).
        hidden_sizes: the MLP's hidden layers ((32,)).
        nonlinearity: ``'tanh'`` (default), ``'relu'`` or ``'sigmoid'``.
        epochs: full-batch Adam steps (2000).
        lr: Adam's learning rate (0.02).
        schedule: ``'cosine'`` (default: anneal to 0 over the epochs) or ``'none'``.
        rng: Generator for the initial weights (default: the default generator).
        progress: show a tqdm progress bar (False).

    Returns:
        :class:`NARXFit`.

    Raises:
        NonFiniteError: the loss became NaN or infinite (the learning rate is too high).
    """
    u = _series(u, "u", "fit_narx")
    y = _series(y, "y", "fit_narx", u.shape[0] + 1)
    epochs = _positive(epochs, "epochs", "fit_narx")
    if not lr > 0:
        raise ValueError(f"fit_narx: lr must be positive, got {lr}")
    if schedule not in ("cosine", "none"):
        raise ValueError(f"fit_narx: schedule must be 'cosine' or 'none', got {schedule!r}")
    dtype = backend.float32
    cell = nn.NARXCell(1, 1, input_delays=input_delays, output_delays=output_delays, hidden_sizes=hidden_sizes,
                       nonlinearity=nonlinearity, rng=rng).open_loop()
    inputs, targets = _column(u, dtype), _column(y[1:], dtype)
    state = _initial_state(cell, y[0], dtype)
    optimizer = optim.Adam(cell.parameters(), lr=lr)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs) if schedule == "cosine" else None
    losses = _np.empty(epochs)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=epochs, desc="NARX open loop", unit="epoch")
    start = time.perf_counter()
    try:
        for epoch in range(epochs):
            prediction, _ = cell.run(inputs, targets, state)
            loss = F.mse_loss(prediction, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses[epoch] = loss.item()
            if not math.isfinite(losses[epoch]):
                raise NonFiniteError(f"fit_narx: the training loss became {losses[epoch]} at epoch {epoch + 1}; "
                                     "lower the learning rate")
            if bar is not None:
                bar.update()
                if epoch % 50 == 0 or epoch == epochs - 1:
                    bar.set_postfix(loss=f"{losses[epoch]:.3g}")
    finally:
        if bar is not None:
            bar.close()
    return NARXFit(cell, losses, time.perf_counter() - start)


def predict_narx(cell: Any, u: Any, y: Any) -> dict[str, Any]:
    """One-step-ahead (open-loop) and free-run (closed-loop) predictions of a NARX cell over a record.

    Args:
        cell: a SISO :class:`~lucidnn.nn.NARXCell` (I = O = 1). Its mode is restored afterwards.
        u: inputs u_0 .. u_{T-1}; y: the true outputs y_0 .. y_T (y_0 starts both runs; open loop
            also reads y_1 .. y_{T-1}, closed loop never does).

    Returns:
        ``{"open": array (T,), "closed": array (T,)}``, float64 predictions of y_1 .. y_T.
    """
    if getattr(cell, "input_size", None) != 1 or getattr(cell, "output_size", None) != 1:
        raise ValueError("predict_narx: the cell must be a NARXCell with one input and one output (I = O = 1)")
    u = _series(u, "u", "predict_narx")
    y = _series(y, "y", "predict_narx", u.shape[0] + 1)
    dtype = cell.mlp[0].weight.dtype
    inputs = _column(u, dtype)
    mode = cell.mode
    try:
        with no_grad():
            opened, _ = cell.open_loop().run(inputs, _column(y[1:], dtype), _initial_state(cell, y[0], dtype))
            closed, _ = cell.closed_loop().run(inputs, None, _initial_state(cell, y[0], dtype))
    finally:
        cell.set_mode(mode)
    return {"open": opened.numpy().reshape(-1).astype(_np.float64),
            "closed": closed.numpy().reshape(-1).astype(_np.float64)}


@dataclass
class Identification:
    """The outcome of :func:`identify_plant`.

    Attributes:
        fit: the :class:`NARXFit` (cell, per-epoch losses, wall time).
        u_train, y_train: the training record (T,) and (T+1,).
        u_test, y_test: the held-out record.
        predictions: ``{"open": (T_test,), "closed": (T_test,)}`` predictions of ``y_test[1:]``.
        errors: ``{"open": {"rmse", "nmse"}, "closed": {...}, "zeros": {...}}``; ``zeros`` is the
            baseline of predicting 0 everywhere.
        config: the settings used.
    """

    fit: NARXFit
    u_train: Any
    y_train: Any
    u_test: Any
    y_test: Any
    predictions: dict
    errors: dict
    config: dict = field(default_factory=dict)


def errors_of(predictions: dict, target: Any) -> dict[str, dict[str, float]]:
    """RMSE and NMSE of each prediction, plus the predict-zeros baseline."""
    target = _series(target, "target", "errors_of")
    table = {name: {"rmse": rmse(p, target), "nmse": nmse(p, target)} for name, p in predictions.items()}
    table["zeros"] = {"rmse": rmse(_np.zeros_like(target), target), "nmse": nmse(_np.zeros_like(target), target)}
    return table


def identify_plant(*, steps: int = 2000, test_steps: int = 1000, epochs: int = 2000,
                   hidden_sizes: Sequence[int] = (32,), input_delays: int = 2, output_delays: int = 2,
                   nonlinearity: str = "tanh", lr: float = 0.02,
                   schedule: str = "cosine", seed: int = 0, progress: bool = False) -> Identification:
    """The whole experiment: simulate, fit open loop on a random input, predict both ways on sines.

    Training input: :func:`random_input` (uniform in [-1, 1], seeded by ``seed``); test input:
    :func:`sinusoid_input`; both start from y_0 = 0. Arguments are those of :func:`fit_narx` plus
    the record lengths ``steps`` (training) and ``test_steps``.
    """
    steps = _positive(steps, "steps", "identify_plant")
    test_steps = _positive(test_steps, "test_steps", "identify_plant")
    u_train = random_input(steps, rng=backend.Generator(seed))
    y_train = simulate_plant(u_train)
    u_test = sinusoid_input(test_steps)
    y_test = simulate_plant(u_test)
    fit = fit_narx(u_train, y_train, input_delays=input_delays, output_delays=output_delays,
                   hidden_sizes=hidden_sizes, nonlinearity=nonlinearity, epochs=epochs, lr=lr, schedule=schedule,
                   rng=backend.Generator(seed + 1), progress=progress)
    predictions = predict_narx(fit.cell, u_test, y_test)
    config = {"steps": steps, "test_steps": test_steps, "epochs": epochs, "hidden_sizes": list(hidden_sizes),
              "input_delays": input_delays, "output_delays": output_delays, "nonlinearity": nonlinearity, "lr": lr,
              "schedule": schedule, "seed": seed}
    return Identification(fit, u_train, y_train, u_test, y_test, predictions, errors_of(predictions, y_test[1:]),
                          config)


def plot_identification(result: Identification, path: str | Path, *, show_steps: int | None = None) -> Path:
    """Draw the training loss and true vs predicted test outputs (open and closed loop) into a PNG.

    Args:
        result: an :class:`Identification`.
        path: the PNG file; its directory is created.
        show_steps: plot only the first this many test steps (None: all).

    Returns:
        The path written. Needs matplotlib (``pip install lucidnn[plot]``).
    """
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise ImportError("plot_identification needs matplotlib: pip install lucidnn[plot]") from None
    path = Path(path)
    target = result.y_test[1:]
    count = target.shape[0] if show_steps is None else min(int(show_steps), target.shape[0])
    n = _np.arange(1, count + 1)
    fig, axes = plt.subplots(4, 1, figsize=(10, 11.5))
    axes[0].semilogy(_np.arange(1, result.fit.losses.shape[0] + 1), result.fit.losses)
    axes[0].set(title="open-loop training MSE", xlabel="epoch", ylabel="MSE")
    labels = {"open": "open loop (one step ahead, true past outputs)",
              "closed": "closed loop (own predictions fed back)"}
    for ax, mode in zip(axes[1:3], ("open", "closed")):
        err = result.errors[mode]
        ax.plot(n, target[:count], "k-", lw=1.5, label="plant y")
        ax.plot(n, result.predictions[mode][:count], "r--", lw=1.2, label="NARX prediction")
        ax.set(title=f"{labels[mode]}: RMSE {err['rmse']:.4f}, NMSE {err['nmse']:.2e}", xlabel="n", ylabel="y")
        ax.legend(loc="upper right", fontsize=8)
        axes[3].plot(n, result.predictions[mode][:count] - target[:count], lw=1, label=f"{mode} loop")
    axes[3].set(title="prediction error (NARX - plant)", xlabel="n", ylabel="error")
    axes[3].legend(loc="upper right", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(r"NARX identification of $y_{n+1} = y_n/(1+y_n^2) + u_n^3$, test input "
                 r"$0.6\sin(2\pi n/250) + 0.4\sin(2\pi n/25)$", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["Identification", "NARXFit", "errors_of", "fit_narx", "identify_plant", "narendra_plant", "nmse",
           "plot_identification", "predict_narx", "random_input", "rmse", "simulate_plant", "sinusoid_input"]
