"""Temporally consistent video: each translated frame is blended with the previous output, warped
along the motion of the *input* frames (docs/temporal.md gives the algorithm in plain steps).

Two halves with separate state, so the streaming pipeline can run them on different threads:
`MotionTracker` (decode side) measures how each pixel moved between consecutive input frames and
how far that motion can be trusted; `TemporalBlender` (encode side) warps its previous output
along that motion and blends it with the new translation, per pixel. `TemporalStream` joins
them around a Translator for apps that hand frames over one by one. The ONNX model is untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .errors import InferError

TEMPORAL_BY_DEFAULT = True  # cgan-infer blends video frames unless --no-temporal (docs/temporal.md says why)


@dataclass(frozen=True)
class TemporalSettings:
    """The constants of the algorithm (docs/temporal.md explains each)."""

    flow_side: int = 640  # optical flow runs on frames shrunk so that their longer side is at most this
    flow_min_side: int = 32  # ... but not below this; thinner frames get no flow (OpenCV's DIS crashes on
    flow_small_side: int = 40  # some, e.g. 40x8 or 128x24), unless no side reaches this (tried: none crash)
    flow_preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST  # DIS preset (ultrafast, fast, medium)
    consistency_rel: float = 0.01  # forward-backward check: |f + b|² <= rel * (|f|² + |b|²) + abs ...
    consistency_abs: float = 0.5  # ... in pixels² at flow resolution (Sundaram et al. 2010)
    photometric_tol: float = 24.0  # |gray_t - warped gray_t-1| above this (0-255 levels): not the same surface
    cut_min_valid: float = 0.5  # fewer trusted pixels than this fraction of the frame: a scene cut
    keep: float = 0.8  # largest weight of the warped previous output
    tolerance: float = 16.0  # local mean disagreement (0-255 levels) at which the previous output is dropped
    window: int = 7  # side of the box the disagreement is averaged over (so that noise averages out)


@dataclass(frozen=True)
class Motion:
    """Where each pixel of frame t was in frame t-1, and how far to trust it."""

    map_x: np.ndarray  # HxW float32: source column in frame t-1 (absolute, for cv2.remap)
    map_y: np.ndarray  # HxW float32: source row
    confidence: np.ndarray  # HxW float32 in [0, 1]; 0 where occluded, disoccluded or inconsistent


def _gray(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2 or frame.shape[2] == 1:
        return frame.reshape(frame.shape[:2])
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class MotionTracker:
    """Decode side: DIS optical flow between consecutive input frames, checked both ways.

    Call it with each input frame in order; it returns the frame's Motion, or None for the first
    frame, after a scene cut, or after `reset()` (an unreadable frame breaks the chain), and for
    frames too small for optical flow (`log` receives one line per such size).
    """

    def __init__(self, settings: TemporalSettings = TemporalSettings(), log: Callable[[str], None] | None = None):
        self.settings = settings
        self.log = log or (lambda line: None)
        self._dis = cv2.DISOpticalFlow_create(settings.flow_preset)
        self._previous: np.ndarray | None = None  # small gray of the previous frame
        self._shape: tuple[int, int] | None = None  # (h, w) of the previous frame
        self._no_flow: set[tuple[int, int]] = set()  # frame sizes optical flow cannot run on

    def reset(self) -> None:
        self._previous = self._shape = None

    def __call__(self, frame: np.ndarray | None) -> Motion | None:
        if frame is None:
            self.reset()
            return None
        shape = frame.shape[:2]
        small = self._small_gray(frame)
        previous, same_size = self._previous, shape == self._shape
        self._previous, self._shape = small, shape
        if previous is None or not same_size or shape in self._no_flow:
            return None
        if min(small.shape) < self.settings.flow_min_side and max(small.shape) >= self.settings.flow_small_side:
            return self._without_flow(shape)
        try:
            backward = self._dis.calc(small, previous, None)  # frame t pixel -> its place in t-1
            forward = self._dis.calc(previous, small, None)
        except cv2.error:
            return self._without_flow(shape)
        valid = self._trusted(small, previous, backward, forward)
        if valid.mean() < self.settings.cut_min_valid:
            return None
        return self._full_size(backward, valid, shape)

    def _without_flow(self, shape: tuple[int, int]) -> None:
        self._no_flow.add(shape)
        self.log(f"{shape[1]}x{shape[0]} frames are too small for optical flow: translated without temporal blending")

    def _small_gray(self, frame: np.ndarray) -> np.ndarray:
        gray = _gray(frame)
        h, w = gray.shape
        scale = max(self.settings.flow_side / max(h, w), self.settings.flow_min_side / min(h, w))
        if scale < 1:
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return gray

    def _trusted(self, small: np.ndarray, previous: np.ndarray, backward: np.ndarray,
                 forward: np.ndarray) -> np.ndarray:
        """Pixels whose motion is consistent both ways, lands inside frame t-1, and finds the same brightness."""
        s = self.settings
        h, w = small.shape
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        src_x, src_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
        inside = (src_x >= 0) & (src_x <= w - 1) & (src_y >= 0) & (src_y <= h - 1)
        forward_there = cv2.remap(forward, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        round_trip = np.square(forward_there + backward).sum(axis=2)
        lengths = np.square(forward_there).sum(axis=2) + np.square(backward).sum(axis=2)
        consistent = round_trip <= s.consistency_rel * lengths + s.consistency_abs
        seen = cv2.remap(previous, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        residual = cv2.absdiff(cv2.blur(seen, (3, 3)), cv2.blur(small, (3, 3)))
        return inside & consistent & (residual <= s.photometric_tol)

    @staticmethod
    def _full_size(backward: np.ndarray, valid: np.ndarray, shape: tuple[int, int]) -> Motion:
        h, w = shape
        trusted = valid.astype(np.float32)
        confidence = trusted * cv2.blur(trusted, (3, 3))  # 0 where untrusted, lower next to untrusted pixels
        if backward.shape[:2] != (h, w):
            scale = np.float32([w / backward.shape[1], h / backward.shape[0]])  # vectors in full-size pixels
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * scale
            confidence = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return Motion(grid_x + backward[..., 0], grid_y + backward[..., 1], confidence)


class TemporalBlender:
    """Encode side: each translated frame blended with the previous output warped along the input's motion.

    The weight of the warped previous output is, per pixel, `keep` x the motion's confidence x how
    well the two agree (their difference averaged over a small window, so that noise cancels and
    new content does not). Without motion (first frame, cut) the translation passes unchanged.
    """

    def __init__(self, settings: TemporalSettings = TemporalSettings()):
        self.settings = settings
        self._previous: np.ndarray | None = None  # float32 previous output, unrounded

    def reset(self) -> None:
        self._previous = None

    def __call__(self, translated: np.ndarray, motion: Motion | None) -> np.ndarray:
        current = translated.astype(np.float32)
        previous, self._previous = self._previous, current
        if motion is None or previous is None or previous.shape != current.shape:
            return translated
        s = self.settings
        warped = cv2.remap(previous, motion.map_x, motion.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        difference = current - warped.reshape(current.shape)  # remap drops a single channel's axis
        local = np.abs(cv2.blur(difference, (s.window, s.window)))
        disagreement = local if local.ndim == 2 else local.max(axis=2)  # (blur drops a single channel's axis too)
        weight = s.keep * motion.confidence * np.clip(1 - disagreement / s.tolerance, 0, 1)
        if current.ndim == 3:
            weight = weight[..., None]
        blended = current - weight * difference
        self._previous = blended
        return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


class TemporalStream:
    """Translate a video's frames one by one, temporally consistent (the API twin of `cgan-infer --temporal`).

        stream = TemporalStream(Translator("models/h2z/G.onnx"))
        for frame in frames:            # uint8 BGR (or gray), in order
            out = stream(frame)         # the same pixels cgan-infer --temporal writes
        stream.reset()                  # before an unrelated clip
    """

    def __init__(self, translator, settings: TemporalSettings = TemporalSettings()):
        self.translator = translator
        self.tracker = MotionTracker(settings, log=getattr(translator, "log", None))
        self.blender = TemporalBlender(settings)

    def reset(self) -> None:
        self.tracker.reset()
        self.blender.reset()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One frame (what Translator takes: uint8 HxWx3, HxWx1 or HxW) -> its translation, blended."""
        if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3):
            raise InferError("TemporalStream takes one frame at a time: a uint8 HxWx3, HxWx1 or HxW array, "
                             f"got {type(frame).__name__}{getattr(frame, 'shape', '')}")
        translated = self.translator(frame)  # checks the frame, raising InferError
        return self.blender(translated, self.tracker(frame))
