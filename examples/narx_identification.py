r"""Identify a nonlinear dynamic plant with a NARX network, then let the network run on its own.

The plant (Narendra & Parthasarathy, 1990):

    y[n+1] = y[n] / (1 + y[n]^2) + u[n]^3

1. Excite it with a random input u[n] ~ U(-1, 1) and record y (2000 steps, y[0] = 0).
2. Fit a NARX network  y_hat[n+1] = MLP(u[n], u[n-1]; y[n], y[n-1])  OPEN LOOP (series-parallel):
   the delay line holds the plant's true past outputs, so training is a plain regression over the
   record (one batched MLP call per epoch) by full-batch Adam on the MSE.
3. On a held-out input of another kind, u[n] = 0.6 sin(2 pi n/250) + 0.4 sin(2 pi n/25), predict
   * open loop: one step ahead from the true past outputs, and
   * closed loop (parallel): from its own past predictions only, as a simulator of the plant would;
     errors now feed back, so this is the real test of the identified model.
4. Print RMSE and NMSE = MSE / var(y) of both (predicting zeros scores NMSE ~ 1) and draw a PNG.

The same experiment is ``lucidnn narx``; the pieces live in lucidnn.algorithms.system_id.

Run: ``python examples/narx_identification.py --out runs/narx_identification.png`` (about ten seconds);
``--quick`` runs a short version.
"""

from __future__ import annotations

import argparse
import sys

import lucidnn
from lucidnn.algorithms.system_id import (
    Identification,
    errors_of,
    fit_narx,
    plot_identification,
    predict_narx,
    random_input,
    simulate_plant,
    sinusoid_input,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training record length (2000)")
    parser.add_argument("--test-steps", type=int, default=1000, help="test record length (1000)")
    parser.add_argument("--epochs", type=int, default=2000, help="full-batch Adam steps (2000)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units of the MLP (32)")
    parser.add_argument("--input-delays", type=int, default=2, help="q (2)")
    parser.add_argument("--output-delays", type=int, default=2, help="p (2)")
    parser.add_argument("--nonlinearity", default="tanh", choices=["tanh", "relu", "sigmoid"])
    parser.add_argument("--lr", type=float, default=0.02, help="Adam learning rate, cosine-annealed (0.02)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/narx_identification.png", help="PNG path")
    parser.add_argument("--quick", action="store_true", help="a short version (relu, 400 steps, 200 epochs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.test_steps, args.epochs, args.nonlinearity, args.lr = 400, 300, 200, "relu", 0.03
    for name in ("steps", "test_steps", "epochs", "hidden", "input_delays", "output_delays"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    return args


def main(argv: list[str] | None = None) -> Identification:
    args = parse_args(argv)

    # 1. the data: a random training input, a sum of sines for the test, both from y[0] = 0
    u_train = random_input(args.steps, rng=lucidnn.Generator(args.seed))
    y_train = simulate_plant(u_train)  # y[0] .. y[T]
    u_test = sinusoid_input(args.test_steps)
    y_test = simulate_plant(u_test)
    print(f"plant record: {args.steps} training steps (u uniform in [-1, 1]), {args.test_steps} test steps (sines); "
          f"y in [{y_train.min():.2f}, {y_train.max():.2f}]")

    # 2. open-loop (series-parallel) training
    fit = fit_narx(u_train, y_train, input_delays=args.input_delays, output_delays=args.output_delays,
                   hidden_sizes=(args.hidden,), nonlinearity=args.nonlinearity, epochs=args.epochs, lr=args.lr,
                   rng=lucidnn.Generator(args.seed + 1))
    n_params = sum(p.numel() for p in fit.cell.parameters())
    print(f"trained a NARX network ({n_params} weights, q={args.input_delays}, p={args.output_delays}, "
          f"{args.hidden} {args.nonlinearity} units) open loop for {args.epochs} epochs in {fit.wall_time:.1f} s; "
          f"training MSE {fit.losses[0]:.3g} -> {fit.losses[-1]:.3g}")

    # 3. predictions on the held-out input, both ways
    predictions = predict_narx(fit.cell, u_test, y_test)
    errors = errors_of(predictions, y_test[1:])
    for mode, label in (("open", "open loop, one step ahead"), ("closed", "closed loop, free run"),
                        ("zeros", "baseline: predicting zeros")):
        print(f"  {label:28s} RMSE {errors[mode]['rmse']:.4f}   NMSE {errors[mode]['nmse']:.3e}")

    # 4. the picture
    result = Identification(fit, u_train, y_train, u_test, y_test, predictions, errors, vars(args))
    try:
        print(f"wrote {plot_identification(result, args.out)}")
    except ImportError as exc:
        print(f"no picture: {exc}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
