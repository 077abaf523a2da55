"""Tiled inference: images of any size in bounded memory, without seams or per-tile colours.

A frame is cut into overlapping tiles of equal size, each translated on its own and blended into
a preallocated uint8 output with feathered weights that sum to one. Instance norm would normalize
each tile by its own statistics (the cause of tiles in different colours), so instance-norm models
first run once on a downscaled copy of the whole frame, in the graph that exposes their statistics
(cgan.infer.norm_stats), and every tile is normalized with those statistics.
docs/tiling.md gives the reasons and the measurements.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .errors import InferError, cut, quoted
from .metadata import NORM_STATS_WEIGHT, ModelInfo, norm_stat_names
from .processing import Layout, prepare

DEFAULT_OVERLAP = 64  # pixels shared by neighbouring tiles
STATS_SCALE = 1.0  # the statistics pass runs on the frame scaled by this (each side) ...
STATS_MAX_PIXELS = 2048 * 1536  # ... and downscaled further to at most this many pixels (and the budget)
MEMORY_FRACTION = 0.5  # of MemAvailable: the default budget
FALLBACK_BUDGET = 4 << 30  # when /proc/meminfo cannot be read
ASSUMED_NGF = 64  # for models without cgan metadata
BYTES_PER_PIXEL_PER_NGF = 24  # ONNX Runtime's peak working memory per pixel and filter (resnet, CPU, measured)
FRAME_BYTES_PER_PIXEL = 48  # input and output as float32 and uint8 besides the model's own memory
AUTO_TILE_SIDES = (1024, 768, 512, 384, 256, 128)  # tried in turn when a frame must be tiled
MAX_MEMORY = 1 << 50  # bytes: a budget beyond any machine's memory is a typo
MEMORY_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

# (extra feeds, output names, image tensor N x C x H x W) -> the outputs
Run = Callable[[dict[str, np.ndarray], list[str], np.ndarray], list[np.ndarray]]


def parse_memory(value: int | str) -> int:
    """A memory budget in bytes: an int, or text such as '4G', '1500M', '2.5GiB', '800MB' (powers of 1024)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", value.lower())
        size = float(m.group(1)) * MEMORY_UNITS[m.group(2)] if m else 0.0  # inf for a number of 400 digits
        given = quoted(value)
    else:
        size = value if isinstance(value, int) and not isinstance(value, bool) else 0
        given = cut(str(value))
    if not 0 < size <= MAX_MEMORY:
        raise InferError(f"max_memory={given}: give a size like 4G, 1500M or 2.5GiB, or a number of bytes, at most "
                         f"{MAX_MEMORY >> 40}T")
    return int(size)


