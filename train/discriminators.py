"""Discriminators D_X and D_Y: PatchGAN variants (official key layout) and the Torch imageGAN."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as nnf

from .layers import conv_bias, norm_layer, zero_started_pixel_net

COLOUR_JUDGE_WIDTH = 16  # channels of the per-pixel colour judge (Discriminator.add_colour_judge)


class Discriminator(nn.Module):
    """Base of every discriminator: `self.model` (or `self.net`) scores an image, patch by patch.

    With `add_colour_judge`, a per-pixel judge (1x1 convs, no normalization) scores each pixel's
    colour, and its scores, averaged over each patch, are added to the patch scores. Instance norm
    inside the patch judge removes each feature map's mean and contrast from the second layer on,
    which hides much of a global colour cast from it; the colour judge sees absolute colours, as the
    generators' colour map does (docs/recipe.md). It starts at zero, so the discriminator starts as
    the official one, whose keys stay unchanged; the judge adds only `colour_judge.` weights.
    """

    def __init__(self):
        super().__init__()
        self.colour_judge: nn.Module | None = None

    def add_colour_judge(self, input_nc: int) -> None:
        self.colour_judge = zero_started_pixel_net(input_nc, COLOUR_JUDGE_WIDTH, 1)

    def judge(self, x: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """`scores` of the spatial judge, plus the colour judge's per-pixel scores averaged per patch."""
        if self.colour_judge is None:
            return scores
        return scores + nnf.adaptive_avg_pool2d(self.colour_judge(x), scores.shape[-2:])


class NLayerDiscriminator(Discriminator):
    """PatchGAN: n_layers stride-2 convs then two stride-1 convs; n_layers=3 is the 70x70 'basic'."""

    def __init__(self, input_nc=3, ndf=64, n_layers=3, norm="instance"):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_fn(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.judge(x, self.model(x))


class PixelDiscriminator(Discriminator):
    """1x1 PatchGAN: judges every pixel on its own."""

    def __init__(self, input_nc=3, ndf=64, norm="instance"):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_fn(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.judge(x, self.net(x))


class ImageDiscriminator(Discriminator):
    """The original Torch CycleGAN's imageGAN: seven stride-2 convs, averaged to one score per image.

    At 256x256 the last conv leaves a 2x2 map; it is averaged, so any input side that is a
    multiple of 128 gives an N x 1 x 1 x 1 output.
    """

    side_multiple = 128

    def __init__(self, input_nc=3, ndf=64, norm="instance"):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        widths = [ndf, ndf * 2, ndf * 4, ndf * 8, ndf * 8, ndf * 8, 1]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([input_nc] + widths[:-1], widths)):
            first, last = i == 0, i == len(widths) - 1
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or first or last))
            if not (first or last):
                layers.append(norm_fn(c_out))
            if not last:
                layers.append(nn.LeakyReLU(0.2, True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.judge(x, self.model(x).mean(dim=(2, 3), keepdim=True))
