"""Timing one-pass work (a trained network's forward pass) for the benchmark and the report."""
from __future__ import annotations

import time


def timed(fn, *args, repeats: int = 5, **kwargs):
    """The output of `fn(*args, **kwargs)` and the median wall time of `repeats` calls after a warm-up."""
    out = fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    times.sort()
    return out, times[len(times) // 2]
