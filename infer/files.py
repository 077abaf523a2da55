"""Files: writing them so that a crash never leaves a half-written one under the real name, and the
one rule for "the latest" run or model."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[IO]:
    """Open a temp file beside `path`; when the block ends normally, flush it (to disk with `fsync`)
    and move it into place with `os.replace`. When the block raises, the temp file is removed and
    `path` keeps whatever it held before."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def newest(paths: Iterable[Path]) -> Path | None:
    """The most recently modified of `paths` (ties: the last in path order, so the pick never varies);
    None for none. The rule behind "the latest run" (train, export) and "the latest model" (infer)."""
    return max(paths, key=lambda p: (p.stat().st_mtime_ns, str(p)), default=None)
