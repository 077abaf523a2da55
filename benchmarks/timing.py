"""The one timer of the benchmarks: the median wall time of several calls after warm-up calls."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of `repeats` calls of `fn`, after `warmup` untimed calls. `clock` is wall time;
    `time.process_time` gives this process's CPU seconds instead (steadier on a shared machine)."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: time at least one call")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)
