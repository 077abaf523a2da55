"""A distance between two sets of pictures that needs no trained weights: the sliced Wasserstein
distance (SWD) between their distributions of local patches, taken at every level of a Laplacian
pyramid (as Karras et al. measured progressive GANs).

Why this one: it compares whole distributions, so it is 0 for identical sets and grows with any
systematic difference, whether in colour (the pyramid's coarsest level keeps each patch's colour;
unlike the original recipe, patches are not normalised per set, so a colour shift counts) or in
texture and artefacts (the band-pass levels). Sorting random 1-D projections makes it cheap, and a
fixed seed for patch places and projections makes it a deterministic function of the two sets.
With few pictures it has a noise floor above 0: two different sets from one distribution differ.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as tf

PATCH = 7  # patch side, pixels
PATCHES_PER_IMAGE = 128  # patches drawn from each picture at each pyramid level
DIRECTIONS = 128  # random projections
MIN_LEVEL_SIDE = 16  # pyramid levels go down while the smallest side stays at least this
MAX_LEVELS = 5
SEED = 0  # patch places and projections


def pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of a CHW picture: `levels - 1` band-pass levels, then the coarsest blurred one."""
    out, current = [], image[None]
    for _ in range(levels - 1):
        down = tf.avg_pool2d(current, 2)
        out.append((current - tf.interpolate(down, size=current.shape[-2:], mode="bilinear",
                                             align_corners=False))[0])
        current = down
    return out + [current[0]]


def pyramid_shape(images: Sequence[torch.Tensor]) -> tuple[int, int]:
    """(levels, patch side) for a set of pictures, from its smallest side."""
    side = min(min(image.shape[-2:]) for image in images)
    levels = 1
    while levels < MAX_LEVELS and side >> levels >= MIN_LEVEL_SIDE:
        levels += 1
    return levels, min(PATCH, side >> (levels - 1))


def patches(level: torch.Tensor, count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """`count` side x side patches of a CHW level at random places, flattened: (count, C * side * side)."""
    c, h, w = level.shape
    top = torch.randint(0, h - side + 1, (count, 1, 1), generator=generator)
    left = torch.randint(0, w - side + 1, (count, 1, 1), generator=generator)
    span = torch.arange(side)
    picked = level[:, top + span[None, :, None], left + span[None, None, :]]  # C, count, side, side
    return picked.permute(1, 0, 2, 3).reshape(count, -1)


def _descriptors(images: Sequence[torch.Tensor], levels: int, side: int) -> list[torch.Tensor]:
    """Per pyramid level, the patches of every picture, drawn at places fixed by SEED."""
    generator = torch.Generator().manual_seed(SEED)
    per_level: list[list[torch.Tensor]] = [[] for _ in range(levels)]
    for image in images:
        for i, level in enumerate(pyramid(image.float().cpu(), levels)):
            per_level[i].append(patches(level, PATCHES_PER_IMAGE, side, generator))
    return [torch.cat(level) for level in per_level]


def _quantiles(sorted_values: np.ndarray, count: int) -> np.ndarray:
    """`count` evenly spaced quantiles of each row of an already sorted (k, n) array."""
    n = sorted_values.shape[1]
    if n == count:
        return sorted_values
    return sorted_values[:, ((np.arange(count) + 0.5) * n / count).astype(np.int64)]


def sliced_wasserstein(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """Mean over pyramid levels and random directions of the 1-D Wasserstein-1 distance between the
    projected patches of picture sets `a` and `b` (CHW tensors in [-1, 1], equal channels)."""
    if not a or not b:
        raise ValueError("sliced_wasserstein needs at least one picture in each set")
    if a[0].shape[0] != b[0].shape[0]:
        raise ValueError(f"sets with {a[0].shape[0]} and {b[0].shape[0]} channels cannot be compared")
    levels, side = pyramid_shape([*a, *b])
    generator = torch.Generator().manual_seed(SEED)
    distances = []
    for da, db in zip(_descriptors(a, levels, side), _descriptors(b, levels, side)):
        directions = torch.randn(da.shape[1], DIRECTIONS, generator=generator)
        directions /= directions.norm(dim=0, keepdim=True)
        # (directions, patches); numpy's vectorised sort is several times faster than torch's on CPU
        pa, pb = (np.sort((directions.T @ d.T).numpy(), axis=1) for d in (da, db))
        count = max(pa.shape[1], pb.shape[1])
        distances.append(np.abs(_quantiles(pa, count) - _quantiles(pb, count)).mean())
    return float(np.mean(distances))
