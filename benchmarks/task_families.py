"""Families of real-photo tasks drawn from a seed, so that a recipe can be judged on translations it
was never tuned on.

A draw is (family, draw seed) -> a concrete look with its parameters, deterministic: the look of
benchmarks.photo_task's data (X: photo crops, Y: other crops through the look). Families:
- `colour`: one to three parametric colour grades composed (benchmarks.colour_grades);
- `spatial`: one spatial look, sometimes followed by a second (benchmarks.spatial_looks).
A draw is kept only when doing nothing scores within the family's PSNR range on a fixed set of
training-photo crops (visible, yet plausible); otherwise the same random stream draws again.

SPLITS: `dev` draws may be tuned on; `heldout` draws are only reported.
"""
from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from cgan.train.known_answer import mean_psnr

from .colour_grades import GRADE_KINDS, Grade
from .photo_task import LOAD_SIZE, Look, crops, eight_bit, to_nchw
from .photos import TRAIN_PHOTOS
from .spatial_looks import SpatialLook

SPLITS: dict[str, tuple[int, ...]] = {"dev": tuple(range(0, 8)), "heldout": tuple(range(1000, 1016))}
PROBE_COUNT = 16  # training-photo crops on which a draw's do-nothing PSNR is measured
MAX_TRIES = 500


def _draw_colour(rng: np.random.Generator) -> Grade:
    count = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    return Grade.draw([str(k) for k in rng.choice(list(GRADE_KINDS), count, replace=False)], rng)


@dataclass(frozen=True)
class Family:
    draw_look: Callable[[np.random.Generator], Look]
    do_nothing_db: tuple[float, float]  # PSNR range of doing nothing that a kept draw falls in


FAMILIES: dict[str, Family] = {
    "colour": Family(_draw_colour, (15.0, 28.0)),
    "spatial": Family(SpatialLook.draw, (15.0, 30.0)),
}


@dataclass(frozen=True)
class Draw:
    family: str
    seed: int
    look: Look  # a Grade (colour) or a SpatialLook
    do_nothing_db: float  # PSNR of doing nothing on the probe crops

    @property
    def name(self) -> str:
        return task_name(self.family, self.seed)

    @property
    def split(self) -> str | None:
        return next((name for name, seeds in SPLITS.items() if self.seed in seeds), None)


def task_name(family: str, seed: int) -> str:
    return f"{family}_{seed}"


def parse_task_name(name: str) -> tuple[str, int] | None:
    """(family, draw seed) of a drawn task's name such as `colour_1003`; None for any other name."""
    match = re.fullmatch(r"([a-z]+)_(\d+)", name)
    return (match[1], int(match[2])) if match and match[1] in FAMILIES else None


@functools.lru_cache(maxsize=1)
def probe_crops() -> np.ndarray:
    return crops(TRAIN_PHOTOS, PROBE_COUNT, LOAD_SIZE, np.random.default_rng(0x70726F62))


def do_nothing_db(look: Look, images: np.ndarray) -> float:
    """Mean PSNR between pictures (NxHxWx3 in [0, 1]) and their look, as the benchmark scores it."""
    return mean_psnr(*(torch.from_numpy(to_nchw(a)) for a in (images, eight_bit(look(images)))))


@functools.lru_cache(maxsize=64)
def draw(family: str, seed: int) -> Draw:
    """The look of draw `seed` of `family`: the first of its random stream in the family's PSNR range."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; choose from {', '.join(FAMILIES)}")
    spec, probe = FAMILIES[family], probe_crops()
    rng = np.random.default_rng((seed, zlib.crc32(family.encode())))
    for _ in range(MAX_TRIES):
        look = spec.draw_look(rng)
        db = do_nothing_db(look, probe)
        if spec.do_nothing_db[0] <= db <= spec.do_nothing_db[1]:
            return Draw(family, seed, look, db)
    raise RuntimeError(f"{family} draw {seed}: no look within {spec.do_nothing_db} dB in {MAX_TRIES} tries")


def draws(families: list[str], split: str, count: int) -> list[Draw]:
    """The first `count` draws of `split` for each family, the families taking turns (so that a run cut
    short has measured each of them)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if not 1 <= count <= len(SPLITS[split]):
        raise ValueError(f"{split} has {len(SPLITS[split])} draws per family; ask for 1 to that many")
    return [draw(family, seed) for seed in SPLITS[split][:count] for family in families]
