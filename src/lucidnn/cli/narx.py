"""``lucidnn narx``: identify Narendra & Parthasarathy's nonlinear plant with a NARX network.

Simulates y[n+1] = y[n] / (1 + y[n]^2) + u[n]^3 on a uniform random input, trains a NARX network
open loop (series-parallel, the true past outputs in its delay line), then predicts a held-out
sum-of-sines input one step ahead (open loop) and as a free-running simulator (closed loop, its
own predictions fed back). Prints both errors and writes narx.png, metrics.json and the trained
weights (model.safetensors) into --out. The work is in :mod:`lucidnn.algorithms.system_id`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP_narx = "identify the plant y[n+1] = y[n]/(1+y[n]^2) + u[n]^3 with a NARX network (open and closed loop)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(h <= 0 for h in sizes):
        raise argparse.ArgumentTypeError(f"give comma-separated positive integers such as 32 or 16,16, got {text!r}")
    return sizes


def add_arguments_narx(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=_positive_int, default=2000, help="length of the training record (2000)")
    parser.add_argument("--test-steps", type=_positive_int, default=1000, help="length of the test record (1000)")
    parser.add_argument("--epochs", type=_positive_int, default=2000, help="full-batch Adam steps (2000)")
    parser.add_argument("--hidden", type=_hidden_sizes, default=(32,), metavar="SIZES",
                        help="hidden layer sizes of the NARX MLP, comma-separated (32)")
    parser.add_argument("--input-delays", type=_positive_int, default=2,
                        help="q, input taps u[n] .. u[n-q+1] (2)")
    parser.add_argument("--output-delays", type=_positive_int, default=2,
                        help="p, fed-back outputs y[n] .. y[n-p+1] (2)")
    parser.add_argument("--nonlinearity", choices=["tanh", "relu", "sigmoid"], default="tanh",
                        help="hidden activation (tanh; relu leaves the initial plateau sooner)")
    parser.add_argument("--lr", type=_positive_float, default=0.02, help="Adam learning rate (0.02)")
    parser.add_argument("--schedule", choices=["cosine", "none"], default="cosine",
                        help="learning-rate schedule over the epochs (cosine)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the input and the weights (0)")
    parser.add_argument("--out", default="runs/narx", help="output directory (runs/narx)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_narx(args: Any) -> None:
    import sys  # noqa: PLC0415

    from lucidnn import serialization  # noqa: PLC0415
    from lucidnn.algorithms.system_id import identify_plant, plot_identification  # noqa: PLC0415
    from lucidnn.train.callbacks import write_json_atomic  # noqa: PLC0415

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a directory")
    result = identify_plant(steps=args.steps, test_steps=args.test_steps, epochs=args.epochs,
                            hidden_sizes=args.hidden, input_delays=args.input_delays,
                            output_delays=args.output_delays, nonlinearity=args.nonlinearity, lr=args.lr,
                            schedule=args.schedule, seed=args.seed, progress=not args.no_progress)
    out.mkdir(parents=True, exist_ok=True)
    errors = result.errors
    n_params = sum(p.numel() for p in result.fit.cell.parameters())
    print(f"NARX ({n_params} parameters, q={args.input_delays}, p={args.output_delays}, hidden "
          f"{','.join(map(str, args.hidden))}) trained open loop on {args.steps} steps for {args.epochs} epochs "
          f"in {result.fit.wall_time:.1f} s: final training MSE {result.fit.losses[-1]:.3g}")
    print(f"test ({args.test_steps} steps of sines):")
    for mode, label in (("open", "open loop (one step ahead)"), ("closed", "closed loop (free run)"),
                        ("zeros", "predicting zeros")):
        print(f"  {label:28s} RMSE {errors[mode]['rmse']:.4f}  NMSE {errors[mode]['nmse']:.3e}")
    serialization.save({"model": result.fit.cell.state_dict(), "config": result.config}, out / "model.safetensors")
    write_json_atomic(out / "metrics.json", {
        "errors": errors, "final_train_mse": float(result.fit.losses[-1]), "wall_time_s": result.fit.wall_time,
        "train_mse": result.fit.losses.tolist(), "config": result.config,
        "command": "lucidnn " + " ".join(sys.argv[1:]) if sys.argv else None})
    written = [out / "model.safetensors", out / "metrics.json"]
    try:
        written.append(plot_identification(result, out / "narx.png"))
    except ImportError as exc:
        print(f"no picture: {exc}")
    print("wrote " + ", ".join(map(str, written)))
