"""CycleGAN losses as pure functions that return every named term.

The training step, the log and the tests all read the same dict, so a number in log.jsonl is
exactly the number that was back-propagated. Generator terms come weighted; `total` is their sum.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as tf

Loss = Callable[[torch.Tensor], torch.Tensor]


def _mse_to(target: float) -> Loss:
    return lambda pred: tf.mse_loss(pred, torch.full_like(pred, target))


def _bce_to(target: float) -> Loss:
    return lambda pred: tf.binary_cross_entropy_with_logits(pred, torch.full_like(pred, target))


@dataclass(frozen=True)
class GanLoss:
    """How one GAN mode scores discriminator outputs (any shape: PatchGAN maps or 1x1)."""

    generator: Loss  # the generator wants its fakes judged real
    real: Loss  # the discriminator wants reals judged real ...
    fake: Loss  # ... and fakes judged fake
    gradient_penalty: float = 0.0  # weight of the WGAN-GP penalty on the discriminator; 0: none


GAN_LOSSES: dict[str, GanLoss] = {
    "lsgan": GanLoss(generator=_mse_to(1.0), real=_mse_to(1.0), fake=_mse_to(0.0)),
    "vanilla": GanLoss(generator=_bce_to(1.0), real=_bce_to(1.0), fake=_bce_to(0.0)),
    "wgangp": GanLoss(generator=lambda p: -p.mean(), real=lambda p: -p.mean(), fake=lambda p: p.mean(),
                      gradient_penalty=10.0),
    "hinge": GanLoss(generator=lambda p: -p.mean(), real=lambda p: tf.relu(1.0 - p).mean(),
                     fake=lambda p: tf.relu(1.0 + p).mean()),
}


def gan_loss(name: str) -> GanLoss:
    if name not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of: {', '.join(GAN_LOSSES)}")
    return GAN_LOSSES[name]


class CycleImages(NamedTuple):
    """One step's images. Identity images are None when the identity loss is off."""

    real_x: torch.Tensor
    real_y: torch.Tensor
    fake_y: torch.Tensor  # G(x)
    rec_x: torch.Tensor  # F(G(x))
    fake_x: torch.Tensor  # F(y)
    rec_y: torch.Tensor  # G(F(y))
    idt_y: torch.Tensor | None = None  # G(y)
    idt_x: torch.Tensor | None = None  # F(x)


def generator_loss(images: CycleImages, d_y_on_fake_y: torch.Tensor, d_x_on_fake_x: torch.Tensor,
                   gan: str = "lsgan", lambda_x: float = 10.0, lambda_y: float = 10.0,
                   lambda_identity: float = 0.5,
                   matching: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda_x |F(G(x)) - x| + lambda_y |G(F(y)) - y|
    + lambda_identity (lambda_y |G(y) - y| + lambda_x |F(x) - x|), each term weighted as it enters the total;
    `matching` adds terms computed elsewhere (already weighted), such as `colour_match_terms`."""
    mode = gan_loss(gan)
    terms = {
        "gan_G": mode.generator(d_y_on_fake_y),
        "gan_F": mode.generator(d_x_on_fake_x),
        "cycle_X": lambda_x * tf.l1_loss(images.rec_x, images.real_x),
        "cycle_Y": lambda_y * tf.l1_loss(images.rec_y, images.real_y),
    }
    if lambda_identity > 0:
        if images.idt_x is None or images.idt_y is None:
            raise ValueError("lambda_identity > 0 needs the identity images G(y) and F(x)")
        terms["idt_X"] = lambda_identity * lambda_x * tf.l1_loss(images.idt_x, images.real_x)
        terms["idt_Y"] = lambda_identity * lambda_y * tf.l1_loss(images.idt_y, images.real_y)
    terms.update(matching or {})
    terms["total"] = sum(terms.values())
    return terms


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: int = 16, power: int = 1,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean over `directions` random unit directions (new ones at each call, drawn from `generator` or
    torch's global one) of the 1-D Wasserstein distance between the projections of point sets `a` (N, C)
    and `b` (M, C), to the `power` (1: W1; 2: squared W2): 0 for equal sets, differentiable in both.
    With N != M, b's sorted projections are read at a's quantiles."""
    lines = tf.normalize(torch.randn(directions, a.shape[1], generator=generator).to(a.device), dim=1)
    pa, pb = (_sorted(lines @ points.float().T) for points in (a, b))
    if pb.shape[1] != pa.shape[1]:
        pb = pb[:, ((torch.arange(pa.shape[1], device=a.device) + 0.5) * pb.shape[1] / pa.shape[1]).long()]
    return (pa - pb).abs().pow(power).mean()


def _sorted(values: torch.Tensor) -> torch.Tensor:
    """Each row of `values` sorted, differentiably; on the CPU by numpy, several times faster than torch."""
    if values.device.type != "cpu":
        return torch.sort(values, dim=1).values
    if not values.requires_grad:
        return torch.from_numpy(np.sort(values.numpy(), axis=1))
    return values.gather(1, torch.from_numpy(np.argsort(values.detach().numpy(), axis=1)))


def anchored_colour_loss(mapped: torch.Tensor, target: torch.Tensor, rest: torch.Tensor, anchor: float,
                         directions: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """SWD(mapped, target) + anchor * the mean L1 distance of each mapped pixel from `rest`, where it
    would stay unmoved. Two domains' pictures differ in content as well as in look, so their colour
    distributions differ by chance too; a pixel-wise L1 pull (constant, unlike a squared one, however
    far a colour moves) lets a colour move only where the distributions ask for more than `anchor`:
    coherent changes still win, but a hue rotation, whose colours turn in different directions, is
    partly held back (why it is off by default: docs/recipe.md)."""
    loss = sliced_wasserstein(mapped, target, directions, generator=generator)
    return loss + anchor * (mapped - rest).abs().sum(1).mean() if anchor else loss


def colour_match_terms(G: nn.Module, F: nn.Module, pixels_x: torch.Tensor, pixels_y: torch.Tensor,
                       weight: float) -> dict[str, torch.Tensor]:
    """weight SWD(G's colour map of X's pooled pixels, Y's pooled pixels), and the same for F from Y
    to X: the colour maps see a domain's colours over many pictures at once, so they can match
    whole distributions, where one crop's content would drag them. Gradients reach only the colour
    maps (the pixels are real pictures'); see docs/recipe.md."""
    return {"colour_G": weight * sliced_wasserstein(G.map_colours(pixels_x), pixels_y),
            "colour_F": weight * sliced_wasserstein(F.map_colours(pixels_y), pixels_x)}


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: mean of (||grad D(mix)||_2 - 1)^2 at random mixes of real and fake images (unweighted)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mix = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = discriminator(mix)
    (grad,) = torch.autograd.grad(out, mix, grad_outputs=torch.ones_like(out), create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                       gan: str = "lsgan") -> dict[str, torch.Tensor]:
    """½(real term + fake term), plus the weighted gradient penalty for wgangp. `fake` is detached."""
    mode = gan_loss(gan)
    fake = fake.detach()
    terms = {"real": mode.real(discriminator(real)), "fake": mode.fake(discriminator(fake))}
    total = 0.5 * (terms["real"] + terms["fake"])
    if mode.gradient_penalty > 0:
        terms["gp"] = mode.gradient_penalty * gradient_penalty(discriminator, real, fake)
        total = total + terms["gp"]
    terms["total"] = total
    return terms
