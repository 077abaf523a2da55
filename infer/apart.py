"""The output never touches the input: no output file is an input file, and none lies inside the input folder.

Paths are compared as the file system resolves them (symlinks and `..` followed), and an existing
output by identity too (a hard link is the same file under another name). An output inside the
input folder would be read back as input by the next run, so it is refused even when no name collides.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import InferError


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` leads to, or None when nothing is there."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


class Inputs:
    """The files a source reads, and the folder it walks (if any)."""

    def __init__(self, files: Iterable[Path] = (), folder: Path | None = None):
        self.folder = folder
        self._folder = _resolved(folder) if folder is not None else None
        self._files = {_identity(f) for f in files} - {None}

    def overlap(self, path: Path) -> str:
        """How writing `path` would touch the inputs ("" when it would not)."""
        if self._folder is not None and _resolved(path).is_relative_to(self._folder):
            return f"lies inside the input folder {self.folder}"
        if _identity(path) in self._files:
            return "is one of the input files (or a link to one)"
        return ""


NO_INPUTS = Inputs()


def refuse_overlap(inputs: Inputs, outputs: Iterable[Path]) -> None:
    """Raise InferError, in one line, when any of `outputs` would replace an input or lie inside the input folder."""
    for path in outputs:
        how = inputs.overlap(path)
        if how:
            raise InferError(f"the output {path} {how}; cgan-infer never writes over or among its inputs: "
                             "choose an out=... outside them")
