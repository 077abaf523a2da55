"""Real photographs for benchmarks, taken from the sample pictures that scikit-image ships in its wheel.

Only the files are used (read with OpenCV); nothing is downloaded. Install them with
`pip install '.[bench]'`. Pictures are BGR uint8 arrays, as OpenCV reads them.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

# Colour photographs of everyday scenes, in a fixed order. Benchmarks that train draw training
# crops from TRAIN_PHOTOS and evaluate on HELD_OUT_PHOTOS, so no held-out pixel is ever trained on.
TRAIN_PHOTOS = ("astronaut", "coffee", "motorcycle_left", "rocket")
HELD_OUT_PHOTOS = ("chelsea", "motorcycle_right")
FILES = {
    "astronaut": "astronaut.png",  # 512x512, a portrait with flags and a suit
    "chelsea": "chelsea.png",  # 451x300, a cat
    "coffee": "coffee.png",  # 600x400, a cup on a table
    "motorcycle_left": "motorcycle_left.png",  # 741x500, a motorcycle in a garage
    "motorcycle_right": "motorcycle_right.png",  # the same scene from a second camera
    "rocket": "rocket.jpg",  # 640x427, a rocket on its pad under the sky
    "hubble_deep_field": "hubble_deep_field.jpg",  # 1000x872, galaxies on black
}


class PhotosMissing(RuntimeError):
    """scikit-image (the package that ships the photos) is not installed."""


def photo_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise PhotosMissing("these benchmarks need the photographs that scikit-image ships: "
                            "pip install '.[bench]' (or pip install scikit-image)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photo(name: str) -> np.ndarray:
    """One photograph by name (a key of FILES), BGR uint8."""
    if name not in FILES:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(FILES)}")
    path = photo_dir() / FILES[name]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotosMissing(f"{path}: cannot read the photograph; reinstall scikit-image")
    return image
