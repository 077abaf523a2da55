"""Clips with motion made from real photographs, camera-like noise, and the two video-quality measures.

Clips: a pan, a zoom, an object moving over a still background, and a pan with a hard cut in the
middle (all frames rendered from scikit-image's photographs by sub-pixel affine warps).
Warping error (Lai et al. 2018): flow on the noise-free input frames, output t-1 warped onto t,
forward-backward occlusion mask, mean squared difference (RGB in [0, 1]) over the kept pixels.
Fidelity: PSNR against a reference clip (the frame-by-frame translation of the noise-free clip).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .photos import photo

FB_REL, FB_ABS = 0.01, 0.5  # Lai et al.'s forward-backward occlusion thresholds (pixels²)
READ_NOISE = 6.0  # Gaussian read noise, 0-255 levels
SHOT_GAIN = 0.5  # shot-noise variance per level of signal: sigma 9.9 at mid-grey, 11.8 at 220 (a webcam in a dim room)


@dataclass(frozen=True)
class Clip:
    name: str
    frames: list[np.ndarray]  # BGR uint8, noise-free
    cuts: frozenset[int]  # frame indices that start a new shot (the pair (t-1, t) is not measured)


def _render(image: np.ndarray, matrix: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _view(image: np.ndarray, x: float, y: float, scale: float, w: int, h: int) -> np.ndarray:
    """The w x h window whose top-left corner is (x, y) in `image`, magnified by `scale`."""
    return _render(image, np.float32([[scale, 0, -x * scale], [0, scale, -y * scale]]), w, h)


def _fit(image: np.ndarray, w: float, h: float) -> np.ndarray:
    """The photo shrunk (never enlarged) to the smallest size that still holds a w x h area."""
    scale = max(w / image.shape[1], h / image.shape[0])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image


def pan(name: str, n: int, w: int, h: int, speed: tuple[float, float] = (1.7, 0.45)) -> list[np.ndarray]:
    travel_x, travel_y = n * abs(speed[0]), n * abs(speed[1])
    image = _fit(photo(name), w + travel_x + 4, h + travel_y + 4)
    x0, y0 = (2 if s >= 0 else 2 + t for s, t in ((speed[0], travel_x), (speed[1], travel_y)))
    return [_view(image, x0 + i * speed[0], y0 + i * speed[1], 1.0, w, h) for i in range(n)]


def zoom(name: str, n: int, w: int, h: int, end: float = 1.35) -> list[np.ndarray]:
    image = _fit(photo(name), w * 1.05, h * 1.05)
    cx, cy = image.shape[1] / 2, image.shape[0] / 2
    frames = []
    for i in range(n):
        s = end ** (i / max(1, n - 1))
        frames.append(_view(image, cx - w / (2 * s), cy - h / (2 * s), s, w, h))
    return frames


def moving_object(background: str, thing: str, n: int, w: int, h: int) -> list[np.ndarray]:
    """A still background with a square cut from another photo travelling across it (occludes, then reveals)."""
    still = _view(_fit(photo(background), w, h), 0, 0, 1.0, w, h)
    side = h // 2
    source = photo(thing)
    patch = cv2.resize(source[:min(source.shape[:2]), :min(source.shape[:2])], (side, side),
                       interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        x, y = -side / 2 + i * (w / n) * 1.1, h / 4 + 12 * math.sin(i / 6)
        m = np.float32([[1, 0, x], [0, 1, y]])
        placed = cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        mask = cv2.warpAffine(np.ones((side, side), np.float32), m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        frames.append(np.rint(still * (1 - mask) + placed * mask).astype(np.uint8))
    return frames


def clips(n: int, w: int, h: int) -> list[Clip]:
    half = n // 2
    return [
        Clip("pan", pan("chelsea", n, w, h), frozenset()),
        Clip("zoom", zoom("motorcycle_right", n, w, h), frozenset()),
        Clip("moving object", moving_object("motorcycle_right", "chelsea", n, w, h), frozenset()),
        Clip("hard cut", pan("chelsea", half, w, h) + pan("motorcycle_right", n - half, w, h, (-1.3, 0.3)),
             frozenset({half})),
    ]


def add_noise(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Camera-like noise, new in every frame: Gaussian read noise plus shot noise that grows with the signal."""
    rng = np.random.default_rng(seed)
    noisy = []
    for f in frames:
        x = f.astype(np.float32)
        sigma = np.sqrt(READ_NOISE ** 2 + SHOT_GAIN * x)
        noisy.append(np.clip(np.rint(x + sigma * rng.standard_normal(x.shape, np.float32)), 0, 255).astype(np.uint8))
    return noisy


class WarpingError:
    """Lai et al. 2018's measure, with the flow of one clip's noise-free input frames computed once."""

    def __init__(self, clip: Clip):
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip.frames]
        h, w = grays[0].shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.pairs = []  # (t, map_x, map_y, mask) for each measured pair (t-1, t)
        for t in range(1, len(grays)):
            if t in clip.cuts:
                continue
            back = dis.calc(grays[t], grays[t - 1], None)
            fwd = dis.calc(grays[t - 1], grays[t], None)
            mx, my = gx + back[..., 0], gy + back[..., 1]
            fwd_there = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            trip = np.square(fwd_there + back).sum(axis=2)
            keep = trip <= FB_REL * (np.square(fwd_there).sum(axis=2) + np.square(back).sum(axis=2)) + FB_ABS
            keep &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
            self.pairs.append((t, mx, my, keep))

    def __call__(self, outputs: list[np.ndarray]) -> float:
        errors = []
        for t, mx, my, keep in self.pairs:
            warped = cv2.remap(outputs[t - 1].astype(np.float32) / 255, mx, my, cv2.INTER_LINEAR)
            errors.append(float(np.square(outputs[t].astype(np.float32) / 255 - warped)[keep].mean()))
        return float(np.mean(errors))


def psnr(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    mse = np.mean([np.square(o.astype(np.float32) - r.astype(np.float32)).mean() for o, r in zip(outputs, reference)])
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)
