"""Normalization choices and weight initialization shared by every network."""
from __future__ import annotations

import functools
from typing import Callable

import torch.nn as nn

NORMS = ("instance", "batch", "none")
INITS = ("normal", "xavier", "kaiming", "orthogonal")


def norm_layer(name: str) -> Callable[[int], nn.Module]:
    """Return a builder `channels -> module` for the named normalization.

    Instance norm follows the official CycleGAN: no affine parameters and no running
    statistics, so its state_dict holds nothing and eval equals train behaviour.
    """
    if name == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if name == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if name == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {name!r}; choose one of: {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Convs followed by batch norm carry no bias (the norm's shift replaces it)."""
    return norm != "batch"


def init_weights(net: nn.Module, init: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialize conv/linear weights as the official CycleGAN does; biases to zero."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init_module)
    return net


def zero_started_pixel_net(input_nc: int, width: int, output_nc: int) -> nn.Sequential:
    """Three 1x1 convs (leaky ReLU, no normalization) whose last one is zeroed: a per-pixel map of
    colours that outputs 0 until it learns, so a net it is added to starts as it was."""
    net = nn.Sequential(nn.Conv2d(input_nc, width, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, width, 1),
                        nn.LeakyReLU(0.2), nn.Conv2d(width, output_nc, 1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net
