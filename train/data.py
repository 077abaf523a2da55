"""Unaligned two-domain datasets and their loader.

Every random choice of an item (which Y goes with X number i, crop offsets, flips) comes from
`item_rng(seed, epoch, index)`, never from global state, so an item is a pure function of
(seed, epoch, index): the same in any worker, any process and after any resume. Datasets accept
either a plain index (using the epoch given to `set_epoch`) or an `(epoch, index)` key; the
loader's `EpochSampler` yields such keys, so workers never depend on the dataset's epoch.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .images import DataError, UnreadableImage, decode_image, find_images, to_unit_float
from .preprocess import CROPPING, PREPROCESSORS, Preprocess

__all__ = ["DataError", "UnreadableImage", "Preprocess", "UnalignedDataset", "EpochSampler", "build_loader",
           "check_batchable", "start_epoch", "item_rng", "check_seed", "split_key", "to_tensor", "domain_folders"]

_SAMPLER_STREAM = 0x73616D70  # keeps the sampler's random stream apart from the items'
DIRECTIONS = ("AtoB", "BtoA")


class CorruptImageWarning(UserWarning):
    """A file was skipped because it cannot be decoded."""


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one item: a pure function of (seed, epoch, index)."""
    return np.random.default_rng((seed, epoch, index))


def check_seed(seed: int) -> int:
    """Seeds of data randomness are non-negative integers (numpy's SeedSequence needs that)."""
    if not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed {seed!r}: use a non-negative integer")
    return seed


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWxC image (uint8, uint16, or float in [0, 1]) -> CxHxW float32 tensor in [-1, 1]."""
    unit = to_unit_float(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return torch.from_numpy(unit * np.float32(2) - np.float32(1))


def split_key(key, default_epoch: int) -> tuple[int, int]:
    """A dataset key, `index` or `(epoch, index)`, as (epoch, index)."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return default_epoch, int(key)


def domain_folders(root: str | Path, direction: str = "AtoB", phase: str = "train") -> tuple[Path, Path]:
    """The folders of domain X and domain Y: DIR/<phase>A and DIR/<phase>B, swapped for BtoA."""
    if direction not in DIRECTIONS:
        raise DataError(f"unknown direction {direction!r}; choose AtoB or BtoA")
    a, b = Path(root) / f"{phase}A", Path(root) / f"{phase}B"
    return (a, b) if direction == "AtoB" else (b, a)


class ImageFolder:
    """The sorted image files of one domain, decoded on demand; undecodable files are reported
    once (across epochs and loader workers, which share the flags) and replaced by the next
    readable file, so a key still maps to one image deterministically. A folder with no
    decodable file at all is refused when it is opened, before any loader worker starts."""

    def __init__(self, folder: Path, root: Path, phase: str, channels: int, max_size: int | None):
        if channels not in (1, 3):
            raise DataError(f"{folder}: images can be read with 1 or 3 channels, not {channels}")
        files = find_images(folder)
        if not files:
            what = "does not exist" if not folder.is_dir() else "holds no image files"
            raise DataError(f"{folder} {what}; expected the layout {root}/{phase}A/*.jpg and "
                            f"{root}/{phase}B/*.jpg (png, bmp, tif, webp also work, in subfolders too)")
        self.folder = folder
        self.paths = files[:max_size] if max_size else files
        self.channels = channels
        self._bad = torch.zeros(len(self.paths), dtype=torch.bool).share_memory_()
        self.load(0)

    def __len__(self) -> int:
        return len(self.paths)

    def unreadable(self) -> list[str]:
        """The files found undecodable so far (by any worker)."""
        return [p for p, bad in zip(self.paths, self._bad.tolist()) if bad]

    def load(self, i: int) -> tuple[np.ndarray, str]:
        """Image number i (or the next readable one) as decoded (see decode_image), with its path."""
        n = len(self.paths)
        for j in (k % n for k in range(i, i + n)):
            if self._bad[j]:
                continue
            try:
                return decode_image(self.paths[j], self.channels), self.paths[j]
            except UnreadableImage as e:
                if not self._bad[j]:  # another worker may have reported it meanwhile
                    self._bad[j] = True
                    warnings.warn(f"skipping {e}", CorruptImageWarning, stacklevel=2)
        raise DataError(f"no file in {self.folder} can be decoded ({n} tried, each skipped with a warning); "
                        "put images there that OpenCV reads (jpg, png, bmp, tif, webp)")


