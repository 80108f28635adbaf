r"""RTRL vs truncated BPTT on an on-line task, and what each costs as the network grows.

The task: a stream of random inputs x_t ~ U(-1, 1) and the target y_t = x_{t-d} (the input d steps
ago, 0 before the stream has that much history). A tanh RNNCell with a linear read-out,

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   y_hat_t = V h_t + c,

must hold the last d inputs in its state. The same initial weights learn it three ways, each with Adam:

* RTRL (Williams & Zipser): carries P_t = dh_t/dtheta forward and updates after EVERY step with the
  exact gradient of that step's loss through the whole past (lucidnn.train.RTRL);
* BPTT(k2; 1): also an update every step, the gradient flowing back at most k2 steps
  (truncated_bptt with k1 = 1: the notes' "truncation depth h");
* BPTT(k2; k2): an update every k2 steps on the windows' mean loss, no overlap.

The costs, with n = H units and about n^2 recurrent weights: RTRL's P_t is H x n_params, memory
O(n^3), and W_hh P_{t-1} costs O(n^4) per step whatever the stream length; BPTT costs O(n^2) per
step and per step of history it keeps, and full BPTT's memory grows with the sequence length T.
Tables: the learning result, the time per step and peak memory against H, and the peak memory of
full BPTT against T. Times are wall-clock (without tracing); peak memory comes from separate runs
under tracemalloc (which follows NumPy's allocations) and counts what the learner allocates.

Run: ``python examples/rtrl_vs_bptt.py`` (a minute or two); ``--quick`` for a few seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import lucidnn
from lucidnn import nn, optim
from lucidnn.train import RTRL, bptt, rtrl, truncated_bptt


def delayed_stream(steps: int, delay: int, seed: int) -> tuple:
    """Inputs (T, 1, 1) uniform in [-1, 1) and targets y_t = x_{t-delay} (0 for t < delay), float32 Tensors."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(steps, 1, 1)).astype(np.float32)
    y = np.zeros_like(x)
    y[delay:] = x[:-delay]
    return lucidnn.tensor(x), lucidnn.tensor(y)


def new_cell(hidden: int, seed: int) -> nn.RNNCell:
    return nn.RNNCell(1, hidden, output_size=1, rng=lucidnn.Generator(seed))


def learners(k2: int) -> dict[str, Callable]:
    """name -> ``learn(cell, x, y, lr)`` that trains the cell on-line over the stream and returns step losses."""
    def by_rtrl(cell, x, y, lr):
        return RTRL(cell, nn.MSELoss(), optim.Adam(cell.parameters(), lr=lr)).run(x, y).step_losses

    def by_bptt(k1):
        def learn(cell, x, y, lr):
            return truncated_bptt(nn.Recurrent(cell), x, y, nn.MSELoss(), optim.Adam(cell.parameters(), lr=lr),
                                  k1=k1, k2=k2, reduction="mean").step_losses
        return learn

    return {"RTRL (update every step)": by_rtrl, f"BPTT({k2};1) (every step)": by_bptt(1),
            f"BPTT({k2};{k2}) (every {k2} steps)": by_bptt(k2)}


def test_mse(cell: nn.RNNCell, x: lucidnn.Tensor, y: lucidnn.Tensor) -> float:
    """MSE of the frozen cell on a fresh stream (no updates)."""
    with lucidnn.no_grad():
        out, _ = nn.Recurrent(cell)(x)
    return float(((out.numpy() - y.numpy()) ** 2).mean())


