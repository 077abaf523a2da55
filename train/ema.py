"""An exponential moving average (EMA) of a generator's weights.

GAN training makes the generator's weights wander around a good solution from step to step; the
average over recent steps sits closer to it. The average is what samples, reports and exports use;
training itself goes on with the raw weights.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn


class WeightAverage:
    """EMA of `net`'s parameters (buffers are copied as they are).

    The decay ramps up as (1 + n) / (10 + n) over the first updates, so the average is not held back
    by the initial weights in short runs.
    """

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.updates += 1
        weight = 1 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, param in zip(self.net.parameters(), net.parameters()):
            average.lerp_(param.detach().to(average.dtype), weight)
        for average, buffer in zip(self.net.buffers(), net.buffers()):
            average.copy_(buffer)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "net": self.net.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.net.load_state_dict(state["net"])
