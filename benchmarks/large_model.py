"""The generator the large-image benchmark runs: small, but with real (trained) weights.

Trained once on crops of the training photographs (domain X) and the same crops in warmer colours
(domain Y), then exported with `cgan-export`; both are cached under bench_out/ and rebuilt only
when missing.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from .photos import TRAIN_PHOTOS, photo

CROP, CROPS_PER_PHOTO = 96, 24
TRAIN_ARGS = ["--generator", "resnet_6blocks", "--ngf", "16", "--ndf", "16", "--load-size", "80", "--crop-size",
              "64", "--max-steps", "400", "--threads", "1", "--workers", "0", "--precision", "fp32",
              "--seed", "0"]


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


def trained_model(cache: Path) -> Path:
    """cache/model/G.onnx: trained and exported when missing."""
    model = cache / "model" / "G.onnx"
    if model.is_file():
        return model
    run = cache / "runs" / "photos"
    if not (run / "checkpoints").is_dir():
        write_crops(cache / "photos")
        subprocess.run([_script("cgan-train"), "--data", str(cache / "photos"), "--name", "photos",
                        "--runs-dir", str(cache / "runs"), *TRAIN_ARGS], check=True)
    subprocess.run([_script("cgan-export"), str(run), "--gen", "G", "--out", str(model.parent),
                    "--overwrite"], check=True)
    return model


def _script(name: str) -> str:
    """A console script of this environment (next to its python)."""
    return str(Path(sys.executable).parent / name)
