"""`Translator`: one exported generator, ready to translate OpenCV images (the Python API)."""
from __future__ import annotations

import time
from functools import cached_property, partial
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from . import contract, processing, tiling
from .errors import InferError
from .model import find_model, read_spec
from .model_file import read_model_file
from .norm_stats import count_instance_norms, expose_norm_stats
from .pipeline import RunReport, run_pipeline
from .processing import Prepared
from .runtime import (ORT_RUN_ERRORS, PROVIDER_NAMES, DeviceSession, ModelRunError, create_session, ort_message,
                      parse_device)
from .sinks import open_sink
from .sources import open_source
from .temporal import TEMPORAL_BY_DEFAULT, TemporalSettings
from .tiling import TiledFrame, Tiling

TENSORRT = PROVIDER_NAMES["tensorrt"]
DRY_RUN_MAX_PIXELS = 512 * 512  # a graph fixed at a larger size is checked on its first frame instead


class Translator:
    """Translate images with an exported cgan generator (ONNX Runtime; no torch).

    Images are OpenCV's: uint8 HxWx3 in BGR order (pass rgb=True for RGB) or HxW grayscale.
    Each comes back with its own shape; 1-channel models give grayscale. `notes` holds the
    one-line warnings of loading (no cgan metadata, GPU fallback).

        t = Translator("models/horse2zebra/G.onnx")
        zebra = t(cv2.imread("horse.jpg"))          # one image
        zebras = t([img1, img2])                     # a list, or an N x H x W x C array

    Frames larger than `tile` (or whose inference would exceed `max_memory`, by default half the
    memory available) run in overlapping tiles; `log` receives the one-line notes that tiling
    gives (docs/tiling.md).
    """

    def __init__(self, model_path: str | Path | None = None, device: str = "auto", *, gen: str | None = None,
                 size: str | None = None, fp16: bool = False, strict_device: bool = False,
                 cache_dir: str | Path | None = None, tile: int | None = None,
                 tile_overlap: int | None = None, tile_stats_scale: float = tiling.STATS_SCALE,
                 max_memory: int | str | None = None, log: Callable[[str], None] | None = None):
        self.path = find_model(model_path, gen)
        self.resize = processing.parse_size(size)
        open_session = partial(create_session, self.path, parse_device(device), strict=strict_device,
                               cache_dir=Path(cache_dir) if cache_dir else None)
        self.session = open_session(fp16=fp16)
        self.spec, warning = read_spec(self.path, self.session)
        if self.session.provider == TENSORRT and self.spec.precision == "fp16" and not fp16:
            fp16 = True
            self.session = open_session(fp16=True)  # TensorRT builds fp16 engines only when told
        self._open_session = partial(open_session, fp16=fp16)  # for the statistics graph, alike
        if self.spec.fixed_size:  # the graph takes one size only, whatever --size says
            h, w = self.spec.fixed_size
            self.resize = processing.Resize(width=w, height=h)
        self.notes = [n for n in (warning, self.session.note) if n]
        self._dry_run()
        self.model_seconds = 0.0  # time spent inside the model, summed over every run
        self.model_frames = 0
        if tile_overlap is None:  # the default, shrunk for small tiles
            tile_overlap = min(tiling.DEFAULT_OVERLAP, tile // 4) if tile else tiling.DEFAULT_OVERLAP
        self.tiling = Tiling(tile, tile_overlap, tile_stats_scale) if tile else None
        if self.tiling:
            self.tiling.check(self.spec.layout.side_multiple)
        self.overlap, self.stats_scale = tile_overlap, tile_stats_scale
        self.budget = tiling.default_budget() if max_memory is None else tiling.parse_memory(max_memory)
        info = self.spec.info
        self.carries_stats = bool(info and info.norm_stats)  # a file exported before models were plain
        # Instance-norm layers whose whole-image statistics tiles use; 0: tiles keep their own.
        self.stats_layers = info.norm_stats if self.carries_stats else count_instance_norms(self.path)
        self.tile_notes: set[str] = set()  # said once per run
        self.log = log or (lambda line: None)

    def _dry_run(self) -> None:
        """Check the output contract on a small input now, rather than on the first frame. Skipped on
        TensorRT, which would build an engine for this shape only, and for large fixed sizes: there the
        first frame's call checks it."""
        x = contract.dry_run_input(self.spec.layout, self.spec.fixed_size)
        if self.provider == TENSORRT or x.shape[2] * x.shape[3] > DRY_RUN_MAX_PIXELS:
            return
        try:
            y = self.session.run(x, self.spec.input_name, self.spec.output_name)
        except ModelRunError:  # a net that refuses this small input may still take real frames
            return
        contract.check_output(self.path, self.spec.layout, x.shape, y.shape)

    @property
    def provider(self) -> str:
        return self.session.provider

    def describe(self) -> str:
        """The start line: which file, which generator and precision, on which provider."""
        return f"running {self.spec.describe()} on {self.provider}"

    # The three stages the streaming pipeline runs in separate threads.
    def prepare(self, frame: np.ndarray) -> Prepared | TiledFrame:
        """The model's input tensor, or a TiledFrame when the frame runs in tiles."""
        original = frame.shape[:2]
        h, w = self.resize.target(*original) if self.resize else original
        plan = self._plan(h, w)
        if plan is None:
            return processing.prepare(frame, self.spec.layout, self.resize)
        if (h, w) != original:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if h * w < original[0] * original[1]
                               else cv2.INTER_LINEAR)
        return TiledFrame(frame, plan, original)

    def _plan(self, h: int, w: int) -> Tiling | None:
        if self.spec.fixed_size:  # resized to the graph's one size: memory is bounded already
            return None
        if self.tiling:
            plan = self.tiling if max(h, w) > self.tiling.tile else None
        else:
            plan = tiling.auto_tiling(h, w, self.spec.info, self.budget, self.overlap, self.stats_scale)
            if plan:
                self._note(f"{w}x{h} frames exceed the memory budget ({self.budget / 2**30:.1f} GiB) as a whole: "
                           f"translating them in {plan.tile}-pixel tiles (tile=..., max_memory=...)")
        if plan and self.stats_layers and plan.stats_scale >= 1:
            why = self._why_whole(h, w)
            if why:
                self._note(f"{w}x{h} frames run whole: {why}, and a whole-frame run gives the exact output "
                           "that tiles with its statistics only approximate, in less time (docs/tiling.md)")
                return None
        return plan

    def _why_whole(self, h: int, w: int) -> str:
        """Why a frame planned for tiles runs whole instead, or "" when it must tile.

        Tiles of an instance-norm model need a whole-frame statistics pass first. On the CPU a frame
        that fits the memory budget whole runs whole: one pass instead of that pass plus the tiles.
        On a GPU the budget (host memory) says nothing of device memory, so only a frame that the
        statistics pass runs whole at full resolution anyway is spared its tiles.
        """
        if not self.session.on_gpu and tiling.inference_bytes(h, w, self.spec.info) <= self.budget:
            return f"they fit the memory budget ({self.budget / 2**30:.1f} GiB)"
        if tiling.stats_size(h, w, 1.0, self._stats_pixels()) == (h, w):
            return "their instance-norm statistics need a whole-frame pass at full resolution anyway"
        return ""

    def frames_per_call(self, tensor_shape: tuple[int, ...]) -> int:
        """How many prepared frames of this C x H x W shape one model call may take within the memory
        budget (at least 1): a batch of frames that each fit may not fit together."""
        h, w = tensor_shape[-2:]
        return max(1, self.budget // tiling.inference_bytes(h, w, self.spec.info))

    def _stats_pixels(self) -> int:
        """The most pixels the statistics pass runs on (downscaled beyond)."""
        return min(tiling.STATS_MAX_PIXELS, tiling.pixels_within(self.budget, self.spec.info))

    def _note(self, line: str) -> None:
        if line not in self.tile_notes:
            self.tile_notes.add(line)
            self.log(line)

    def run_tiled(self, tiled: TiledFrame) -> np.ndarray:
        """A TiledFrame through the model tile by tile: the finished OpenCV image."""
        run = partial(self._run_feeds, self.tile_session)  # opening it first may leave stats_layers at 0
        result = tiling.translate_tiled(tiled.frame, tiled.tiling, self.spec.layout, run, self.spec.output_name,
                                        self.stats_layers, self._stats_pixels())
        if result.shape[:2] != tiled.original:
            oh, ow = tiled.original
            result = cv2.resize(result, (ow, oh), interpolation=cv2.INTER_LINEAR)
        return result

    @cached_property
    def tile_session(self) -> DeviceSession:
        """The session tiles run on, opened on first use: for an instance-norm model, the statistics graph
        derived from it (cgan.infer.norm_stats), opened like the model; else, or with a warning when that
        graph cannot be derived or opened, the model's own session."""
        if not self.stats_layers or self.carries_stats:
            return self.session
        try:
            graph, self.stats_layers = expose_norm_stats(read_model_file(self.path))
            return self._open_session(model=graph)
        except (ValueError, InferError) as e:
            self._note(f"warning: tiles of {self.path.name} cannot use the whole image's instance-norm statistics "
                       f"({e}); each is normalized on its own and may differ in colour")
            self.stats_layers = 0
            return self.session

    def _run_feeds(self, session: DeviceSession, feeds: dict[str, np.ndarray], outputs: list[str],
                   x: np.ndarray) -> list[np.ndarray]:
        """One call of the tile pass with extra inputs (instance-norm statistics) and any outputs; timed."""
        start = time.perf_counter()
        try:
            result = session.session.run(outputs, {self.spec.input_name: x, **feeds})
        except ORT_RUN_ERRORS as e:
            raise ModelRunError(f"the model failed on a {x.shape[3]}x{x.shape[2]} tile ({ort_message(e)})") from None
        self.model_seconds += time.perf_counter() - start
        if outputs[0] == self.spec.output_name:
            contract.check_output(self.path, self.spec.layout, x.shape, result[0].shape)
        return result

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """N x C x H x W in, N x C' x H x W out; timed into model_seconds."""
        start = time.perf_counter()
        out = self.session.run(batch, self.spec.input_name, self.spec.output_name)
        self.model_seconds += time.perf_counter() - start
        contract.check_output(self.path, self.spec.layout, batch.shape, out.shape)
        self.model_frames += len(batch)
        return out

    def finish(self, y: np.ndarray, prepared: Prepared | TiledFrame) -> np.ndarray:
        if isinstance(prepared, TiledFrame):  # run_tiled gave the finished image
            return y
        return processing.finish(y, prepared, self.spec.layout)

    def __call__(self, images: np.ndarray | Sequence[np.ndarray], rgb: bool = False):
        """One image (HxWx3, HxWx1 or HxW uint8) or a batch (list, or N x H x W x C array).

        A batch whose images share a size runs as one model call; otherwise one call per image.
        """
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            return self._batch([images], rgb)[0]
        if isinstance(images, np.ndarray) and images.ndim != 4:
            raise InferError(f"expected HxWxC, HxW or NxHxWxC images, got an array of shape {images.shape}")
        if not isinstance(images, (np.ndarray, list, tuple)) or len(images) == 0:
            raise InferError(f"expected an image (numpy array) or a non-empty list of images, got {_what(images)}")
        results = self._batch(list(images), rgb)
        return np.stack(results) if isinstance(images, np.ndarray) else results

    def _batch(self, images: list[np.ndarray], rgb: bool) -> list[np.ndarray]:
        prepared = [self.prepare(_to_opencv(img, rgb)) for img in images]
        if any(isinstance(p, TiledFrame) for p in prepared):
            outputs = [self.run_tiled(p) if isinstance(p, TiledFrame) else self.infer(p.tensor[None])[0]
                       for p in prepared]
        elif len({p.tensor.shape for p in prepared}) == 1:
            per_call = self.frames_per_call(prepared[0].tensor.shape)
            outputs = [y for i in range(0, len(prepared), per_call)
                       for y in self.infer(np.stack([p.tensor for p in prepared[i:i + per_call]]))]
        else:
            outputs = [self.infer(p.tensor[None])[0] for p in prepared]
        return [_like(self.finish(y, p), img, rgb) for y, p, img in zip(outputs, prepared, images)]


def translate_video(translator: Translator | str | Path, video: str | Path, out: str | Path, *,
                    overwrite: bool = False, side_by_side: bool = False, batch: int = 1,
                    progress: bool = False, temporal: bool = TEMPORAL_BY_DEFAULT) -> RunReport:
    """Translate a whole video file into `out` (same fps, size and frame count); returns the report.

    `translator` is a Translator or a model path (run with device="auto"); `temporal` as cgan-infer's.
    """
    if not isinstance(translator, Translator):
        translator = Translator(translator)
    with open_source("video", video) as source, open_sink(source, Path(out), overwrite, translator.log) as sink:
        return run_pipeline(translator, source, sink, batch=batch, compare=side_by_side, progress=progress,
                            temporal=TemporalSettings() if temporal else None)


def _what(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"an empty {type(value).__name__}" if not value else f"a {type(value).__name__}"
    return f"{type(value).__name__}"


def _to_opencv(image: np.ndarray, rgb: bool) -> np.ndarray:
    if (not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3)
            or (image.ndim == 3 and image.shape[2] not in (1, 3)) or 0 in image.shape):
        raise InferError(f"expected uint8 HxWx3, HxWx1 or HxW images with no empty side, got {_what(image)}")
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image[:, :, ::-1] if rgb and image.ndim == 3 else image


def _like(result: np.ndarray, image: np.ndarray, rgb: bool) -> np.ndarray:
    """The result in the layout of the image it came from (same shape, same colour order)."""
    if image.ndim == 2 or image.shape[2] == 1:
        gray = result if result.ndim == 2 else cv2.cvtColor(result, cv2.COLOR_BGR2GRAY)
        return gray.reshape(image.shape)
    color = result if result.ndim == 3 else np.repeat(result[:, :, None], 3, axis=2)
    return np.ascontiguousarray(color[:, :, ::-1]) if rgb else color
