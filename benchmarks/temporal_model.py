"""The generator the temporal benchmark translates with: a small CycleGAN trained on real photographs.

Domain X is crops of benchmarks.photos.TRAIN_PHOTOS, domain Y is other crops of the same photos
painted by OpenCV's `stylization` filter; G (photo -> painting) is exported to ONNX. Built once with
cgan-train and cgan-export (a few CPU minutes) and cached under bench_out/.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .photos import TRAIN_PHOTOS, photo

MODEL_PATH = Path("bench_out/temporal_model/G.onnx")
CROPS_PER_DOMAIN = 160  # training pictures per domain
CROP = 96  # side of each crop (cgan-train scales to 80 and crops 64)
TRAIN_ARGS = ["--generator", "resnet_6blocks", "--ngf", "16", "--ndf", "16", "--load-size", "80", "--crop-size", "64",
              "--max-steps", "600", "--threads", "1", "--workers", "0", "--precision", "fp32", "--sample-every", "600",
              "--save-every", "0", "--seed", "0"]


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


def _run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")


def ensure_model(path: Path = MODEL_PATH, echo=print) -> Path:
    """The cached generator, trained and exported first when it is missing."""
    if path.is_file():
        return path
    echo(f"no photo generator at {path}: training one (resnet_6blocks, ngf 16, 600 steps at 64x64, 1 thread; "
         "a few minutes, once)")
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_photo_crops(tmp / "photo2painting")
        _run([str(bin_dir / "cgan-train"), "--data", "photo2painting", "--name", "run", *TRAIN_ARGS], tmp)
        _run([str(bin_dir / "cgan-export"), "runs/run", "--gen", "G", "--out", "export"], tmp)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / "export" / "G.onnx", path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    echo(f"saved {path}")
    return path


if __name__ == "__main__":
    ensure_model()
