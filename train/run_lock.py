"""One training per run directory: a lock file that a second training into the same directory respects.

The lock is an OS file lock (`flock`) on the run's lock file (RunDir.lock_file), held while the training runs. The
kernel drops it when the process ends in any way (kill -9 included), so a lock left by a dead
training is stale by construction and the next training simply takes it. The file holds the
holder's pid, host and start time so the refusal can say who holds it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time

from cgan.infer.errors import cut

from .errors import TrainError
from .run_dir import RunDir

# A training killed with -9 may leave DataLoader workers (forked with the lock's file) alive for a
# few seconds more; when the recorded holder is dead, wait this long for them before refusing.
EXIT_GRACE_S = 15.0
MAX_PID = 2**22  # Linux's highest; a larger "pid" in a lock file was not written by a training


class RunLockedError(TrainError, RuntimeError):
    """The run directory is in use by another training, or its lock file cannot be opened."""


class RunLock:
    """`with RunLock(run_dir):` trains with exclusive use of `run_dir`; refuses with RunLockedError otherwise."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = RunDir(run_dir).lock_file
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # never through a symbolic link: the pid written below would land in the file it points at
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            reason = "it is a symbolic link: remove it" if e.errno == errno.ELOOP else e.strerror
            raise RunLockedError(f"{self.path}: cannot take the run's lock ({reason})") from None
        try:
            if not _lock_within(fd, EXIT_GRACE_S if _holder_is_dead(fd) else 0.0):
                raise RunLockedError(
                    f"{self.path.parent} is in use by another training ({_read_holder(fd)}); wait for it "
                    "to end, or train into another run directory (--name)")
        except BaseException:
            os.close(fd)
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock; the file stays (removing it could race with a training taking it)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_within(fd: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def _holder_info(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (ValueError, OSError, RecursionError):  # a lock file written by something else
        return {}
    return info if isinstance(info, dict) else {}


def _holder_is_dead(fd: int) -> bool:
    """True when the recorded holder ran on this host and its process is gone."""
    info = _holder_info(fd)
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or type(pid) is not int or not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _read_holder(fd: int) -> str:
    info = _holder_info(fd)
    if not {"pid", "host", "started"} <= info.keys():
        return "holder unknown"
    return cut(f"pid {info['pid']} on {info['host']}, started {info['started']}", 200)
