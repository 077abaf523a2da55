"""Output names: one per input, never two inputs onto one file.

Names that differ only in case (k.jpg, k.JPG) or Unicode normalization are one file on macOS and
Windows, and two inputs can map to one output name (a.PNG and a.png both give a.png). The mapping
below keeps the first name and numbers the next ones (k-2.jpg, k-3.jpg), in the inputs' order, so
the same inputs always give the same outputs.
"""
from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath


def _key(name: str) -> str:
    """What a case-insensitive, normalizing file system compares."""
    return unicodedata.normalize("NFC", name).casefold()


def unique_names(names: list[str]) -> list[str]:
    """`names` (relative POSIX paths) made distinct under `_key`, in order; unique names are kept as they are."""
    originals = {_key(n) for n in names}
    taken: set[str] = set()
    result = []
    for name in names:
        candidate, n = name, 1
        while _key(candidate) in taken or (n > 1 and _key(candidate) in originals):
            n += 1
            path = PurePosixPath(name)
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}").as_posix()
        taken.add(_key(candidate))
        result.append(candidate)
    return result