def peak_memory(fn: Callable[[], object]) -> float:
    """Peak bytes allocated (traced) while ``fn`` runs, in MiB."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def compare_learning(args: argparse.Namespace) -> dict:
    x, y = delayed_stream(args.stream, args.delay, args.seed)
    x_test, y_test = delayed_stream(args.test_stream, args.delay, args.seed + 1)
    x_mem, y_mem = delayed_stream(args.memory_steps, args.delay, args.seed)
    rows = {}
    for name, learn in learners(args.k2).items():
        cell = new_cell(args.hidden, args.seed)
        losses, seconds = timed(lambda: learn(cell, x, y, args.lr))  # noqa: B023 (called at once)
        memory = peak_memory(lambda: learn(new_cell(args.hidden, args.seed), x_mem, y_mem, args.lr))  # noqa: B023
        tail = max(1, len(losses) // 10)
        rows[name] = {"first_loss": float(np.mean(losses[:tail])), "final_loss": float(np.mean(losses[-tail:])),
                      "test_mse": test_mse(cell, x_test, y_test), "seconds": seconds,
                      "ms_per_step": 1e3 * seconds / args.stream, "peak_mib": memory}
    baseline = float((y_test.numpy() ** 2).mean())
    tail = max(1, args.stream // 10)
    print(f"\nOn-line learning of y_t = x_(t-{args.delay}), RNNCell(1, {args.hidden}) + read-out, Adam lr {args.lr}, "
          f"a stream of {args.stream} steps (predicting 0: MSE {baseline:.4f})")
    print(f"{'learner':28s} {'loss first/last ' + str(tail):>24s} {'test MSE':>9s} {'wall s':>7s} "
          f"{'ms/step':>8s} {'peak MiB':>9s}")
    for name, r in rows.items():
        print(f"{name:28s} {r['first_loss']:11.4f} -> {r['final_loss']:8.5f} {r['test_mse']:9.5f} "
              f"{r['seconds']:7.2f} {r['ms_per_step']:8.3f} {r['peak_mib']:9.3f}")
    print(f"(peak memory: tracemalloc over a {args.memory_steps}-step run; it does not grow with the stream "
          "for these on-line learners)")
    return {"rows": rows, "baseline_mse": baseline}


def scaling_in_hidden(args: argparse.Namespace) -> dict:
    """Time per step and peak memory of each learner for each hidden size."""
    x, y = delayed_stream(args.scale_steps, args.delay, args.seed)
    # the memory of these learners stops growing once the BPTT window is full: trace a short run
    memory_steps = min(args.scale_steps, 2 * args.k2 + 5)
    table = {}
    for hidden in args.sizes:
        row = {"n_params": sum(p.numel() for n, p in new_cell(hidden, 0).named_parameters()
                               if not n.startswith("readout"))}
        for name, learn in learners(args.k2).items():
            learn(new_cell(hidden, args.seed), x[:2], y[:2], args.lr)  # warm-up: first-call costs out of the timing
            _, seconds = timed(lambda: learn(new_cell(hidden, args.seed), x, y, args.lr))  # noqa: B023
            memory = peak_memory(lambda: learn(new_cell(hidden, args.seed), x[:memory_steps],  # noqa: B023
                                               y[:memory_steps], args.lr))
            row[name] = {"ms_per_step": 1e3 * seconds / args.scale_steps, "peak_mib": memory}
        table[hidden] = row
    names = list(learners(args.k2))
    print(f"\nCost against the hidden size H (time over {args.scale_steps} steps, memory over {memory_steps}): "
          "ms per step | peak MiB")
    print(f"{'H':>5s} {'params':>7s} " + " ".join(f"{n.split(' (')[0]:>22s}" for n in names))
    for hidden, row in table.items():
        cells = " ".join(f"{row[n]['ms_per_step']:9.3f} | {row[n]['peak_mib']:8.3f}" for n in names)
        print(f"{hidden:5d} {row['n_params']:7d} {cells}")
    if len(args.sizes) >= 2:
        h1, h2 = args.sizes[-2:]
        for n in names:
            t1, t2 = table[h1][n]["ms_per_step"], table[h2][n]["ms_per_step"]
            m1, m2 = table[h1][n]["peak_mib"], table[h2][n]["peak_mib"]
            span = math.log(h2 / h1)
            print(f"  {n.split(' (')[0]:14s} from H={h1} to H={h2}: time x{t2 / t1:.1f} "
                  f"(H^{math.log(t2 / t1) / span:.1f}), memory x{m2 / m1:.1f} (H^{math.log(m2 / m1) / span:.1f})")
    return table


def memory_in_length(args: argparse.Namespace) -> dict:
    """Peak memory of one full-BPTT gradient and of RTRL's (no updates) for growing sequence lengths T."""
    table = {}
    for steps in args.lengths:
        x, y = delayed_stream(steps, args.delay, args.seed)
        table[steps] = {
            "full BPTT": peak_memory(lambda: bptt(nn.Recurrent(new_cell(args.memory_hidden, 0)), x, y,  # noqa: B023
                                                  nn.MSELoss())),
            "RTRL": peak_memory(lambda: rtrl(new_cell(args.memory_hidden, 0), x, y, nn.MSELoss())),  # noqa: B023
        }
    print(f"\nPeak memory (MiB) of one gradient over a sequence of T steps, H = {args.memory_hidden}:")
    print(f"{'T':>6s} {'full BPTT':>10s} {'RTRL':>8s}")
    for steps, row in table.items():
        print(f"{steps:6d} {row['full BPTT']:10.3f} {row['RTRL']:8.3f}")
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", type=int, default=3000, help="steps of the training stream (3000)")
    parser.add_argument("--test-stream", type=int, default=1000, help="steps of the held-out stream (1000)")
    parser.add_argument("--delay", type=int, default=2, help="d in y_t = x_(t-d) (2)")
    parser.add_argument("--hidden", type=int, default=16, help="H of the learning comparison (16)")
    parser.add_argument("--k2", type=int, default=10, help="BPTT truncation depth (10)")
    parser.add_argument("--lr", type=float, default=0.003, help="Adam learning rate of every learner (0.003)")
    parser.add_argument("--sizes", default="8,16,32,64,128,256", help="hidden sizes of the cost table")
    parser.add_argument("--scale-steps", type=int, default=30, help="steps timed per hidden size (30)")
    parser.add_argument("--lengths", default="100,200,400,800", help="sequence lengths of the memory table")
    parser.add_argument("--memory-hidden", type=int, default=32, help="H of the memory table (32)")
    parser.add_argument("--memory-steps", type=int, default=200, help="steps of the traced runs (200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few seconds' version for the tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.stream, args.test_stream, args.scale_steps, args.memory_steps = 300, 200, 10, 30
        args.sizes, args.lengths, args.memory_hidden = "4,8", "20,40", 8
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        args.lengths = [int(s) for s in args.lengths.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes and --lengths take comma-separated integers")
    for name in ("stream", "test_stream", "delay", "hidden", "k2", "scale_steps", "memory_hidden", "memory_steps"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if not args.sizes or not args.lengths or min(args.sizes + args.lengths) <= 0:
        parser.error("--sizes and --lengths need at least one positive integer each")
    if args.delay >= min(args.stream, args.test_stream):
        parser.error(f"--delay {args.delay} must be shorter than the streams")
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the three comparisons, print their tables and return their numbers."""
    args = parse_args(argv)
    return {"learning": compare_learning(args), "hidden": scaling_in_hidden(args), "length": memory_in_length(args)}


if __name__ == "__main__":
    main(sys.argv[1:])
