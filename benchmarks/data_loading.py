"""How fast the image-folder loader delivers batches, so it can be set beside a training step's time.

Writes `--images` synthetic JPEGs per domain (`--side` px square) into a temporary folder, then times
whole epochs of `UnalignedDataset` + `build_loader` with the official preprocessing (resize to 286,
random crop 256, flip) for each worker count. Run: `python -m benchmarks.data_loading`.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from cgan.train.data import UnalignedDataset, build_loader, start_epoch
from cgan.train.preprocess import Preprocess
from cgan.train.synthetic import draw_scene


def write_folder(root: Path, images: int, side: int) -> None:
    for domain in ("trainA", "trainB"):
        (root / domain).mkdir(parents=True)
        for i in range(images):
            picture = draw_scene(np.random.default_rng((hash(domain) % 1000, i)), side)
            cv2.imwrite(str(root / domain / f"{i:04d}.jpg"), (picture[:, :, ::-1] * 255).astype(np.uint8))


def images_per_second(root: Path, workers: int, batch_size: int, epochs: int) -> float:
    """Items (x, y pairs) per second over `epochs` epochs, after one untimed warm-up epoch."""
    dataset = UnalignedDataset(root, Preprocess())
    loader = build_loader(dataset, batch_size, workers=workers)
    start_epoch(loader, 0)
    for _ in loader:
        pass
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        start_epoch(loader, epoch)
        for _ in loader:
            pass
    return epochs * len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images per domain")
    parser.add_argument("--side", type=int, default=512, help="side of the written JPEGs")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per worker count")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.images, args.side)
        for workers in args.workers:
            rate = images_per_second(Path(tmp), workers, args.batch_size, args.epochs)
            print(f"workers {workers}: {rate:7.1f} pairs/s  ({1000 / rate:6.2f} ms per x,y pair, "
                  f"{args.side}px JPEG -> resize 286 -> crop 256 -> flip)")


if __name__ == "__main__":
    main()
