"""Pixels <-> tensors, as an exported generator's metadata describes them.

Frames travel through cgan.infer in OpenCV's layout: uint8, BGR (HxWx3) or grayscale (HxW).
`prepare` turns one frame into the model's input (colour order, optional resize, value range,
reflect padding up to the side multiple, CHW); `finish` undoes each step, so the result has the
frame's own height and width.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InferError, quoted
from .image_files import MAX_DECODE_PIXELS


@dataclass(frozen=True)
class Layout:
    """What the model takes and gives: everything pre- and post-processing need."""

    input_channels: int  # 1 (luminance) or 3
    output_channels: int
    color_order: str  # "RGB" or "BGR", for 3 channels
    value_range: tuple[float, float]  # model value of pixel 0 and of pixel 255
    side_multiple: int  # H and W are padded up to a multiple of this
    dtype: np.dtype  # of the input and output tensors


@dataclass(frozen=True)
class Resize:
    """--size: a shorter side (`short`) or an exact width x height."""

    short: int | None = None
    width: int | None = None
    height: int | None = None

    def target(self, h: int, w: int) -> tuple[int, int]:
        """The (height, width) a frame of h x w is resized to."""
        if self.short is None:
            return self.height, self.width
        scale = self.short / min(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))


def parse_size(text: str | None) -> Resize | None:
    """'512' (shorter side) or '640x360' (width x height); None for no resizing."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d{1,9})\s*(?:[xX]\s*(\d{1,9})\s*)?", text)
    if not m or int(m.group(1)) < 1 or (m.group(2) is not None and int(m.group(2)) < 1):
        raise InferError(f"size={quoted(text)}: give a shorter side like 512 or width x height like 640x360")
    sides = [int(n) for n in m.groups() if n is not None]
    if (sides[0] ** 2 if len(sides) == 1 else sides[0] * sides[1]) > MAX_DECODE_PIXELS:
        raise InferError(f"size={quoted(text.strip())}: frames of more than {MAX_DECODE_PIXELS:,} pixels are refused; "
                         "give a smaller size")
    return Resize(short=sides[0]) if len(sides) == 1 else Resize(width=sides[0], height=sides[1])


@dataclass(frozen=True)
class Prepared:
    """One frame as the model takes it, with what `finish` needs to restore the frame's size."""

    tensor: np.ndarray  # C x H x W, padded
    size: tuple[int, int]  # (h, w) before padding (after --size)
    original: tuple[int, int]  # (h, w) of the frame


def padding(h: int, w: int, multiple: int) -> tuple[int, int]:
    """Rows and columns to add (bottom, right) so both sides become multiples of `multiple`.

    Reflect padding mirrors the frame without repeating its edge, so it needs fewer new rows than
    the frame has rows (pad < side); a smaller frame is "too small" for the model and is refused.
    """
    pad_h, pad_w = -h % multiple, -w % multiple
    if pad_h >= h or pad_w >= w:
        raise InferError(
            f"{w}x{h} is too small for this model: its sides must be padded up to a multiple of {multiple}, "
            "and reflect padding can add at most side-1 pixels; use size=... to enlarge it first")
    return pad_h, pad_w


def to_model_pixels(frame: np.ndarray, layout: Layout) -> np.ndarray:
    """An OpenCV frame (BGR or gray) in the model's channel order, HxWxC uint8."""
    if layout.input_channels == 1:
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return gray[:, :, None]
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if layout.color_order == "RGB" else frame


def prepare(frame: np.ndarray, layout: Layout, resize: Resize | None = None) -> Prepared:
    """One frame -> the model's input tensor (CHW, no batch dimension)."""
    original = frame.shape[:2]
    pixels = to_model_pixels(frame, layout)
    if resize is not None:
        h, w = resize.target(*original)
        if (h, w) != original:
            interp = cv2.INTER_AREA if h * w < original[0] * original[1] else cv2.INTER_LINEAR
            pixels = cv2.resize(pixels, (w, h), interpolation=interp).reshape(h, w, -1)
    h, w = pixels.shape[:2]
    pad_h, pad_w = padding(h, w, layout.side_multiple)
    if pad_h or pad_w:
        pixels = cv2.copyMakeBorder(pixels, 0, pad_h, 0, pad_w, cv2.BORDER_REFLECT_101).reshape(
            h + pad_h, w + pad_w, -1)
    lo, hi = layout.value_range
    x = pixels.astype(np.float32) * ((hi - lo) / 255.0) + lo
    return Prepared(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=layout.dtype), (h, w), original)


def finish(y: np.ndarray, prepared: Prepared, layout: Layout) -> np.ndarray:
    """One output tensor (CHW) -> an OpenCV frame of the original size: BGR, or gray for 1 channel."""
    lo, hi = layout.value_range
    h, w = prepared.size
    y = y[:, :h, :w].astype(np.float32).transpose(1, 2, 0)
    pixels = np.clip((y - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)
    if (h, w) != prepared.original:
        oh, ow = prepared.original
        pixels = cv2.resize(pixels, (ow, oh), interpolation=cv2.INTER_LINEAR).reshape(oh, ow, -1)
    if layout.output_channels == 1:
        return np.ascontiguousarray(pixels[:, :, 0])
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if layout.color_order == "RGB" else np.ascontiguousarray(pixels)


def side_by_side(frame: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Input and output next to each other, both in the output's channel count."""
    if result.ndim == 2 and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    elif result.ndim == 3 and frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return np.hstack([frame, result])
