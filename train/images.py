"""Finding image files in a folder tree and decoding them with OpenCV into the model's channels."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DataError(ValueError):
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


def _to_unit_float(img: np.ndarray, path: str) -> np.ndarray:
    """Scale by the integer type's range (8 or 16 bit); float images are taken as already in [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype in (np.float32, np.float64):
        return np.clip(img.astype(np.float32), 0.0, 1.0)
    raise UnreadableImage(f"{path}: unsupported pixel type {img.dtype}")


def read_image(path: str, channels: int) -> np.ndarray:
    """Decode `path` into float32 HxWxC in [0, 1], C = `channels` (1 luminance or 3 RGB).

    The bytes are read by numpy and decoded from memory, so non-ASCII paths work on every OS.
    Alpha is dropped; grayscale is repeated to 3 channels; colour becomes Rec. 601 luminance
    for 1 channel (what PIL's convert("L") gives). Raises UnreadableImage when it cannot decode.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, not {channels}")
    try:
        img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as e:
        raise UnreadableImage(f"{path}: {e}") from e
    if img is None or img.size == 0:
        raise UnreadableImage(f"{path}: OpenCV cannot decode this file")
    img = _to_unit_float(img, path)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.shape[2] not in (1, 3):
        raise UnreadableImage(f"{path}: {img.shape[2]} channels is not an image layout cgan knows")
    if img.shape[2] == channels:
        return img if channels == 1 else np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
    if channels == 3:
        return np.repeat(img, 3, axis=2)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
