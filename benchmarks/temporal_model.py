"""The generator the temporal benchmark translates with: a small CycleGAN trained on real photographs.

Domain X is crops of benchmarks.photos.TRAIN_PHOTOS, domain Y is other crops of the same photos
painted by OpenCV's `stylization` filter; G (photo -> painting) is exported to ONNX. Built once per
recipe (benchmarks.photo_model) and cached under bench_out/: the default recipe's generator starts
as the identity and adds little flicker of its own; the official recipe's flickers, as most
CycleGAN generators do.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .photo_model import cached_generator
from .photos import TRAIN_PHOTOS, photo

MODEL_PATHS = {"cgan": Path("bench_out/temporal_model/G.onnx"),
               "official": Path("bench_out/temporal_model_official/G.onnx")}
CROPS_PER_DOMAIN = 160  # training pictures per domain
CROP = 96  # side of each crop (cgan-train scales to 80 and crops 64)
STEPS = 600


def write_photo_crops(folder: Path, seed: int = 0) -> None:
    """trainA/: plain photo crops; trainB/: different crops, stylized (an unpaired photo -> painting set)."""
    rng = np.random.default_rng(seed)
    photos = [photo(name) for name in TRAIN_PHOTOS]
    for domain in ("trainA", "trainB"):
        (folder / domain).mkdir(parents=True)
        for i in range(CROPS_PER_DOMAIN):
            image = photos[i % len(photos)]
            side = int(rng.integers(CROP, min(image.shape[:2]) // 2))
            y, x = (int(rng.integers(0, n - side)) for n in image.shape[:2])
            crop = cv2.resize(image[y:y + side, x:x + side], (CROP, CROP), interpolation=cv2.INTER_AREA)
            if domain == "trainB":
                crop = cv2.stylization(crop, sigma_s=30, sigma_r=0.3)
            cv2.imwrite(str(folder / domain / f"{i:04d}.png"), crop)


def ensure_model(recipe: str = "cgan", echo=print) -> Path:
    """The cached generator of `recipe` ("cgan" or "official"), trained and exported first when missing."""
    return cached_generator(MODEL_PATHS[recipe], write_photo_crops, "photo2painting", STEPS, echo, recipe)


if __name__ == "__main__":
    for name in MODEL_PATHS:
        ensure_model(name)
