"""A start for the generators' colour maps: fitted to the whole training set's colours before the first step.

A colour translation shows in the distribution of a domain's colours over all its pictures, and a
per-pixel map can be fitted to that distribution directly: draw pixels of every training picture of X
and of Y, and move G's colour map so that X's pixels through it match Y's in sliced Wasserstein
distance (and F's from Y to X). The adversarial signal sees one crop per step, whose colours follow
its content, so it learns the same map far more slowly and noisily; fitted first, the map carries
the domain-wide colour change from step 0, and the GAN refines it and learns what is not colour.
The pictures come through the training preprocessing (crops, flips), so the pixels are those the
nets train on. docs/recipe.md has the measurements.
"""
from __future__ import annotations

from typing import Callable

import itertools

import torch
import torch.distributed as dist
import torch.nn as nn

from .generators import match_channels
from .losses import anchored_colour_loss, sliced_wasserstein

PICTURES = 512  # pictures per domain drawn for the fit (all of a smaller training set)
PIXELS_PER_PICTURE = 256  # random pixels taken from each
BATCH_PIXELS = 4096  # pixels per domain at each fit step
DIRECTIONS = 32  # random projections per fit step
LEARNING_RATE = 5e-3  # Adam, decayed to zero over the fit by a cosine
CHANNEL_ORDERS = tuple(itertools.permutations(range(3)))  # the starts a fit of 3-channel colours chooses from
FIT_EPOCH = 2**31 - 1  # the data key's epoch for the fit's pictures: one no run reaches, so other draws than training's


def training_pixels(dataset, seed: int, check_stop: Callable[[], None] = lambda: None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(X pixels, Y pixels), each (N, C) float32 in [-1, 1]: PIXELS_PER_PICTURE random pixels of each of
    up to PICTURES items of `dataset` (its preprocessing applied), the items spread over the whole set."""
    count = min(len(dataset), PICTURES)
    generator = torch.Generator().manual_seed(seed)
    taken: dict[str, list[torch.Tensor]] = {"x": [], "y": []}
    for k in range(count):
        check_stop()
        item = dataset[(FIT_EPOCH, k * len(dataset) // count)]
        for domain, pixels in taken.items():
            picture = item[domain].flatten(1)  # C x H*W
            places = torch.randint(picture.shape[1], (PIXELS_PER_PICTURE,), generator=generator)
            pixels.append(picture[:, places].T)
    return torch.cat(taken["x"]), torch.cat(taken["y"])


def colour_distance(mapped: Callable[[torch.Tensor], torch.Tensor], source: torch.Tensor, target: torch.Tensor,
                    seed: int) -> float:
    """The sliced Wasserstein distance between `source` pixels through `mapped` and `target` pixels, on
    draws and projections fixed by `seed`: what compares starts and reports a fit."""
    fixed = torch.Generator().manual_seed(seed)
    count = min(4 * BATCH_PIXELS, len(source), len(target))
    a = source[torch.randint(len(source), (count,), generator=fixed).to(source.device)]
    b = target[torch.randint(len(target), (count,), generator=fixed).to(target.device)]
    with torch.no_grad():
        return float(sliced_wasserstein(mapped(a), b, 4 * DIRECTIONS, generator=fixed))


def nearest_channel_order(source: torch.Tensor, target: torch.Tensor, seed: int) -> tuple[int, ...]:
    """The order of source's colour channels whose colours lie nearest target's in distribution. A fit
    moves colours only locally: one that must carry reds to blues (a hue turned by a third of the
    wheel, channels swapped) starts from the channel order that does most of that."""
    if source.shape[1] != 3 or target.shape[1] != 3:
        return tuple(range(source.shape[1]))
    return min(CHANNEL_ORDERS, key=lambda order: colour_distance(lambda p: p[:, order], source, target, seed))


def fit_colour_map(generator: nn.Module, source: torch.Tensor, target: torch.Tensor, steps: int,
                   seed: int, anchor: float = 0.0) -> tuple[float, float]:
    """Move `generator`'s colour map so that `source` pixels through it match `target` pixels in
    distribution (sliced Wasserstein), starting from the nearest channel order and pulled towards it
    with weight `anchor` (losses.anchored_colour_loss); returns the distance before and after."""
    rng = torch.Generator().manual_seed(seed)
    batch = min(BATCH_PIXELS, len(source), len(target))  # a small training set has fewer pixels to show
    device = next(generator.pointwise.parameters()).device
    source, target = source.to(device), target.to(device)
    before = colour_distance(generator.map_colours, source, target, seed + 1)
    order = nearest_channel_order(source, target, seed + 1)
    optimizer = torch.optim.Adam(generator.pointwise.parameters(), lr=LEARNING_RATE)
    if order != tuple(range(source.shape[1])):  # the map learns the reordering first, by regression
        for _ in range(steps):
            a = source[torch.randint(len(source), (batch,), generator=rng).to(device)]
            loss = (generator.map_colours(a) - a[:, order]).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        a = source[torch.randint(len(source), (batch,), generator=rng).to(device)]
        b = target[torch.randint(len(target), (batch,), generator=rng).to(device)]
        mapped = generator.map_colours(a)
        rest = match_channels(a[:, order], mapped.shape[1])
        loss = anchored_colour_loss(mapped, b, rest, anchor, DIRECTIONS, generator=rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return before, colour_distance(generator.map_colours, source, target, seed + 1)


def fit_colour_maps(G: nn.Module, F: nn.Module, dataset, steps: int, seed: int, anchor: float = 0.0,
                    check_stop: Callable[[], None] = lambda: None) -> str:
    """Fit G's colour map from X's colours to Y's and F's from Y's to X's; one line saying what moved.
    Under torchrun every process fits the same maps from the same pixels; rank 0's are then sent to all,
    so that the processes start equal whatever their arithmetic. `check_stop` is called between pictures
    and fits, and raises to stop."""
    x, y = training_pixels(dataset, seed, check_stop)
    moved = []
    for name, net, source, target in (("G", G, x, y), ("F", F, y, x)):
        check_stop()
        before, after = fit_colour_map(net, source, target, steps, seed, anchor)
        if dist.is_initialized():
            for param in net.pointwise.parameters():
                dist.broadcast(param.data, 0)
        moved.append(f"{name} {before:.4f} -> {after:.4f}")
    return (f"colour maps fitted to the training colours ({steps} steps, {len(x):,} + {len(y):,} pixels; "
            f"distance {', '.join(moved)})")
