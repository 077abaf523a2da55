"""The generator the large-image benchmark runs: small, but with real (trained) weights.

Trained once on crops of the training photographs (domain X) and the same crops in warmer colours
(domain Y) by benchmarks.photo_model, which caches the export under bench_out/.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .photo_model import cached_generator
from .photos import TRAIN_PHOTOS, photo

CROP, CROPS_PER_PHOTO = 96, 24
STEPS = 400


def _warm(image: np.ndarray) -> np.ndarray:
    """Domain Y: a colour grade (more red, less blue, a little more contrast)."""
    x = image.astype(np.float32)
    x = (x - 128) * 1.15 + 128 + np.array([-25, 0, 30], np.float32)  # BGR
    return np.clip(x, 0, 255).astype(np.uint8)


def write_crops(folder: Path, seed: int = 0) -> None:
    """trainA/ and trainB/ with CROPS_PER_PHOTO random crops of each training photo."""
    rng = np.random.default_rng(seed)
    for domain, grade in (("trainA", lambda x: x), ("trainB", _warm)):
        (folder / domain).mkdir(parents=True, exist_ok=True)
        for name in TRAIN_PHOTOS:
            image = photo(name)
            h, w = image.shape[:2]
            for i in range(CROPS_PER_PHOTO):
                y, x = rng.integers(0, h - CROP), rng.integers(0, w - CROP)
                cv2.imwrite(str(folder / domain / f"{name}_{i}.png"), grade(image[y:y + CROP, x:x + CROP]))


def trained_model(cache: Path, recipe: str = "cgan") -> Path:
    """cache/model/G.onnx (cache/model_official/... for the official recipe): trained and exported
    when missing."""
    folder = "model" if recipe == "cgan" else f"model_{recipe}"
    return cached_generator(cache / folder / "G.onnx", write_crops, "photos", STEPS, recipe=recipe)
