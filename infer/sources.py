"""Where frames come from: `open_source(kind, value)` for images, folders, videos, cameras and streams.

Every source is a context manager and an iterable of `Frame`s, and tells what it knows about
itself (name, fps, frame size, total count) so that sinks and progress bars need nothing else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

import cv2
import numpy as np

from .apart import NO_INPUTS, Inputs
from .errors import InferError, cut
from .image_files import UnreadableImage, read_image
from .naming import unique_names
from .native_logs import native_stderr, quiet_opencv

DEFAULT_FPS = 30.0  # when a camera or stream does not report its frame rate


@dataclass
class Frame:
    """One frame or image and where it came from; `image` is None (and `error` says why) when unreadable."""

    name: str  # relative path for image files ("sub/a.png"), "<source>#<index>" for video frames
    index: int
    image: np.ndarray | None  # uint8 BGR, HxWx3
    error: str = ""


class Capture(Protocol):
    """What we use of cv2.VideoCapture; tests inject fakes with the same methods."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


class Source:
    """Base: a named sequence of frames. `live` sources (camera, stream) have no end of their own."""

    def __init__(self, name: str, kind: str, live: bool = False):
        self.name = name  # names the default output: results/<name>_G...
        self.kind = kind  # images, folder, video, camera or stream
        self.live = live
        self.fps: float | None = None
        self.size: tuple[int, int] | None = None  # (width, height) when all frames share it
        self.total: int | None = None
        self.inputs: Inputs = NO_INPUTS  # the files (and folder) read, which no output may touch

    @property
    def is_video(self) -> bool:
        """True when the frames form one video (written to one video file)."""
        return self.fps is not None

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError


class ImageFiles(Source):
    """Image files given one by one, or a folder's (names relative to `root`, so outputs mirror its tree)."""

    def __init__(self, name: str, paths: list[Path], root: Path | None = None):
        super().__init__(name, "folder" if root else "images")
        self.paths = paths
        self.names = unique_names([p.relative_to(root).as_posix() if root else p.name for p in paths])
        self.total = len(paths)
        self.inputs = Inputs(paths, root)

    def __iter__(self) -> Iterator[Frame]:
        for i, (path, name) in enumerate(zip(self.paths, self.names)):
            try:
                yield Frame(name, i, read_image(path))
            except UnreadableImage as e:
                yield Frame(name, i, None, str(e))


class CaptureSource(Source):
    """A video file, camera or stream read through cv2.VideoCapture (or an injected fake)."""

    def __init__(self, name: str, capture: Capture, kind: str, live: bool, file: Path | None = None):
        super().__init__(name, kind, live)
        if file is not None:
            self.inputs = Inputs([file])
        self.capture = capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and math.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        w, h = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w > 0 and h > 0 else None
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.total = int(count) if not live and count and math.isfinite(count) and count > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok or image is None:
                if self.total is not None and index < self.total:  # never a silent loss
                    yield Frame(f"{self.name}#{index}", index, None,
                                f"the video ends after {index} of its {self.total} frames (truncated or damaged)")
                return
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            yield Frame(f"{self.name}#{index}", index, image)
            index += 1

    def close(self) -> None:
        self.capture.release()


def _open_capture(target, what: str, factory: Callable[..., Capture], *api: int) -> Capture:
    # Sources open before the pipeline's threads start; OpenCV's own AVI parser prints to the C stderr.
    with quiet_opencv(), native_stderr(only_thread=True):
        capture = factory(target, *api)
        if capture.isOpened():
            return capture
    capture.release()
    raise InferError(f"cannot open {what}")


def _images(values: list[str], factory) -> Source:
    paths = [Path(v) for v in values]
    for p in paths:
        if not p.is_file():
            raise InferError(f"image={str(p)!r}: no such file")
    return ImageFiles(paths[0].stem if len(paths) == 1 else "images", paths)


def _folder(value: str, factory) -> Source:
    root = Path(value)
    if not root.is_dir():
        raise InferError(f"folder={str(root)!r}: no such folder")
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise InferError(f"folder={str(root)!r}: no files in it")
    return ImageFiles(root.resolve().name, files, root)


def _video(value: str, factory) -> Source:
    path = Path(value)
    if not path.is_file():
        raise InferError(f"video={str(path)!r}: no such file")
    capture = _open_capture(str(path), f"video={str(path)!r}: OpenCV cannot decode it as a video", factory)
    return CaptureSource(path.stem, capture, "video", live=False, file=path)


MAX_CAMERA_INDEX = 1023


def _camera(value: str, factory) -> Source:
    index = int(value)
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise InferError(f"camera={cut(str(index))}: use an index from 0 to {MAX_CAMERA_INDEX} "
                         "(0 is the first camera)")
    capture = _open_capture(index, f"camera={index}: no camera with that index (or it is in use)", factory)
    return CaptureSource(f"camera{index}", capture, "camera", live=True)


def _stream(value: str, factory) -> Source:
    url = urlparse(value)
    if not url.scheme:
        raise InferError(f"stream={value!r}: not a URL (rtsp://..., http://..., file://...)")
    capture = _open_capture(value, f"stream={value!r}: cannot open it (unreachable, or not a video OpenCV's "
                                    "FFmpeg backend can read)", factory, cv2.CAP_FFMPEG)
    stem = Path(url.path).stem or "stream"
    local = Path(url2pathname(url.path)) if url.scheme == "file" else None
    return CaptureSource(stem, capture, "stream", live=local is None, file=local)


SOURCES: dict[str, Callable[..., Source]] = {
    "image": _images, "folder": _folder, "video": _video, "camera": _camera, "stream": _stream}


def open_source(kind: str, value, capture_factory: Callable[..., Capture] | None = None) -> Source:
    """The one door: kind is image (value: list of paths), folder, video, camera (index) or stream (URL).

    `capture_factory` replaces cv2.VideoCapture (tests use a fake camera).
    """
    if kind not in SOURCES:
        raise InferError(f"unknown source {kind!r}; use one of {', '.join(SOURCES)}")
    return SOURCES[kind](value, capture_factory or cv2.VideoCapture)
