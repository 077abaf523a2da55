"""How long a run will take, said once after its first steps, with what to do when that is long.

The estimate is the steps left times the mean time of the steps timed so far, after a few warm-up
steps (allocation, kernel choice, loader start-up) that are not typical. Timing goes on for at least
TIMED_STEPS steps and TIMED_S seconds, so that fast steps are averaged over many; the slowest timed
step is left out (a checkpoint or a sample grid that happened to fall among them).
"""
from __future__ import annotations

import time
from typing import Callable

from .config import PRESETS, TrainConfig

WARMUP_STEPS = 3  # first steps of a process, not timed
TIMED_STEPS = 10  # steps timed before the estimate is given, at least ...
TIMED_S = 20.0  # ... and at least this long
LONG_RUN_S = 3600  # beyond this, the estimate line names the quick preset


def duration(seconds: float) -> str:
    """'42s', '7m40s', '260h42m'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def quick_preset_trade() -> str:
    """What --preset quick changes, from its settings."""
    q = PRESETS["quick"]
    return (f"--preset quick trains {q['generator']} with {q['ngf']} filters on {q['crop_size']}-pixel crops for "
            f"{q['max_steps']:,} steps: minutes on a CPU, for coarser detail at lower resolution")


class Pace:
    """Feed it each finished step; once, after the warm-up and the timed steps, it returns the lines to say."""

    def __init__(self, config: TrainConfig, first_step: int, total: int,
                 clock: Callable[[], float] = time.perf_counter, long_run_s: float = LONG_RUN_S,
                 timed_s: float = TIMED_S):
        self.config, self.first_step, self.total = config, first_step, total
        self.clock, self.long_run_s, self.timed_s = clock, long_run_s, timed_s
        self.times: list[float] = []  # clock at the end of each step after the warm-up
        self.said = False

    def step_done(self, step: int) -> list[str]:
        """Lines to print after `step` ([] almost always)."""
        if self.said or step - self.first_step < WARMUP_STEPS:
            return []
        self.times.append(self.clock())
        if len(self.times) <= TIMED_STEPS or self.times[-1] - self.times[0] < self.timed_s:
            return []
        self.said = True
        if step >= self.total:
            return []
        left = self.estimate_left(step)
        steps = f"{self.total - step:,} more step" + ("s" if self.total - step > 1 else "")
        lines = [f"cgan-train: about {duration(left)} left for {steps} "
                 f"({self.seconds_per_step():.3g} s/step, timed over steps {step - len(self.times) + 2}-{step})"]
        if left > self.long_run_s and self.config.preset != "quick":
            lines.append(f"cgan-train: that is long for this device; {quick_preset_trade()}")
        return lines

    def seconds_per_step(self) -> float:
        """The mean time of the steps timed so far, less the slowest."""
        steps = sorted(b - a for a, b in zip(self.times, self.times[1:]))[:-1]
        return sum(steps) / len(steps)

    def estimate_left(self, step: int) -> float:
        """Seconds until the last step, from the end of `step`."""
        return (self.total - step) * self.seconds_per_step()
