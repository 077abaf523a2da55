"""Finding image files in a folder tree and decoding them with OpenCV into the model's channels."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import TrainError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# Larger files are skipped unread: a 100-megapixel 8-bit TIFF is 300 MB, and no CycleGAN trains on more.
# OpenCV itself refuses to decode images of more than 2**30 pixels (its CV_IO_MAX_IMAGE_PIXELS).
MAX_IMAGE_BYTES = 512 << 20


class DataError(TrainError, ValueError):
    """The training data cannot be used as given (missing folder, no images, bad option)."""


class UnreadableImage(DataError):
    """One file that OpenCV cannot decode."""


def find_images(folder: str | Path) -> list[str]:
    """Every image file under `folder`, recursively, sorted by path so the order never varies."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(str(p) for p in files)


# Channel conversions from what OpenCV decodes (1, 3 or 4 channels, BGR order) to what the model wants.
_CONVERSIONS = {
    (1, 3): cv2.COLOR_GRAY2RGB,
    (3, 3): cv2.COLOR_BGR2RGB,
    (4, 3): cv2.COLOR_BGRA2RGB,
    (3, 1): cv2.COLOR_BGR2GRAY,
    (4, 1): cv2.COLOR_BGRA2GRAY,
}
_RANGES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 1.0}


def decode_image(path: str, channels: int) -> np.ndarray:
    """Decode `path` into HxWxC, C = `channels` (1 luminance or 3 RGB), keeping its pixel type
    (uint8, uint16 or float32), so resizing and cropping can run before the float conversion.

    The bytes are read by numpy and decoded from memory, so non-ASCII paths work on every OS.
    Alpha is dropped; grayscale is repeated to 3 channels; colour becomes Rec. 601 luminance
    for 1 channel (what PIL's convert("L") gives). Raises UnreadableImage when it cannot decode,
    and for a file over MAX_IMAGE_BYTES without reading it.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, not {channels}")
    try:
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise UnreadableImage(f"{path}: {size / 2**20:.0f} MiB is more than the {MAX_IMAGE_BYTES >> 20} MiB "
                                  "an image file may have")
        img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as e:
        raise UnreadableImage(f"{path}: {e}") from e
    if img is None or img.size == 0:
        raise UnreadableImage(f"{path}: OpenCV cannot decode this file")
    if img.dtype == np.float64:
        img = img.astype(np.float32)
    if img.dtype not in _RANGES:
        raise UnreadableImage(f"{path}: unsupported pixel type {img.dtype}")
    have = 1 if img.ndim == 2 else img.shape[2]
    if have == channels == 1:
        return img.reshape(img.shape[0], img.shape[1], 1)
    if (have, channels) not in _CONVERSIONS:
        raise UnreadableImage(f"{path}: {have} channels is not an image layout cgan knows")
    return cv2.cvtColor(img, _CONVERSIONS[have, channels]).reshape(img.shape[0], img.shape[1], channels)


def to_unit_float(img: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1]: integers scaled by their type's range, floats clipped."""
    scale = _RANGES[img.dtype]
    if scale == 1.0:
        return np.clip(img, 0.0, 1.0)
    return img.astype(np.float32) * np.float32(1 / scale)


def read_image(path: str, channels: int) -> np.ndarray:
    """`decode_image` as float32 HxWxC in [0, 1]."""
    return to_unit_float(decode_image(path, channels))
