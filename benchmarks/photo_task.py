"""Real-photo translation tasks with a known answer, for measuring how well training learns.

Domain X holds crops of real photographs; domain Y holds *other* crops of the same photographs
passed through a look (a colour grade, a spatial filter: any function of a picture). The two
domains are unpaired, yet the right translation is known: G should apply the look and F should
undo it. Accuracy is measured on crops of photographs that no training crop comes from
(benchmarks.photos.HELD_OUT_PHOTOS).

GRADES are the two fixed grades that chose the recipe (benchmarks.task_families draws many more):
- `matrix_curve`: a colour matrix (cross-channel mixing, a warm cast) followed by an S-shaped
  tone curve;
- `hue_sat`: a hue rotation and a saturation boost in YIQ space.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from cgan.infer.files import atomic_write

from .photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, photo

Look = Callable[[np.ndarray], np.ndarray]  # HxWx3 or NxHxWx3 RGB float in [0, 1] -> same

LOAD_SIZE = 80  # training crops are stored at this side (cgan-train then crops 64)
EVAL_SIZE = 64  # held-out crops are evaluated at this side
CROP_SIDES = (64, 160)  # crops take a random side in this range before resizing: varied scales
TRAIN_COUNT = 400  # pictures per domain
EVAL_COUNT = 64  # held-out pictures

_MATRIX = np.array([[0.72, 0.38, -0.02],
                    [0.10, 0.72, 0.14],
                    [-0.16, 0.30, 0.72]])
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def matrix_curve(rgb: np.ndarray) -> np.ndarray:
    mixed = np.clip(rgb @ _MATRIX.T, 0, 1)
    return np.clip(mixed + 0.5 * (mixed - 0.5) * (1 - np.abs(2 * mixed - 1)), 0, 1)  # S-curve, ends fixed


def hue_sat(rgb: np.ndarray, degrees: float = 50.0, saturation: float = 1.5) -> np.ndarray:
    yiq = rgb @ _RGB_TO_YIQ.T
    a = np.deg2rad(degrees)
    i, q = yiq[..., 1], yiq[..., 2]
    yiq = np.stack([yiq[..., 0], saturation * (np.cos(a) * i - np.sin(a) * q),
                    saturation * (np.sin(a) * i + np.cos(a) * q)], axis=-1)
    return np.clip(yiq @ _YIQ_TO_RGB.T, 0, 1)


GRADES: dict[str, Look] = {"matrix_curve": matrix_curve, "hue_sat": hue_sat}


def crops(names: tuple[str, ...], count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random square crops (random side in CROP_SIDES) of the named photos, resized to `side`:
    N x side x side x 3 RGB float32 in [0, 1]."""
    pictures = [cv2.cvtColor(photo(n), cv2.COLOR_BGR2RGB) for n in names]
    out = np.empty((count, side, side, 3), np.float32)
    for k in range(count):
        picture = pictures[rng.integers(len(pictures))]
        h, w = picture.shape[:2]
        s = int(rng.integers(CROP_SIDES[0], min(CROP_SIDES[1], h, w) + 1))
        top, left = int(rng.integers(h - s + 1)), int(rng.integers(w - s + 1))
        crop = cv2.resize(picture[top:top + s, left:left + s], (side, side), interpolation=cv2.INTER_AREA)
        out[k] = crop.astype(np.float32) / 255
    return out


def training_crops(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X crops, Y crops before the look): TRAIN_COUNT each, N x LOAD_SIZE x LOAD_SIZE x 3 in [0, 1]."""
    rng = np.random.default_rng((seed, 0x70686F74))
    return crops(TRAIN_PHOTOS, TRAIN_COUNT, LOAD_SIZE, rng), crops(TRAIN_PHOTOS, TRAIN_COUNT, LOAD_SIZE, rng)


def eight_bit(images: np.ndarray) -> np.ndarray:
    """Pictures in [0, 1] rounded to what an 8-bit file holds, as the training pictures are."""
    return np.round(np.asarray(images) * 255) / 255


def write_dataset(folder: Path, look: Look, seed: int = 0) -> Path:
    """trainA/ (crops) and trainB/ (other crops through `look`) under `folder`, as PNG; returns `folder`.
    Already written datasets are reused: the content is a pure function of the look and seed, and
    the folder's name must say which look (benchmarks.learning names it after the task)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    x, y = training_crops(seed)
    for domain, images in (("trainA", x), ("trainB", look(y))):
        (folder / domain).mkdir(parents=True, exist_ok=True)
        for k, image in enumerate(images):
            bgr = cv2.cvtColor(np.round(image * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
            with atomic_write(folder / domain / f"{k:04d}.png", fsync=False) as f:
                f.write(cv2.imencode(".png", bgr)[1].tobytes())
    done.write_text(folder.name)
    return folder


def held_out(look: Look, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x, look of x): EVAL_COUNT held-out crops and their known answers, N x 3 x H x W in [-1, 1].

    Crops are quantized to 8 bits first, as the training pictures are."""
    rng = np.random.default_rng((seed, 0x6576616C))
    x = eight_bit(crops(HELD_OUT_PHOTOS, EVAL_COUNT, EVAL_SIZE, rng))
    y = eight_bit(look(x))
    return tuple(to_nchw(a) for a in (x, y))


def to_nchw(images: np.ndarray) -> np.ndarray:
    """NxHxWx3 in [0, 1] -> N x 3 x H x W float32 in [-1, 1], as the nets take them."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2) * 2 - 1, dtype=np.float32)
