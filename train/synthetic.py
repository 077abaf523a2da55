"""Synthetic pictures with real structure, drawn from a seed: the X domain of the known-answer data.

A picture is a sky-like gradient background with soft low-frequency texture, an optional band of
stripes, and a few overlapping filled ellipses and polygons with soft edges and shading. Each kind
of element has its own colour family (a fixed anchor plus a little jitter), and the families are
spread unevenly over the colour wheel, so no recolouring other than the true one maps these
pictures onto their transformed versions (see known_answer.py).
"""
from __future__ import annotations

import cv2
import numpy as np

# Colour families, RGB in [0, 1]. Deliberately asymmetric: no channel permutation maps the set onto itself.
BACKGROUND_DARK = (0.10, 0.18, 0.32)  # navy
BACKGROUND_LIGHT = (0.45, 0.64, 0.78)  # sky
ELLIPSE = (0.93, 0.55, 0.12)  # orange
POLYGON = (0.80, 0.16, 0.34)  # raspberry
STRIPES = (0.95, 0.90, 0.50)  # cream
JITTER = 0.06  # per-channel colour jitter of each element
SUBPIXEL = 4  # cv2 drawing shift: coordinates carry 4 fractional bits


def _colour(rng: np.random.Generator, anchor) -> np.ndarray:
    return np.clip(np.asarray(anchor, np.float32) + rng.uniform(-JITTER, JITTER, 3).astype(np.float32), 0, 1)


def _ramp(rng: np.random.Generator, size: int) -> np.ndarray:
    """A linear ramp from 0 to 1 across the picture in a random direction (HxWx1)."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return t[:, :, None]


def _soften(mask: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    sigma = rng.uniform(0.6, 1.5) * size / 32
    return cv2.GaussianBlur(mask, (0, 0), sigma)[:, :, None]


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << SUBPIXEL)).astype(np.int32)


def _ellipse_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    centre = _fixed(rng.uniform(0.1, 0.9, 2) * size)
    axes = _fixed(rng.uniform(0.08, 0.3, 2) * size)
    cv2.ellipse(mask, tuple(int(c) for c in centre), tuple(int(a) for a in axes), rng.uniform(0, 180),
                0, 360, 1.0, -1, cv2.LINE_AA, SUBPIXEL)
    return _soften(mask, rng, size)


def _polygon_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    n = int(rng.integers(3, 6))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.12, 0.32) * size
    centre = rng.uniform(0.15, 0.85, 2) * size
    points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(0.6, 1.0, (n, 1))
    cv2.fillPoly(mask, [_fixed(points)], 1.0, cv2.LINE_AA, SUBPIXEL)
    return _soften(mask, rng, size)


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Soft parallel stripes inside a random band across the picture (HxWx1 coverage)."""
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    across = np.cos(angle) * xx + np.sin(angle) * yy
    along = -np.sin(angle) * xx + np.cos(angle) * yy
    period = max(6.0, rng.uniform(0.15, 0.25) * size)  # at least 6 px, so small pictures do not alias
    wave = np.clip(2.5 * np.sin(2 * np.pi * across / period + rng.uniform(0, 2 * np.pi)), 0, 1)
    centre, half = rng.uniform(-0.3, 0.3) * size + along.mean(), rng.uniform(0.15, 0.3) * size
    band = np.clip((half - np.abs(along - centre)) / 1.5, 0, 1)
    return (wave * band)[:, :, None]


def _shaded(rng: np.random.Generator, size: int, anchor) -> np.ndarray:
    """An element's colour field: its family colour with a gentle light-to-shadow ramp."""
    return _colour(rng, anchor) * (0.8 + 0.25 * _ramp(rng, size))


def draw_scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """One size x size RGB picture, float32 HxWx3 in [0, 1]."""
    t = _ramp(rng, size)
    img = (1 - t) * _colour(rng, BACKGROUND_DARK) + t * _colour(rng, BACKGROUND_LIGHT)
    cells = max(2, size // 12)
    texture = cv2.resize(rng.normal(0, 1, (cells, cells)).astype(np.float32), (size, size),
                         interpolation=cv2.INTER_CUBIC)
    img = img * (1 + 0.05 * texture[:, :, None])
    if rng.random() < 0.6:
        m = _stripes(rng, size)
        img = img * (1 - m) + _shaded(rng, size, STRIPES) * m
    shapes = [(_ellipse_mask, ELLIPSE)] * int(rng.integers(1, 4)) + [(_polygon_mask, POLYGON)] * int(rng.integers(1, 3))
    for i in rng.permutation(len(shapes)):
        mask_fn, anchor = shapes[i]
        m = mask_fn(rng, size)
        img = img * (1 - m) + _shaded(rng, size, anchor) * m
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0).astype(np.float32)
