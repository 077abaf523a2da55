"""The timers of the benchmarks: the median time of several calls after warm-up calls."""
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


def median_wall_and_cpu_seconds(fn: Callable[[], object], repeats: int = 3) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process's) of the same `repeats` calls: one set
    of calls for both clocks, so a case that takes minutes per call runs once. Warm up before calling."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: time at least one call")
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median wall seconds of each function, timed in rounds (one call of each per round), so that a
    change of load on a shared machine hits every function alike and their ratios stay fair."""
    return interleaved_wall_and_cpu(fns, repeats, warmup)[0]


def interleaved_wall_and_cpu(fns: dict[str, Callable[[], object]], repeats: int = 5,
                             warmup: int = 1) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall seconds and median CPU seconds (this process's) of each function, from the same calls
    made in interleaved rounds (see interleaved_medians)."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: time at least one call")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    return ({name: statistics.median(t) for name, t in wall.items()},
            {name: statistics.median(t) for name, t in cpu.items()})
