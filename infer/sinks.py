"""Where results go: image files or one video file, mirroring the source; never a half-written file.

Every file is written under a temporary name in its folder and moved into place with os.replace
once complete. A video stopped early (Ctrl-C on a file of known length) is finalized under
`<name>.partial<ext>`, so only a complete video ever carries the final name.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import cv2
import numpy as np

from .errors import InferError
from .files import atomic_write
from .sources import Source, quiet_opencv

RESULTS_DIR = Path("results")
# Container -> codec. mp4v (MPEG-4 Part 2) is what the opencv-python wheels can encode and decode
# everywhere; their FFmpeg has no H.264 encoder.
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
DEFAULT_VIDEO_EXT = ".mp4"


def _temp_name(path: Path) -> Path:
    """A hidden sibling keeping the extension (writers pick the format from it)."""
    return path.with_name(f".{path.stem}.incomplete-{uuid.uuid4().hex[:8]}{path.suffix}")


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InferError(f"{existing[0]}{more} already exists; pass --overwrite or choose another --out")


def image_name(name: str) -> str:
    """The output name of an input image: its format kept when OpenCV writes it, else `<name>.png`.

    Appending (a.gif -> a.gif.png) rather than replacing keeps a.gif and a.png apart.
    """
    path = Path(name)
    ext = path.suffix.lower()
    if ext and cv2.haveImageWriter(f"x{ext}"):
        return path.with_suffix(ext).as_posix()
    return f"{name}.png"


def _writes_one_file(source: Source) -> bool:
    return source.is_video or (source.kind == "images" and source.total == 1)


def output_path(source: Source, tag: str, out: Path | None = None) -> Path:
    """--out, or results/<source>_<G|F>.<ext> for one image or a video and results/<source>_<G|F>/ otherwise.

    An existing folder given for a one-file output receives the default file name.
    """
    if source.is_video:
        name = f"{source.name}_{tag}{DEFAULT_VIDEO_EXT}"
    elif _writes_one_file(source):
        name = f"{source.name}_{tag}{Path(image_name(source.names[0])).suffix}"
    else:
        name = f"{source.name}_{tag}"
    if out is None:
        return RESULTS_DIR / name
    return out / name if _writes_one_file(source) and out.is_dir() else out


class Sink:
    """Base: receives (frame name, image) pairs; `finish` makes the output final and returns its path."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()

    def write(self, name: str, image: np.ndarray) -> None:
        raise NotImplementedError

    def finish(self, partial: bool) -> Path | None:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop whatever is not final (called on every exit; harmless after finish)."""


class ImageSink(Sink):
    """One file per image: `path` itself for a single image, else `path/<relative name>`."""

    def __init__(self, path: Path, names: list[str], single: bool, overwrite: bool):
        if single and not cv2.haveImageWriter(f"x{path.suffix}"):
            raise InferError(f"--out {path}: give a file name with an image extension OpenCV writes (.png, .jpg, ...)")
        self.path, self.single = path, single
        self.written = 0
        self.targets = {n: self._target(n) for n in names}
        _refuse_existing(list(self.targets.values()), overwrite)

    def _target(self, name: str) -> Path:
        if self.single:
            return self.path
        return self.path / image_name(name)

    def write(self, name: str, image: np.ndarray) -> None:
        target = self.targets[name]
        ok, data = cv2.imencode(target.suffix, image)
        if not ok:
            raise InferError(f"{target}: OpenCV cannot encode {target.suffix} images")
        with atomic_write(target, fsync=False) as f:
            f.write(data.tobytes())
        self.written += 1

    def finish(self, partial: bool) -> Path | None:
        return self.path if self.written else None


class VideoSink(Sink):
    """One video file at the source's fps; the writer opens on the first frame (its size and colour).

    The FFmpeg writer of OpenCV encodes even sizes only, so an odd width or height loses its last
    column or row (cropped, never scaled).
    """

    def __init__(self, path: Path, fps: float, overwrite: bool):
        if path.suffix.lower() not in VIDEO_CODECS:
            raise InferError(f"--out {path}: use a video extension ({', '.join(VIDEO_CODECS)})")
        _refuse_existing([path], overwrite)
        self.path, self.fps, self.overwrite = path, fps, overwrite
        self.temp = _temp_name(path)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None  # (width, height) as encoded
        self.frames = 0

    def _open(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.size = (w - w % 2, h - h % 2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
        with quiet_opencv():
            self.writer = cv2.VideoWriter(str(self.temp), fourcc, self.fps, self.size, image.ndim == 3)
        if not self.writer.isOpened():
            raise InferError(f"--out {self.path}: OpenCV cannot write this video ({w}x{h})")

    def write(self, name: str, image: np.ndarray) -> None:
        if self.writer is None:
            self._open(image)
        w, h = self.size
        self.writer.write(np.ascontiguousarray(image[:h, :w]))
        self.frames += 1

    def _release(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def finish(self, partial: bool) -> Path | None:
        """Close the file; a partial one goes to <name>.partial<ext>. None when no frame was written."""
        self._release()
        if self.frames == 0:
            self.temp.unlink(missing_ok=True)
            return None
        target = self.path
        if partial:
            target = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
            n = 2
            while target.exists() and not self.overwrite:
                target = self.path.with_name(f"{self.path.stem}.partial-{n}{self.path.suffix}")
                n += 1
        os.replace(self.temp, target)
        return target

    def abort(self) -> None:
        self._release()
        self.temp.unlink(missing_ok=True)


def open_sink(source: Source, out: Path, overwrite: bool) -> Sink:
    """The sink mirroring `source`: a video file for captures, image files otherwise."""
    if source.is_video:
        return VideoSink(out, source.fps, overwrite)
    return ImageSink(out, source.names, single=_writes_one_file(source), overwrite=overwrite)
