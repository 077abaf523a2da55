"""What a generator costs: parameters, and multiply-accumulates (MACs) of one forward pass at a size.

MACs are counted with forward hooks on every Conv2d and ConvTranspose2d, the layers that hold all
but a negligible share of the arithmetic (norms, activations and pads add O(activations), not
O(activations x kernel x channels)).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int  # of one image's forward pass


def conv_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """MACs of one call: each output of a conv sums in_channels/groups x kh x kw products; each input
    of a transposed conv is spread over out_channels/groups x kh x kw outputs.

    weight[0] holds exactly that many weights for both: Conv2d weights are (out, in/groups, kh, kw),
    ConvTranspose2d weights (in, out/groups, kh, kw).
    """
    per_element = module.weight[0].numel()
    if isinstance(module, nn.ConvTranspose2d):
        return inputs[0].numel() * per_element
    return output.numel() * per_element


def generator_cost(net: nn.Module, height: int, width: int | None = None, channels: int = 3) -> Cost:
    """Parameters of `net` and MACs of its forward pass on one channels x height x width image."""
    macs = 0

    def count(module, inputs, output):
        nonlocal macs
        macs += conv_macs(module, inputs, output)

    hooks = [m.register_forward_hook(count) for m in net.modules()
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            net(torch.zeros(1, channels, height, width or height))
    finally:
        for hook in hooks:
            hook.remove()
    return Cost(sum(p.numel() for p in net.parameters()), macs)
