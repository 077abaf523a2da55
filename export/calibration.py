"""Images that int8 calibration sees: a folder given by the user, the run's training data, or the
built-in known-answer dataset when the run was trained on it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cgan.train.data import domain_folders
from cgan.train.images import DataError, find_images, read_image
from cgan.train.known_answer import KnownAnswerDataset
from cgan.train.preprocess import resize

from .errors import ExportError

DEFAULT_COUNT = 16  # calibration images per generator


def _as_input(img: np.ndarray) -> np.ndarray:
    """HxWxC float in [0, 1] -> 1xCxHxW float32 in [-1, 1]."""
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None] * 2 - 1, dtype=np.float32)


def folder_images(folder: str | os.PathLike, channels: int, size: int, count: int = DEFAULT_COUNT) -> list[np.ndarray]:
    """Up to `count` images spread evenly over `folder` (recursively), resized to size x size."""
    paths = find_images(folder)
    if not paths:
        raise ExportError(f"calibration folder {folder} holds no images (jpg, png, bmp, tif, webp)")
    chosen = paths[:: max(1, len(paths) // count)][:count]
    try:
        return [_as_input(resize(read_image(p, channels), size, size)) for p in chosen]
    except DataError as e:
        raise ExportError(f"calibration: {e}") from None


def builtin_images(direction: str, size: int, count: int = DEFAULT_COUNT, seed: int = 0) -> list[np.ndarray]:
    """Training pictures of the built-in dataset: X for G, Y for F."""
    data = KnownAnswerDataset(size=size, length=count, seed=seed, flip=False, serial_batches=True)
    key = "x" if direction == "G" else "y"
    return [data[i][key][None].numpy() for i in range(count)]


def run_images(config: Mapping[str, Any], direction: str, size: int, count: int = DEFAULT_COUNT) -> list[np.ndarray]:
    """Images from the data a run was trained on: domain X for G, domain Y for F."""
    channels = config["input_nc"] if direction == "G" else config["output_nc"]
    if not config.get("data"):
        return builtin_images(direction, size, count, config.get("seed", 0))
    x_folder, y_folder = domain_folders(config["data"], config.get("direction", "AtoB"))
    folder = x_folder if direction == "G" else y_folder
    if not folder.is_dir():
        raise ExportError(f"the run's training folder {folder} is gone; give calibration images with "
                          "calibration=... (a folder)")
    return folder_images(folder, channels, size, count)


def calibration_images(folder: str | os.PathLike | None, config: Mapping[str, Any] | None, direction: str,
                       channels: int, size: int) -> list[np.ndarray]:
    """`folder` when given, else the run's training data; official checkpoints need a folder."""
    if folder is not None:
        return folder_images(Path(folder), channels, size)
    if config is None:
        raise ExportError("int8 needs calibration images: pass calibration=... (a folder of images of the input "
                          "domain)")
    return run_images(config, direction, size)


def at_size(images: list[np.ndarray], height: int, width: int) -> list[np.ndarray]:
    """Calibration inputs resized to height x width: the one input size of a static (--static) model."""
    return [_as_input(resize((x[0].transpose(1, 2, 0) + 1) / 2, width, height)) for x in images]
