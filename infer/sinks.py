"""Where results go: image files or one video file, mirroring the source; never a half-written file.

Every file is written under a temporary name in its folder (see files.py), read back to check it
is whole, and only then moved into place. A video stopped early (Ctrl-C, SIGTERM or SIGHUP on a file
of known length) is finalized under `<name>.partial<ext>`, so only a complete video ever carries the
final name. Output names are unique (naming.py) and never follow a symlink below the output folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .apart import NO_INPUTS, Inputs, refuse_overlap
from .errors import InferError
from .files import DestinationExists, atomic_write, create_temp, os_reason, publish
from .image_files import UnreadableImage, read_image
from .naming import unique_names
from .native_logs import quiet_opencv
from .sources import Source

RESULTS_DIR = Path("results")
# Container -> codec. mp4v (MPEG-4 Part 2) is what the opencv-python wheels can encode and decode
# everywhere; their FFmpeg has no H.264 encoder.
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
DEFAULT_VIDEO_EXT = ".mp4"
# The smallest width and height (after cropping to even) each codec's OpenCV writer is given, found by
# trying: smaller MJPG frames (below one 16x16 JPEG block; 8x6, 4x4, 2x8) corrupt the heap and abort
# the process; mp4v writes and reads back every even size from 2x2.
MIN_FRAME_SIDE = {"MJPG": 16, "mp4v": 2}


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    if overwrite:
        return
    existing = [p for p in paths if os.path.lexists(p)]  # a symlink, even a dangling one, counts
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InferError(f"{existing[0]}{more} already exists; pass overwrite=True or choose another out=...")


def _written(target: Path, write) -> None:
    """Run `write()`, turning what can go wrong on the way to disk into one line naming `target`."""
    try:
        write()
    except DestinationExists:
        raise InferError(f"{target} appeared while writing; pass overwrite=True or choose another out=...") from None
    except OSError as e:
        raise InferError(f"{target}: cannot write it ({os_reason(e)}); nothing was left under that name") from None


def _refuse_symlinked_folders(root: Path, target: Path) -> None:
    """Never write through a symlink planted below the output folder (out/sub -> elsewhere)."""
    for folder in reversed(target.relative_to(root).parents[:-1]):
        if (root / folder).is_symlink():
            raise InferError(f"{root / folder} is a symlink; cgan-infer does not write through it")


def video_frames(path: Path, expected: int) -> int:
    """How many frames of a video file read back: the container's count when it says `expected` and
    the last frame decodes (quick), else every frame decoded from the start."""
    with quiet_opencv():
        capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return 0
        if int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == expected:
            capture.set(cv2.CAP_PROP_POS_FRAMES, expected - 1)
            if capture.grab() and not capture.grab():
                return expected
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


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

    def __init__(self, path: Path, names: list[str], single: bool, overwrite: bool, inputs: Inputs = NO_INPUTS):
        if single and not cv2.haveImageWriter(f"x{path.suffix}"):
            raise InferError(f"out={str(path)!r}: give a file name with an image extension OpenCV writes (.png, .jpg, ...)")
        self.path, self.single, self.overwrite = path, single, overwrite
        self.written = 0
        outputs = [path] if single else [path / n for n in unique_names([image_name(n) for n in names])]
        self.targets = dict(zip(names, outputs))
        refuse_overlap(inputs, outputs if single else [path, *outputs])
        _refuse_existing(outputs, overwrite)

    def write(self, name: str, image: np.ndarray) -> None:
        target = self.targets[name]
        ok, data = cv2.imencode(target.suffix, image)
        if not ok:
            raise InferError(f"{target}: OpenCV cannot encode {target.suffix} images")
        if not self.single:
            _refuse_symlinked_folders(self.path, target)

        def check(temp: Path) -> None:
            try:
                shape = read_image(temp).shape[:2]
            except UnreadableImage as e:
                raise InferError(f"{target}: the written file does not read back ({e}); is the disk full?") from None
            if shape != image.shape[:2]:
                raise InferError(f"{target}: the written file reads back as {shape[1]}x{shape[0]}, "
                                 f"not {image.shape[1]}x{image.shape[0]}; is the disk full?")

        def write() -> None:
            with atomic_write(target, fsync=False, check=check, overwrite=self.overwrite) as f:
                f.write(data.tobytes())

        _written(target, write)
        self.written += 1

    def finish(self, partial: bool) -> Path | None:
        return self.path if self.written else None


class VideoSink(Sink):
    """One video file at the source's fps; the writer opens on the first frame (its size and colour).

    The FFmpeg writer of OpenCV encodes even sizes only, so an odd width or height loses its last
    column or row (cropped, never scaled). A frame of another size than the first (a stream whose
    size changes at a scene cut) is resized to the file's size, with one line to `log`: OpenCV's
    writer would drop it silently.
    """

    def __init__(self, path: Path, fps: float, overwrite: bool, inputs: Inputs = NO_INPUTS,
                 log: Callable[[str], None] | None = None):
        if path.suffix.lower() not in VIDEO_CODECS:
            raise InferError(f"out={str(path)!r}: use a video extension ({', '.join(VIDEO_CODECS)})")
        refuse_overlap(inputs, [path])
        _refuse_existing([path], overwrite)
        self.path, self.fps, self.overwrite, self.inputs = path, fps, overwrite, inputs
        self.log = log or (lambda line: None)
        self.temp: Path | None = None
        self.writer: cv2.VideoWriter | None = None
        self.first: tuple[int, int] | None = None  # (height, width) of the first frame: every frame is written so
        self.size: tuple[int, int] | None = None  # (width, height) as encoded
        self.resized: set[tuple[int, int]] = set()  # other frame sizes met (said once each)
        self.frames = 0

    def _open(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.first, self.size = (h, w), (w - w % 2, h - h % 2)
        codec = VIDEO_CODECS[self.path.suffix.lower()]
        if min(self.size) < MIN_FRAME_SIDE[codec]:
            fits = [ext for ext, c in VIDEO_CODECS.items() if min(self.size) >= MIN_FRAME_SIDE[c]]
            raise InferError(f"out={str(self.path)!r}: {w}x{h} frames are too small for a {codec} video (at least "
                             f"{MIN_FRAME_SIDE[codec]} pixels a side)" + (f"; use {fits[0]}" if fits else ""))
        try:
            self.temp = create_temp(self.path)
        except OSError as e:
            raise InferError(f"out={str(self.path)!r}: cannot write there ({os_reason(e)})") from None
        fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
        with quiet_opencv():
            self.writer = cv2.VideoWriter(str(self.temp), fourcc, self.fps, self.size, image.ndim == 3)
        if not self.writer.isOpened():
            raise InferError(f"out={str(self.path)!r}: OpenCV cannot write this video ({w}x{h})")

    def write(self, name: str, image: np.ndarray) -> None:
        if self.writer is None:
            self._open(image)
        if image.shape[:2] != self.first:
            image = self._like_first(name, image)
        w, h = self.size
        self.writer.write(np.ascontiguousarray(image[:h, :w]))
        self.frames += 1

    def _like_first(self, name: str, image: np.ndarray) -> np.ndarray:
        """`image` in the first frame's size."""
        (fh, fw), (h, w) = self.first, image.shape[:2]
        if (h, w) not in self.resized:
            self.resized.add((h, w))
            self.log(f"{name}: the frames change size from {fw}x{fh} to {w}x{h} (a scene cut?); "
                     f"resized to the video's {fw}x{fh}")
        smaller = fw * fh < w * h
        return cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)

    def _release(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def finish(self, partial: bool) -> Path | None:
        """Close the file, check every frame reads back, and move it into place; a partial one goes to
        <name>.partial<ext>. None when no frame was written."""
        self._release()
        if self.frames == 0:
            self.abort()
            return None
        readable = video_frames(self.temp, self.frames)
        if readable != self.frames:
            self.abort()
            raise InferError(f"{self.path}: only {readable} of the {self.frames} frames written read back "
                             "(is the disk full?); nothing was kept under that name")
        target = self.path
        if partial:
            target = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
            n = 2
            while os.path.lexists(target) and (not self.overwrite or self.inputs.overlap(target)):
                target = self.path.with_name(f"{self.path.stem}.partial-{n}{self.path.suffix}")
                n += 1
        _written(target, lambda: publish(self.temp, target, self.overwrite))
        self.temp = None
        return target

    def abort(self) -> None:
        self._release()
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


def open_sink(source: Source, out: Path, overwrite: bool, log: Callable[[str], None] | None = None) -> Sink:
    """The sink mirroring `source`: a video file for captures, image files otherwise; never over or among
    the source's inputs. `log` receives one-line notes (a video whose frames change size)."""
    if source.is_video:
        return VideoSink(out, source.fps, overwrite, source.inputs, log)
    return ImageSink(out, source.names, single=_writes_one_file(source), overwrite=overwrite, inputs=source.inputs)