class UnalignedDataset(Dataset):
    """X in order, Y drawn at random (or in order with serial_batches); length max(|X|, |Y|).

    Items are dicts {"x", "y": CxHxW float32 in [-1, 1], "x_path", "y_path": str}.
    `channels` is (channels of X, channels of Y), i.e. (input_nc, output_nc) of G.
    """

    def __init__(self, root: str | Path, preprocess: Preprocess, channels: tuple[int, int] = (3, 3),
                 direction: str = "AtoB", phase: str = "train", serial_batches: bool = False,
                 max_size: int | None = None, seed: int = 0):
        root = Path(root)
        fx, fy = domain_folders(root, direction, phase)
        self.x = ImageFolder(fx, root, phase, channels[0], max_size)
        self.y = ImageFolder(fy, root, phase, channels[1], max_size)
        self.preprocess = preprocess
        self.serial_batches = serial_batches
        self.seed = check_seed(seed)
        self.epoch = 0
        self.domains = (fx.name, fy.name)
        self.sizes = (len(self.x), len(self.y))

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain integer indices."""
        self.epoch = epoch

    def __len__(self) -> int:
        return max(len(self.x), len(self.y))

    def __getitem__(self, key) -> dict:
        epoch, index = split_key(key, self.epoch)
        rng = item_rng(self.seed, epoch, index)
        iy = index % len(self.y) if self.serial_batches else int(rng.integers(len(self.y)))
        x, x_path = self.x.load(index % len(self.x))
        y, y_path = self.y.load(iy)
        return {"x": to_tensor(self.preprocess(x, rng)), "y": to_tensor(self.preprocess(y, rng)),
                "x_path": x_path, "y_path": y_path}


def check_batchable(dataset: UnalignedDataset, batch_size: int) -> None:
    """Refuse a batch size above 1 when a preprocess that keeps each image's own shape (none,
    scale_width) makes images of one domain come out in different sizes, which cannot be stacked.
    Decodes every image once, so only in that case."""
    mode = dataset.preprocess.mode
    if batch_size == 1 or mode in CROPPING:
        return
    rng = np.random.default_rng(0)  # those modes draw nothing; the flip is not applied here
    for folder in (dataset.x, dataset.y):
        first: tuple[tuple[int, ...], str] | None = None
        for i in range(len(folder)):
            img, path = folder.load(i)
            shape = PREPROCESSORS[mode](img, dataset.preprocess, rng).shape[:2]
            if first is None:
                first = shape, path
            elif shape != first[0]:
                raise DataError(f"{folder.folder}: with --preprocess {mode}, {first[1]} comes out "
                                f"{first[0][1]}x{first[0][0]} but {path} {shape[1]}x{shape[0]}, and a batch needs "
                                f"one size; use --batch-size 1 or a cropping --preprocess ({', '.join(CROPPING)})")


class EpochSampler(Sampler):
    """Yields (epoch, index) keys in an order that is a pure function of (seed, epoch).

    With world_size > 1 each rank takes every world_size-th key of the same order (padded by
    wrapping around, as torch's DistributedSampler). `set_epoch(epoch, skip)` starts the epoch
    after this rank's first `skip` keys, for resuming in the middle of an epoch.
    """

    def __init__(self, length: int, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.length, self.shuffle, self.seed = length, shuffle, check_seed(seed)
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def per_rank(self) -> int:
        """Keys each rank sees in a whole epoch."""
        return math.ceil(self.length / self.world_size)

    def __len__(self) -> int:
        return max(0, self.per_rank() - self.skip)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng((_SAMPLER_STREAM, self.seed, self.epoch)).permutation(self.length)
        else:
            order = np.arange(self.length)
        total = self.per_rank() * self.world_size
        order = np.resize(order, total)  # wraps around to pad
        for i in order[self.rank::self.world_size][self.skip:]:
            yield self.epoch, int(i)


def build_loader(dataset: Dataset, batch_size: int = 1, workers: int = 2, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, pin_memory: bool = False,
                 drop_last: bool = False) -> DataLoader:
    """A DataLoader over `dataset` driven by an EpochSampler (reach it as `loader.sampler`).

    Workers stay alive across epochs and prefetch, so loading overlaps the training step.
    Call `start_epoch(loader, epoch)` before iterating over each epoch.
    """
    if workers > 0:
        # OpenCV's thread pool does not survive fork: a worker forked after the parent ran a
        # parallel cv2 call can deadlock in its first cv2.resize. Single items need no pool.
        cv2.setNumThreads(0)
    sampler = EpochSampler(len(dataset), shuffle, seed, rank, world_size)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, drop_last=drop_last, persistent_workers=workers > 0)


def start_epoch(loader: DataLoader, epoch: int, skip_batches: int = 0) -> None:
    """Point the loader (and its dataset, for plain indexing) at `epoch`, skipping this rank's
    first `skip_batches` batches when resuming in the middle of an epoch."""
    loader.sampler.set_epoch(epoch, skip_batches * loader.batch_size)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
