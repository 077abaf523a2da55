"""Spatial looks: the learning benchmark's `spatial` family, translations that a per-pixel colour map
cannot carry (blur, sharpening, local contrast, edge-preserving smoothing, ink lines, posterization,
grain).

Each kind (SPATIAL_KINDS, name -> kind) draws its strengths and applies them to one picture,
HxWx3 RGB float32 in [0, 1], with OpenCV. A `SpatialLook` is one or two kinds applied in turn.
Grain is noise, which no translation can predict, so it only comes second, over a look that can be
learned; its noise is seeded by the picture itself, so the look stays a function of its input.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _smoothed(image: np.ndarray, sigma_colour: float, sigma_space: float, passes: int) -> np.ndarray:
    for _ in range(passes):
        image = cv2.bilateralFilter(image, 0, sigma_colour, sigma_space, borderType=cv2.BORDER_REFLECT)
    return image


def blur(image: np.ndarray, p: dict) -> np.ndarray:
    return _blurred(image, p["sigma"])


def sharpen(image: np.ndarray, p: dict) -> np.ndarray:
    """Unsharp mask: the picture plus `amount` times its difference from a blur."""
    return image + p["amount"] * (image - _blurred(image, p["sigma"]))


def local_contrast(image: np.ndarray, p: dict) -> np.ndarray:
    """A large-radius unsharp mask on brightness only: detail boosted against its surroundings."""
    brightness = image @ _LUMA
    return image + p["amount"] * (brightness - _blurred(brightness, p["sigma"]))[..., None]


def smooth(image: np.ndarray, p: dict) -> np.ndarray:
    """Edge-preserving smoothing: bilateral filter passes."""
    return _smoothed(image, p["sigma_colour"], p["sigma_space"], int(p["passes"]))


def ink(image: np.ndarray, p: dict) -> np.ndarray:
    """A cartoon: smoothing, then dark lines where the smoothed brightness has strong edges."""
    flat = _smoothed(image, 0.1, 3.0, 2)
    brightness = _blurred(flat @ _LUMA, 0.7)
    edges = np.hypot(cv2.Sobel(brightness, -1, 1, 0), cv2.Sobel(brightness, -1, 0, 1)) / 4
    lines = np.clip((edges - p["threshold"]) / p["threshold"], 0, 1)
    return flat * (1 - p["strength"] * lines)[..., None]


def posterize(image: np.ndarray, p: dict) -> np.ndarray:
    steps = int(p["levels"]) - 1
    return np.round(image * steps) / steps


def grain(image: np.ndarray, p: dict) -> np.ndarray:
    """Fine brightness noise of standard deviation about `amount`, seeded by the picture's 8-bit content."""
    seed = zlib.crc32(np.round(image * 255).astype(np.uint8).tobytes())
    noise = np.random.default_rng(seed).normal(0, 1, image.shape[:2]).astype(np.float32)
    return image + (2 * p["amount"] * _blurred(noise, 0.5))[..., None]


@dataclass(frozen=True)
class SpatialKind:
    apply: Callable[[np.ndarray, dict], np.ndarray]  # picture, parameters -> picture, before clipping
    draw: Callable[[np.random.Generator], dict]  # parameter values of one plausible look
    learnable: bool = True  # False: only over another look (grain)


SPATIAL_KINDS: dict[str, SpatialKind] = {
    "blur": SpatialKind(blur, lambda rng: {"sigma": rng.uniform(0.8, 2.0)}),
    "sharpen": SpatialKind(sharpen, lambda rng: {"sigma": rng.uniform(0.7, 1.6), "amount": rng.uniform(0.7, 2.0)}),
    "local_contrast": SpatialKind(local_contrast,
                                  lambda rng: {"sigma": rng.uniform(5.0, 10.0), "amount": rng.uniform(0.5, 1.2)}),
    "smooth": SpatialKind(smooth, lambda rng: {"sigma_colour": rng.uniform(0.06, 0.15),
                                               "sigma_space": rng.uniform(2.0, 4.0),
                                               "passes": int(rng.integers(1, 4))}),
    "ink": SpatialKind(ink, lambda rng: {"threshold": rng.uniform(0.03, 0.08), "strength": rng.uniform(0.6, 0.9)}),
    "posterize": SpatialKind(posterize, lambda rng: {"levels": int(rng.integers(4, 9))}),
    "grain": SpatialKind(grain, lambda rng: {"amount": rng.uniform(0.015, 0.04)}, learnable=False),
}


@dataclass(frozen=True)
class SpatialLook:
    """One or two spatial kinds with their parameters, applied in turn."""
    steps: tuple[tuple[str, dict], ...]  # (kind, parameters), in order

    @classmethod
    def draw(cls, rng: np.random.Generator, second_chance: float = 0.35) -> "SpatialLook":
        first = str(rng.choice([k for k, v in SPATIAL_KINDS.items() if v.learnable]))
        kinds = [first]
        if rng.random() < second_chance:
            kinds.append(str(rng.choice([k for k in SPATIAL_KINDS if k != first])))
        return cls(tuple((k, {n: float(v) for n, v in SPATIAL_KINDS[k].draw(rng).items()}) for k in kinds))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The look on one picture HxWx3 or a batch NxHxWx3, float in [0, 1]; float32, clipped to [0, 1]."""
        batch = np.asarray(images, np.float32)
        single = batch.ndim == 3
        out = []
        for image in batch[None] if single else batch:
            for kind, params in self.steps:
                image = np.clip(SPATIAL_KINDS[kind].apply(np.ascontiguousarray(image), params), 0, 1)
            out.append(image)
        return out[0] if single else np.stack(out)

    def describe(self) -> str:
        return " then ".join(f"{kind} ({', '.join(f'{n} {v:.3g}' for n, v in params.items())})"
                             for kind, params in self.steps)
