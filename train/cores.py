"""The CPU cores a training process may use now: its default torch threads and its loader workers.

More compute threads than free cores cost far more than they gain: a thread that waits for a busy
core holds up every parallel op it takes part in (docs/training.md#threads-and-workers has the figures).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def allowed_cores() -> int:
    """The cores this process may run on (its affinity mask, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_load(loadavg: str | None = None) -> float:
    """The machine's 1-minute load average (runnable processes), or 0 where /proc/loadavg is unreadable."""
    try:
        text = Path("/proc/loadavg").read_text() if loadavg is None else loadavg
        return max(0.0, float(text.split()[0]))
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass(frozen=True)
class Cores:
    allowed: int  # cores this process may run on
    busy: float  # of those, how many others keep busy (the load average, at most `allowed`)
    processes: int = 1  # training processes sharing them (torchrun's LOCAL_WORLD_SIZE)

    @property
    def free(self) -> int:
        """Threads for each training process: the cores nobody else uses, shared out, at least 1."""
        return max(1, round(self.allowed - self.busy) // self.processes)

    def describe(self, threads: int) -> str:
        """A phrase for the start line: 'threads 1 (2 cores, 1.2 busy)'."""
        return f"threads {threads} ({self.allowed} cores, {self.busy:.1f} busy)"


def cores_now(loadavg: str | None = None, allowed: int | None = None, environ=None) -> Cores:
    """This machine's cores as a new training process finds them."""
    environ = os.environ if environ is None else environ
    allowed = allowed or allowed_cores()
    machine = os.cpu_count() or allowed
    # The load average counts the whole machine: the busy part of our cores is what is left after the
    # cores outside our mask took their share.
    busy = min(float(allowed), max(0.0, machine_load(loadavg) - (machine - allowed)))
    try:
        processes = max(1, int(environ.get("LOCAL_WORLD_SIZE", 1)))
    except ValueError:
        processes = 1
    return Cores(allowed, busy, processes)


def loader_workers(requested: int, cores: Cores) -> int:
    """Worker processes for the data loader: as asked, but never more than the cores (PyTorch warns, and
    extra workers only compete with the training threads)."""
    return min(requested, cores.allowed)


def default_threads(cores: Cores, environ=None) -> int:
    """torch threads when --threads is 0: OMP_NUM_THREADS where the user (or torchrun) set it, else the free cores."""
    environ = os.environ if environ is None else environ
    try:
        return max(1, int(environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return cores.free
