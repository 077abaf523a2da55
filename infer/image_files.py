"""Reading one image file of a user's, whatever it holds: an image, or one line saying why not.

The file is untrusted: it may be unreadable, truncated, not an image, or a small file whose header
claims a huge image (decoding would allocate gigabytes). `read_image` raises UnreadableImage with the
reason and never anything else, so a folder run can skip the file and go on.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .errors import InferError
from .native_logs import native_stderr, quiet_opencv

MAX_FILE_BYTES = 1 << 30  # a larger file is not read into memory
MAX_DECODE_PIXELS = 1 << 27  # 134 M pixels (400 MB as 8-bit BGR); larger images are refused before decoding
# OpenCV's own bound, for formats whose header we do not read (taken when cv2 first decodes).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_DECODE_PIXELS))


class UnreadableImage(InferError):
    """One image file that cannot be translated; the message is the reason (without the file name)."""


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    """The size in the first start-of-frame marker."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    return None


# Header readers, by format: (width, height) claimed by the file, or None when not that format.
# Formats not listed here are bounded by OpenCV's own OPENCV_IO_MAX_IMAGE_PIXELS check.
HEADER_SIZE: tuple[Callable[[bytes], tuple[int, int] | None], ...] = (_png, _jpeg, _bmp)


def claimed_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) the file's header claims, for the formats in HEADER_SIZE."""
    for read in HEADER_SIZE:
        size = read(data)
        if size is not None:
            return size
    return None


def check_decode_size(width: int, height: int) -> None:
    """Refuse an image too large to decode in memory (the one place that decides it)."""
    if width * height > MAX_DECODE_PIXELS:
        raise UnreadableImage(f"{width}x{height} is too large to decode (more than {MAX_DECODE_PIXELS:,} pixels)")


def read_image(path: Path) -> np.ndarray:
    """The file decoded as uint8 BGR HxWx3 (gray and alpha converted); UnreadableImage otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UnreadableImage(f"{size / 2**30:.1f} GiB is too large to read (limit {MAX_FILE_BYTES // 2**30} GiB)")
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableImage(f"cannot read it ({e.strerror or e})") from None
    if not data:
        raise UnreadableImage("the file is empty")
    claimed = claimed_size(data)
    if claimed is not None:
        check_decode_size(*claimed)
    error = ""
    with quiet_opencv(), native_stderr() as printed:
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except (cv2.error, MemoryError) as e:
            image, error = None, (str(e).strip().splitlines() or [type(e).__name__])[-1]
    if image is None or image.size == 0:
        why = error or (printed[0] if printed else "")
        raise UnreadableImage(f"not an image OpenCV can read{f' ({why[:120]})' if why else ''}")
    return image
