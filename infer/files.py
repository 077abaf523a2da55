"""Writing files so that a crash never leaves a half-written one under the real name, and the one
rule for "the latest" run or model (`newest`).

Every output goes through one door: a temp file beside it, named `.cgan-tmp-<pid>-<random>-<name>`,
created with O_EXCL (never through a planted symlink) and the user's umask; an optional check of the
finished temp file; then `publish`, which moves it into place without following a symlink at the
final name and without replacing an existing file unless asked. Temp files left by a killed writer
(its pid dead, the file ours) are removed the next time their folder is written.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

TEMP_PREFIX = ".cgan-tmp-"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows
_TEMP_PATTERN = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]{8}-")
_swept: set[Path] = set()


class DestinationExists(FileExistsError):
    """The final name is taken (a file or a symlink) and overwriting was not asked for."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Remove our temp files in `folder` whose writer is dead; returns them. Once per folder and process."""
    folder = Path(folder)
    if folder in _swept:
        return []
    _swept.add(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_PATTERN.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid():
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def create_temp(path: str | os.PathLike) -> Path:
    """Create an empty temp file beside `path` (same extension, so writers can pick the format from it).

    The folder is created if needed and swept of stale temp files first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path.parent)
    tail = path.name if len(path.name) <= 120 else path.stem[:100] + path.suffix[-20:]  # within NAME_MAX
    while True:
        temp = path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{tail}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666))
            return temp
        except FileExistsError:
            continue


def publish(temp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished `temp` to `path`. A symlink at `path` is replaced, never written through;
    without `overwrite` an existing `path` (file or link) is kept and DestinationExists raised."""
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path, follow_symlinks=False)  # atomic: fails when the name exists
    except FileExistsError:
        raise DestinationExists(errno.EEXIST, "already exists", str(path)) from None
    except OSError:  # a file system without hard links
        if os.path.lexists(path):
            raise DestinationExists(errno.EEXIST, "already exists", str(path)) from None
        os.replace(temp, path)
        return
    os.unlink(temp)


def os_reason(error: OSError) -> str:
    """An OSError in a few words, naming its file unless that is one of our temp files."""
    name = os.fsdecode(error.filename or "")
    return f"{name}: {error.strerror}" if name and TEMP_PREFIX not in name else str(error.strerror or error)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", fsync: bool = True, *,
                 check: Callable[[Path], None] | None = None, overwrite: bool = True) -> Iterator[IO]:
    """Open a temp file beside `path`; when the block ends normally, flush it (to disk with `fsync`),
    run `check(temp)` (which raises when the written file is not whole) and publish it. When anything
    raises, the temp file is removed and `path` keeps whatever it held before."""
    path = Path(path)
    temp = create_temp(path)
    try:
        with open(temp, mode, opener=lambda name, flags: os.open(name, flags | _NOFOLLOW, 0o666)) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        if check is not None:
            check(temp)
        publish(temp, path, overwrite)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def newest(paths: Iterable[Path]) -> Path | None:
    """The most recently modified of `paths` (ties: the last in path order, so the pick never varies);
    None for none. The rule behind "the latest run" (train, export) and "the latest model" (infer)."""
    return max(paths, key=lambda p: (p.stat().st_mtime_ns, str(p)), default=None)
