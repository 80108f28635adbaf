"""Helpers shared by the side-by-side benchmarks: a training-step closure, timing and the report line."""

import statistics
import time


def time_steps(step, steps: int, rounds: int, warmup: int = 2) -> float:
    """Median seconds per call of ``step`` over ``rounds`` rounds of ``steps`` calls, after warm-up."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


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
    """Check that both steps start from the same loss, time each (NumPy BLAS at ``threads``), print the ratio."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        first_ours = ours()
    first_theirs = theirs()
    assert abs(first_ours - first_theirs) <= rtol * max(1.0, abs(first_theirs)), (name, first_ours, first_theirs)
    with threadpool_limits(limits=threads):
        t_ours = time_steps(ours, steps, rounds)
    t_theirs = time_steps(theirs, steps, rounds)
    print(f"{name:<36} lucidnn {samples / t_ours:>8,.0f} samples/s ({t_ours * 1e3:6.2f} ms/step)   "
          f"torch {samples / t_theirs:>8,.0f} samples/s ({t_theirs * 1e3:6.2f} ms/step)   "
          f"lucidnn/torch speed {t_theirs / t_ours:.2f}x" + (f"   [{note}]" if note else ""))
