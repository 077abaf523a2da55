"""`--precision auto` measures: the run's own generator and discriminator, at its own batch and crop,
through forward and backward passes in each precision the device computes natively.

Whether bf16 beats fp32 depends on the size as much as on the hardware (small convolutions can run
slower in bf16 on a CPU that has it), so a rule from the CPU's flags alone can pick the slower one.
"""
from __future__ import annotations

import statistics
import time
from typing import Sequence

import torch

from .config import TrainConfig
from .trainer import build_nets

# Timed passes of each precision, interleaved so that a change of load hits all alike: at least
# MIN_ROUNDS, and more while they take under BUDGET_S in all (small nets: a median of many is steadier).
MIN_ROUNDS, MAX_ROUNDS, BUDGET_S = 3, 25, 2.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PassTimer:
    """Times one training-like pass (G forward, D on its output, backward through both) per call."""

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # leave the run's seeds be
            nets = build_nets(config)
            self.x = torch.randn(config.batch_size, config.input_nc, config.crop_size, config.crop_size)
        self.G, self.D = nets["G"].to(device), nets["D_Y"].to(device)
        self.x = self.x.to(device)
        if config.channels_last:
            self.G, self.D = (net.to(memory_format=torch.channels_last) for net in (self.G, self.D))
            self.x = self.x.to(memory_format=torch.channels_last)

    @property
    def size(self) -> str:
        c = self.config
        return f"{c.crop_size}x{c.crop_size}, batch {c.batch_size}"

    def seconds(self, precision: str) -> float:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        for net in (self.G, self.D):
            net.zero_grad(set_to_none=True)
        _sync(self.device)
        start = time.perf_counter()
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            score = self.D(self.G(self.x))
        score.float().mean().backward()
        _sync(self.device)
        return time.perf_counter() - start

    def measure(self, names: Sequence[str]) -> tuple[dict[str, float], str]:
        """The median seconds per pass of each precision (after one untimed pass of each), and the size."""
        for name in names:
            self.seconds(name)
        times: dict[str, list[float]] = {name: [] for name in names}
        start = time.perf_counter()
        for round_ in range(MAX_ROUNDS):
            if round_ >= MIN_ROUNDS and time.perf_counter() - start > BUDGET_S:
                break
            for name in names:
                times[name].append(self.seconds(name))
        return {name: statistics.median(t) for name, t in times.items()}, self.size


def measure_precisions(config: TrainConfig, device: torch.device):
    """A `measure` for resolve_precision: builds the nets only when there is a choice to make."""
    def measure(names: Sequence[str]) -> tuple[dict[str, float], str]:
        return PassTimer(config, device).measure(names)
    return measure
