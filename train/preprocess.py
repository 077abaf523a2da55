"""Resize / crop / flip, as the official CycleGAN's --preprocess options, on HxWxC arrays
(uint8, uint16, or float32 in [0, 1])."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .images import DataError


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area filter when shrinking (no aliasing), bicubic when enlarging (as the official PIL code)."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    shrinking = width * height < w * h
    out = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
    out = out.reshape(height, width, img.shape[2])
    return np.clip(out, 0.0, 1.0) if out.dtype == np.float32 else out  # integer types saturate by themselves


def round_to_multiple(side: int, multiple: int) -> int:
    """Nearest multiple of `multiple`, at least one multiple."""
    return max(multiple, int(round(side / multiple)) * multiple)


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size window at a random place; an image smaller than that is first enlarged
    (keeping its aspect ratio) so that every item of a batch has the same shape."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        scale = size / min(h, w)
        img = resize(img, max(size, round(w * scale)), max(size, round(h * scale)))
        h, w = img.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return img[top:top + size, left:left + size]


def scaled_to_width(img: np.ndarray, width: int, min_height: int) -> np.ndarray:
    """Width becomes `width`, height follows the aspect ratio but is at least `min_height`."""
    h, w = img.shape[:2]
    return resize(img, width, max(min_height, round(width * h / w)))


def _resize_and_crop(img, p, rng):
    return random_crop(resize(img, p.load_size, p.load_size), p.crop_size, rng)


def _crop(img, p, rng):
    return random_crop(img, p.crop_size, rng)


def _scale_width(img, p, rng):
    img = scaled_to_width(img, p.load_size, p.crop_size)
    h, w = img.shape[:2]
    return resize(img, round_to_multiple(w, p.side_multiple), round_to_multiple(h, p.side_multiple))


def _scale_width_and_crop(img, p, rng):
    return random_crop(scaled_to_width(img, p.load_size, p.crop_size), p.crop_size, rng)


def _none(img, p, rng):
    h, w = img.shape[:2]
    return resize(img, round_to_multiple(w, p.side_multiple), round_to_multiple(h, p.side_multiple))


# name -> (img HxWxC, Preprocess, rng) -> img; the flip is applied after any of them.
PREPROCESSORS: dict[str, Callable[[np.ndarray, "Preprocess", np.random.Generator], np.ndarray]] = {
    "resize_and_crop": _resize_and_crop,
    "crop": _crop,
    "scale_width": _scale_width,
    "scale_width_and_crop": _scale_width_and_crop,
    "none": _none,
}
CROPPING = ("resize_and_crop", "crop", "scale_width_and_crop")  # modes whose output is crop_size square
SCALING = ("resize_and_crop", "scale_width", "scale_width_and_crop")  # modes that resize to load_size first


@dataclass(frozen=True)
class Preprocess:
    """What happens to a decoded image before it reaches the networks."""

    mode: str = "resize_and_crop"  # one of PREPROCESSORS
    load_size: int = 286  # resize target (square, or the width for scale_width*)
    crop_size: int = 256  # random crop side
    flip: bool = True  # random horizontal flip with probability 1/2
    side_multiple: int = 4  # the generator's side multiple (cgan.train.networks.side_multiple)

    def __post_init__(self):
        if self.mode not in PREPROCESSORS:
            raise DataError(f"unknown preprocess {self.mode!r}; choose one of: {', '.join(PREPROCESSORS)}")
        if min(self.load_size, self.crop_size, self.side_multiple) < 1:
            raise DataError("load_size, crop_size and side_multiple must be positive")
        if self.mode in CROPPING and self.crop_size % self.side_multiple:
            raise DataError(f"crop size {self.crop_size} is not a multiple of {self.side_multiple}, "
                            f"which the generator needs; use a crop size such as "
                            f"{round_to_multiple(self.crop_size, self.side_multiple)}")
        if self.mode in CROPPING and self.mode in SCALING and self.load_size < self.crop_size:
            raise DataError(f"load size {self.load_size} is smaller than crop size {self.crop_size}; "
                            f"preprocess {self.mode!r} needs load size >= crop size")

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the mode, then the flip, drawing every random choice from `rng`."""
        img = PREPROCESSORS[self.mode](img, self, rng)
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return img
