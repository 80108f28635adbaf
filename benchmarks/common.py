"""Helpers shared by the side-by-side benchmarks: a training-step closure, timing and the report line."""

import statistics
import time

#: seconds of rest before each round, so that the other library's worker threads (OpenBLAS's
#: and OpenMP's spin-wait after their last task) are parked and do not steal a core
PAUSE = 0.5


def timing_arguments(parser, steps: int) -> None:
    """Add the options every benchmark shares: --steps per round, --rounds, --threads (2)."""
    parser.add_argument("--steps", type=int, default=steps, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per library, alternating")
    parser.add_argument("--threads", type=int, default=2)


def time_steps(step, steps: int, rounds: int, warmup: int = 2) -> float:
    """Median seconds per call of ``step`` over ``rounds`` rounds of ``steps`` calls, after warm-up."""
    for _ in range(warmup):
        step()
    return statistics.median(_round(step, steps) for _ in range(rounds))


def _round(step, steps: int) -> float:
    """Seconds per call of ``step`` over ``steps`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def training_step(model, loss_fn, optimizer, x, y):
    """One training step as a closure returning the loss: forward, loss, zero_grad, backward, step.

    The same code serves lucidnn and PyTorch, whose Module/optimizer APIs agree here.
    """

    def step():
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def compare(name: str, samples: int, ours, theirs, *, steps: int, rounds: int, threads: int, rtol: float = 1e-3,
            note: str = "") -> None:
    """Check that both steps start from the same loss, time both, print samples/s and the speed ratio.

    The rounds alternate (lucidnn, PyTorch, lucidnn, ...) so that both libraries see the same
    load on this shared machine; the ratio printed is the median of the per-round ratios, the
    times the medians of each library's rounds. NumPy's BLAS runs at ``threads`` threads.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        first_ours = ours()
    first_theirs = theirs()
    assert abs(first_ours - first_theirs) <= rtol * max(1.0, abs(first_theirs)), (name, first_ours, first_theirs)
    with threadpool_limits(limits=threads):
        for _ in range(2):  # warm-up
            ours()
    for _ in range(2):
        theirs()
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        time.sleep(PAUSE)
        with threadpool_limits(limits=threads):
            t_ours.append(_round(ours, steps))
        time.sleep(PAUSE)
        t_theirs.append(_round(theirs, steps))
    ratio = statistics.median(b / a for a, b in zip(t_ours, t_theirs))
    t_ours, t_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    print(f"{name:<36} lucidnn {samples / t_ours:>8,.0f} samples/s ({t_ours * 1e3:6.2f} ms/step)   "
          f"torch {samples / t_theirs:>8,.0f} samples/s ({t_theirs * 1e3:6.2f} ms/step)   "
          f"lucidnn/torch speed {ratio:.2f}x" + (f"   [{note}]" if note else ""))