def default_budget(meminfo: str = "/proc/meminfo") -> int:
    """MEMORY_FRACTION of the memory available now (Linux), else FALLBACK_BUDGET."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * MEMORY_FRACTION)
    except OSError:
        pass
    return FALLBACK_BUDGET


def inference_bytes(height: int, width: int, info: ModelInfo | None) -> int:
    """The memory one model call on a height x width input needs, estimated."""
    ngf = info.ngf if info is not None else ASSUMED_NGF
    return height * width * (BYTES_PER_PIXEL_PER_NGF * ngf + FRAME_BYTES_PER_PIXEL)


def pixels_within(budget: int, info: ModelInfo | None) -> int:
    """The largest input (in pixels) one model call can take within half the budget."""
    return budget // 2 // inference_bytes(1, 1, info)


@dataclass(frozen=True)
class TiledFrame:
    """A frame that runs tile by tile (what Translator.prepare gives instead of a Prepared)."""

    frame: np.ndarray  # the OpenCV frame (already resized by --size)
    tiling: "Tiling"
    original: tuple[int, int]  # (h, w) of the frame before --size


@dataclass(frozen=True)
class Tiling:
    """How to tile: the largest tile side and the overlap between neighbours."""

    tile: int
    overlap: int = DEFAULT_OVERLAP
    stats_scale: float = STATS_SCALE  # of the statistics pass's copy, each side

    def check(self, multiple: int) -> None:
        if self.tile < 2 * multiple or self.tile < 16:
            raise InferError(f"tile={self.tile}: use at least {max(16, 2 * multiple)} pixels")
        if not 0 <= self.overlap <= self.tile // 4:
            raise InferError(f"tile_overlap={self.overlap}: use 0 to a quarter of tile=... ({self.tile // 4})")


def auto_tiling(height: int, width: int, info: ModelInfo | None, budget: int, overlap: int,
                stats_scale: float = STATS_SCALE) -> Tiling | None:
    """The tiling a frame needs to stay within `budget` bytes, or None when it fits whole.

    Raises InferError when even the smallest tile leaves no room for the frame and its output.
    """
    if inference_bytes(height, width, info) <= budget:
        return None
    frame = height * width * 6  # the decoded frame and the output, uint8
    for side in AUTO_TILE_SIDES:
        if frame + inference_bytes(side, side, info) <= budget:
            return Tiling(side, min(overlap, side // 4), stats_scale)
    raise InferError(f"{width}x{height} is too large for the memory budget of {budget / 2**30:.1f} GiB even in tiles "
                     f"(the image and its output alone take {frame / 2**30:.1f} GiB); raise max_memory=...")


def axis_tiles(length: int, tile: int, overlap: int, multiple: int) -> tuple[list[int], int]:
    """Start positions and the common size of tiles covering [0, length), spread evenly.

    Tiles are as few as the overlap allows and all of one size (a multiple of `multiple`, at
    most `tile`), so each row of tiles could run as one batch.
    """
    tile = max(multiple, tile - tile % multiple)
    if length <= tile:
        return [0], length
    count = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, -(-math.ceil((length + (count - 1) * overlap) / count) // multiple) * multiple)
    starts = [round(i * (length - size) / (count - 1)) for i in range(count)]
    return starts, size


def axis_weights(starts: list[int], size: int) -> list[np.ndarray]:
    """Each tile's 1-D blending weights; on every pixel the weights of the tiles covering it sum to 1.

    In an overlap, the weight moves linearly from one tile to the next over its middle half, so
    the outer quarter on each side, where a tile lacks context, gets no weight.
    """
    weights = [np.ones(size, np.float32) for _ in starts]
    for i in range(len(starts) - 1):
        begin, end = starts[i + 1], starts[i] + size  # the overlap of tiles i and i+1
        margin = (end - begin) // 4
        a, b = begin + margin, end - margin
        ramp = np.clip((np.arange(begin, end) + 0.5 - a) / max(b - a, 1), 0, 1).astype(np.float32)
        weights[i + 1][:end - begin] = ramp
        weights[i][begin - starts[i]:] = 1 - ramp
    return weights


def stats_size(height: int, width: int, scale: float = STATS_SCALE,
               max_pixels: int = STATS_MAX_PIXELS) -> tuple[int, int]:
    """(h, w) of the downscaled copy the statistics pass runs on."""
    scale = min(scale, math.sqrt(max_pixels / (height * width)))
    return max(16, round(height * scale)), max(16, round(width * scale))


def whole_image_stats(run: Run, frame: np.ndarray, layout: Layout, layers: int, scale: float = STATS_SCALE,
                      max_pixels: int = STATS_MAX_PIXELS) -> dict[str, np.ndarray]:
    """The statistics feeds of every instance-norm layer, from a downscaled copy of the whole frame."""
    h, w = stats_size(*frame.shape[:2], scale, max_pixels)
    small = frame if (h, w) == frame.shape[:2] else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    names = [norm_stat_names(i) for i in range(layers)]
    outputs = run({}, [n[k] for n in names for k in ("mean", "var")], prepare(small, layout).tensor[None])
    feeds = {NORM_STATS_WEIGHT: np.array(1.0, np.float32)}
    for i, n in enumerate(names):
        feeds[n["mean_in"]], feeds[n["var_in"]] = outputs[2 * i][:1], outputs[2 * i + 1][:1]
    return feeds


def translate_tiled(frame: np.ndarray, tiling: Tiling, layout: Layout, run: Run, output_name: str,
                    stats_layers: int, stats_pixels: int = STATS_MAX_PIXELS) -> np.ndarray:
    """One OpenCV frame through the model tile by tile; returns the OpenCV output of the frame's size.

    `stats_layers` > 0 makes tiles use the whole image's instance-norm statistics; 0 leaves each
    tile its own (a model exported without them, or one without instance norm).
    """
    h, w = frame.shape[:2]
    rows, tile_h = axis_tiles(h, tiling.tile, tiling.overlap, layout.side_multiple)
    cols, tile_w = axis_tiles(w, tiling.tile, tiling.overlap, layout.side_multiple)
    row_weights, col_weights = axis_weights(rows, tile_h), axis_weights(cols, tile_w)
    stats = (whole_image_stats(run, frame, layout, stats_layers, tiling.stats_scale, stats_pixels)
             if stats_layers else {})
    lo, hi = layout.value_range
    out = np.empty((h, w, 3) if layout.output_channels == 3 else (h, w), np.uint8)
    band = np.zeros((tile_h, w, layout.output_channels), np.float32)  # rows of one tile row, pixel units
    for r, y0 in enumerate(rows):
        for x0, wx in zip(cols, col_weights):
            x = prepare(frame[y0:y0 + tile_h, x0:x0 + tile_w], layout).tensor[None]
            y = run(stats, [output_name], x)[0][0, :, :tile_h, :tile_w].astype(np.float32).transpose(1, 2, 0)
            weight = (row_weights[r][:, None] * wx[None, :])[:, :, None] * (255.0 / (hi - lo))
            band[:, x0:x0 + tile_w] += (y - lo) * weight
        done = (rows[r + 1] if r + 1 < len(rows) else y0 + tile_h) - y0  # rows no later tile touches
        out[y0:y0 + done] = _to_opencv(band[:done], layout)
        band = np.concatenate([band[done:], np.zeros((done, w, layout.output_channels), np.float32)])
    return out


def _to_opencv(pixels: np.ndarray, layout: Layout) -> np.ndarray:
    """Blended float pixels (model channel order) -> uint8 BGR or gray."""
    pixels = np.clip(pixels, 0, 255).round().astype(np.uint8)
    if layout.output_channels == 1:
        return pixels[:, :, 0]
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if layout.color_order == "RGB" else pixels
