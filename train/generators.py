"""Generators G: X->Y and F: Y->X.

Module structure (and so state_dict keys) matches the official pytorch-CycleGAN-and-pix2pix
networks, so their checkpoints load unchanged. `encoder_decoder` comes from the original
Torch CycleGAN. Every generator class carries `side_multiple`: the factor its input height and
width must be a multiple of for the output to have the input's size.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as tf

from .layers import conv_bias, norm_layer, zero_started_pixel_net

PADDINGS = ("reflect", "replicate", "zero")
POINTWISE_WIDTH = 16  # channels of the per-pixel colour map of residual generators


class Generator(nn.Module):
    """Base of every generator: `self.model` maps an image to its translation.

    A residual generator (`make_residual`) outputs the input plus a change, clamped to [-1, 1].
    The change is twice what `self.model` outputs (its tanh spans [-1, 1]), so any output can be
    reached from any input, plus, with `pointwise`, a per-pixel colour map of the input (1x1
    convs, no normalization): instance norm hides each picture's absolute colours from
    `self.model`, and the per-pixel map sees them; and, with `spatial_filter` k, a k x k filter of
    each channel of the input whose taps sum to zero (a blur, a sharpening, fine local contrast
    are such filters, less the identity), so that it changes detail and leaves colours to the
    colour map. All start at zero, so a residual generator starts as the identity and learns only
    the change. `self.model` keeps the official module tree, so official checkpoints load into
    plain generators unchanged.
    """

    def __init__(self):
        super().__init__()
        self.residual = False
        self.pointwise: nn.Module | None = None
        self.spatial_filter: nn.Conv2d | None = None

    def make_residual(self, input_nc: int, output_nc: int, pointwise: bool, spatial_filter: int = 0) -> None:
        """Turn this freshly initialized generator into a residual one that starts as the identity."""
        self.residual = True
        if pointwise:
            self.pointwise = zero_started_pixel_net(input_nc, POINTWISE_WIDTH, output_nc)
        if spatial_filter:
            self.spatial_filter = nn.Conv2d(output_nc, output_nc, spatial_filter, groups=output_nc, bias=False)
            nn.init.zeros_(self.spatial_filter.weight)
        last = [m for m in self.model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if not self.residual:
            return out
        same_channels = match_channels(x, out.shape[1])
        change = 2 * out if self.pointwise is None else 2 * out + self.pointwise(x)
        if self.spatial_filter is not None:
            change = change + self.filtered(same_channels)
        return (same_channels + change).clamp(-1, 1)

    def filtered(self, x: torch.Tensor) -> torch.Tensor:
        """The spatial filter's change of `x`: each channel through its taps less their mean (so a flat
        picture is left alone), the border mirrored."""
        taps = self.spatial_filter.weight
        side = taps.shape[-1] // 2
        return tf.conv2d(tf.pad(x, (side, side, side, side), mode="reflect"),
                         taps - taps.mean(dim=(2, 3), keepdim=True), groups=x.shape[1])

    def map_colours(self, pixels: torch.Tensor) -> torch.Tensor:
        """What the per-pixel colour map alone makes of a bag of pixels (N, C): clamp(pixel + map(pixel))."""
        if self.pointwise is None:
            raise ValueError("only a residual generator with a colour map (pointwise) maps colours on their own")
        row = pixels.T.contiguous()[None, :, None, :]  # one picture 1 pixel high (a column is far slower)
        mapped = match_channels(row, self.pointwise[-1].out_channels) + self.pointwise(row)
        return mapped.clamp(-1, 1)[0, :, 0, :].T


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """`x` (channels on dim 1: images or bags of pixels) with `channels` channels: grey repeated to RGB,
    RGB averaged to grey, else unchanged."""
    if x.shape[1] == channels:
        return x
    return x.expand(-1, channels, *x.shape[2:]) if x.shape[1] == 1 else x.mean(1, keepdim=True)


def _pad(padding: str, size: int) -> tuple[list[nn.Module], int]:
    """Explicit pad layer (reflect/replicate) or the conv's own zero padding."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding == "zero":
        return [], size
    raise ValueError(f"unknown padding {padding!r}; choose one of: {', '.join(PADDINGS)}")


class ResnetBlock(nn.Module):
    """conv-norm-relu-(dropout)-conv-norm with a skip connection."""

    def __init__(self, dim: int, padding: str, norm: str, dropout: bool):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        pad, p = _pad(padding, 1)
        layers = [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_fn(dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_fn(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(Generator):
    """Johnson et al.: 7x7 conv, two stride-2 downsamplings, n residual blocks, two upsamplings."""

    side_multiple = 4

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="instance", dropout=False,
                 n_blocks=9, padding="reflect"):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        _pad(padding, 0)  # validate the name before building anything
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias),
                                   norm_fn(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1, bias=bias), norm_fn(c * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, padding, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_fn(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)


class UnetBlock(nn.Module):
    """One U-Net level: down, the inner levels, up; its output is concatenated with its input."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, norm="instance", dropout=False):
        super().__init__()
        self.outermost = outermost
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_fn(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_fn(inner_nc), submodule,
                      nn.ReLU(True), upconv, norm_fn(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # Not in-place: the LeakyReLU at the start of self.model would otherwise overwrite x.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(Generator):
    """U-Net with `num_downs` stride-2 levels, so the input side must be a multiple of 2**num_downs."""

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="instance", dropout=False, num_downs=8):
        super().__init__()
        self.side_multiple = 2**num_downs
        block = UnetBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)


class EncoderDecoderGenerator(Generator):
    """The original Torch CycleGAN's encoder-decoder: the unet_256 shape without skip connections."""

    side_multiple = 256

    def __init__(self, input_nc=3, output_nc=3, ngf=64, norm="instance", dropout=False):
        super().__init__()
        norm_fn, bias = norm_layer(norm), conv_bias(norm)
        widths = [ngf, ngf * 2, ngf * 4] + [ngf * 8] * 5
        down: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([input_nc] + widths[:-1], widths)):
            first, last = i == 0, i == len(widths) - 1
            down += ([] if first else [nn.LeakyReLU(0.2, True)])
            down.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or first or last))
            down += ([] if first or last else [norm_fn(c_out)])
        up_widths = widths[::-1][1:] + [output_nc]
        up: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[::-1], up_widths)):
            last = i == len(up_widths) - 1
            up += [nn.ReLU(True), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=bias or last)]
            up += ([] if last else [norm_fn(c_out)])
            up += ([nn.Dropout(0.5)] if dropout and i < 3 else [])
        self.model = nn.Sequential(*down, *up, nn.Tanh())
