"""Helpers shared by the side-by-side benchmarks."""

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
