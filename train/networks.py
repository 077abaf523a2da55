"""Registries of generators and discriminators (name -> builder) and the two public doors."""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn as nn

from .discriminators import ImageDiscriminator, NLayerDiscriminator, PixelDiscriminator
from .generators import EncoderDecoderGenerator, ResnetGenerator, UnetGenerator
from .layers import init_weights


# Builders take (input_nc, output_nc, ngf, norm, dropout, padding); each net carries its side_multiple.
GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks": lambda i, o, ngf, norm, dropout, padding: ResnetGenerator(i, o, ngf, norm, dropout, 9, padding),
    "resnet_6blocks": lambda i, o, ngf, norm, dropout, padding: ResnetGenerator(i, o, ngf, norm, dropout, 6, padding),
    "unet_256": lambda i, o, ngf, norm, dropout, padding: UnetGenerator(i, o, ngf, norm, dropout, 8),
    "unet_128": lambda i, o, ngf, norm, dropout, padding: UnetGenerator(i, o, ngf, norm, dropout, 7),
    "encoder_decoder": lambda i, o, ngf, norm, dropout, padding: EncoderDecoderGenerator(i, o, ngf, norm, dropout),
}

# Builders take (input_nc, ndf, n_layers, norm).
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "basic": lambda i, ndf, n_layers, norm: NLayerDiscriminator(i, ndf, 3, norm),
    "n_layers": lambda i, ndf, n_layers, norm: NLayerDiscriminator(i, ndf, n_layers, norm),
    "pixel": lambda i, ndf, n_layers, norm: PixelDiscriminator(i, ndf, norm),
    "imageGAN": lambda i, ndf, n_layers, norm: ImageDiscriminator(i, ndf, norm),
}

# Spellings from the seed brief and the original Torch code, accepted on every door.
ALIASES = {"unet256": "unet_256", "unet128": "unet_128", "image": "imageGAN"}
GENERATOR_CHOICES = (*GENERATORS, *(alias for alias, name in ALIASES.items() if name in GENERATORS))
DISCRIMINATOR_CHOICES = (*DISCRIMINATORS, *(alias for alias, name in ALIASES.items() if name in DISCRIMINATORS))


def _resolve(name: str, registry: dict, kind: str) -> str:
    canonical = ALIASES.get(name, name)
    if canonical not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(registry)}")
    return canonical


def generator_name(name: str) -> str:
    """Canonical registry name for a generator name or alias (raises with the valid names)."""
    return _resolve(name, GENERATORS, "generator")


def discriminator_name(name: str) -> str:
    """Canonical registry name for a discriminator name or alias (raises with the valid names)."""
    return _resolve(name, DISCRIMINATORS, "discriminator")


def side_multiple(generator: str) -> int:
    """The multiple a generator's input height and width must respect, as its class says."""
    return _side_multiple(generator_name(generator))


@functools.cache
def _side_multiple(name: str) -> int:
    with torch.device("meta"):  # a net of one filter, without memory or compute
        return GENERATORS[name](1, 1, 1, "instance", False, "reflect").side_multiple


def input_problem(net: nn.Module, channels: int, height: int, width: int) -> str | None:
    """Why `net` cannot take a 1 x channels x height x width input (the first line of what a layer
    raises), or None when it can. A net built on the meta device checks at no memory or compute."""
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            net(torch.zeros(1, channels, height, width, device=device))
    except (RuntimeError, ValueError) as e:  # a pad wider than its input, a norm over one element, ...
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return None


SIDES_TRIED = 32  # smallest_side looks this many multiples far


def smallest_side(net: nn.Module, channels: int, multiple: int) -> int | None:
    """The smallest square side, a multiple of `multiple`, that `net` takes (None when none of the
    first SIDES_TRIED does)."""
    return next((side for side in range(multiple, multiple * (SIDES_TRIED + 1), multiple)
                 if input_problem(net, channels, side, side) is None), None)


def create_generator(name: str, input_nc: int = 3, output_nc: int = 3, ngf: int = 64,
                     norm: str = "instance", dropout: bool = False, init: str = "normal",
                     init_gain: float = 0.02, padding: str = "reflect", residual: bool = False,
                     pointwise: bool = False, spatial_filter: int = 0) -> nn.Module:
    """Build and initialize a registered generator; `residual`: output = input + a learned change,
    starting as the identity, with a per-pixel colour map when `pointwise` and a zero-sum filter of
    side `spatial_filter` (generators.Generator)."""
    net = GENERATORS[generator_name(name)](input_nc, output_nc, ngf, norm, dropout, padding)
    init_weights(net, init, init_gain)
    if residual:
        net.make_residual(input_nc, output_nc, pointwise, spatial_filter)
    return net


def create_discriminator(name: str, input_nc: int = 3, ndf: int = 64, n_layers: int = 3,
                         norm: str = "instance", init: str = "normal", init_gain: float = 0.02,
                         colour_judge: bool = False) -> nn.Module:
    """Build and initialize a registered discriminator; `colour_judge` adds a per-pixel colour judge
    that starts at zero (discriminators.Discriminator)."""
    net = init_weights(DISCRIMINATORS[discriminator_name(name)](input_nc, ndf, n_layers, norm), init, init_gain)
    if colour_judge:
        net.add_colour_judge(input_nc)
    return net
