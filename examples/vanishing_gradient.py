r"""The vanishing gradient, made visible: how much of the last step's error reaches each earlier state.

A tanh RNN and an LSTM of the same size read the same random sequences (T = 100 steps); the loss is
taken on the LAST step only, L = MSE(h_{T-1}, target), and lucidnn.train.hidden_gradient_norms
returns ||dL/dh_t|| for every t. Backwards in time the signal is multiplied by the step Jacobian,

    tanh RNN:  dL/dh_{t-1} = W_hh^T diag(1 - h_t^2) dL/dh_t,

a contraction when the spectral radius of W_hh times tanh' is below 1 (PyTorch's init draws W_hh from
U(-1/sqrt(H), 1/sqrt(H)), radius about 0.58), so ||dL/dh_t|| decays geometrically in T-1-t. The LSTM
carries an additive path through its cell state, dL/dc_{t-1} = f_t * dL/dc_t + ..., which decays only
as fast as the forget gate f closes: at PyTorch's default init f = sigmoid(~0) = 0.5 and the LSTM fades
almost as fast as the RNN. The trick of Gers et al. / Jozefowicz et al. of a positive forget-gate bias
(f = sigmoid(b_f) close to 1: the constant error carousel) is what keeps the error alive, and a
trained LSTM learns such gates where it needs memory. Extra curves show forget biases +1 and +3.

Every curve is the mean over a few random input sequences and targets (float64: the RNN's norms fall
below 1e-20), drawn on a log scale. The ratio norm[0] / norm[-1] is printed for each model.

Run: ``python examples/vanishing_gradient.py --out runs/vanishing_gradient.png`` (a few seconds);
``--quick`` runs a shorter version.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import lucidnn
from lucidnn import nn
from lucidnn.train import hidden_gradient_norms


def make_cells(input_size: int, hidden: int, forget_biases: list[float], seed: int) -> dict:
    """The models compared: name -> cell, all with PyTorch's default init from the same seed."""
    cells = {"tanh RNN": nn.RNNCell(input_size, hidden, dtype="float64", rng=lucidnn.Generator(seed)),
             "LSTM (PyTorch init)": nn.LSTMCell(input_size, hidden, dtype="float64", rng=lucidnn.Generator(seed))}
    for bias in forget_biases:
        cell = nn.LSTMCell(input_size, hidden, dtype="float64", rng=lucidnn.Generator(seed))
        cell.bias_ih.data[hidden:2 * hidden] += bias  # rows i, f, g, o: the second block is the forget gate
        cells[f"LSTM, forget bias +{bias:g}"] = cell
    return cells


def gradient_curves(cells: dict, steps: int, batch: int, sequences: int, seed: int) -> dict:
    """name -> mean over ``sequences`` random draws of ||dL/dh_t||, t = 0 .. steps-1 (loss on the last step)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(sequences):
        x = rng.standard_normal((steps, batch, next(iter(cells.values())).input_size))
        y = rng.standard_normal((steps, batch, next(iter(cells.values())).hidden_size))
        draws.append((x, lucidnn.tensor(y)))
    return {name: np.mean([hidden_gradient_norms(cell, x, y, nn.MSELoss(), loss_steps="last") for x, y in draws],
                          axis=0)
            for name, cell in cells.items()}


def plot(curves: dict, path: Path, hidden: int) -> Path:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise SystemExit("the picture needs matplotlib: pip install lucidnn[plot]") from None
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for name, norms in curves.items():
        ax.semilogy(np.arange(len(norms)), norms, lw=1.8,
                    label=f"{name}  (norm[0]/norm[-1] = {norms[0] / norms[-1]:.1e})")
    ax.set(xlabel="time step t (the loss is on the last step)", ylabel=r"$\|\partial L / \partial h_t\|$",
           title=f"Vanishing gradient: error signal of the last step reaching h_t (H = {hidden})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="sequence length T (100)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden size H of both models (32)")
    parser.add_argument("--input-size", type=int, default=8, help="input features I (8)")
    parser.add_argument("--batch", type=int, default=8, help="sequences per draw (8)")
    parser.add_argument("--sequences", type=int, default=5, help="random draws averaged (5)")
    parser.add_argument("--forget-biases", default="1,3",
                        help="extra LSTM curves with these forget-gate biases added, comma-separated ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/vanishing_gradient.png", help="PNG path")
    parser.add_argument("--quick", action="store_true", help="a short version (T = 30, 2 draws) for the tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.sequences, args.batch = 30, 2, 4
    for name in ("steps", "hidden", "input_size", "batch", "sequences"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    try:
        args.forget_biases = [float(b) for b in args.forget_biases.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--forget-biases: give comma-separated numbers, got {args.forget_biases!r}")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Compute, print and draw the curves; returns {name: norms} and the ratios."""
    args = parse_args(argv)
    cells = make_cells(args.input_size, args.hidden, args.forget_biases, args.seed)
    curves = gradient_curves(cells, args.steps, args.batch, args.sequences, args.seed + 1)
    print(f"||dL/dh_t|| with the loss on the last of T = {args.steps} steps, H = {args.hidden}, "
          f"mean of {args.sequences} draws of {args.batch} sequences:")
    ratios = {}
    for name, norms in curves.items():
        ratios[name] = float(norms[0] / norms[-1])
        print(f"  {name:28s} norm[-1] {norms[-1]:.3e}  norm[0] {norms[0]:.3e}  norm[0]/norm[-1] {ratios[name]:.3e}")
    path = plot(curves, Path(args.out), args.hidden)
    print(f"wrote {path}")
    return {"curves": curves, "ratios": ratios, "png": path}


if __name__ == "__main__":
    main(sys.argv[1:])
