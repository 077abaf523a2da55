"""Keep the native libraries' own log lines (OpenCV, its FFmpeg, libpng, libjpeg) off the terminal.

cgan.infer reports every problem itself, in one line naming the user's file; "moov atom not found"
or "libpng error: IDAT: CRC error" printed by a library would name nothing and confuse. Importing
this module (cgan.infer does it first) sets OpenCV's and FFmpeg's log levels through the
environment before cv2 is used; a user's own setting of these variables wins. Decoders that print
straight to the C stderr are wrapped in `native_stderr`, which keeps what they print as the reason.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

QUIET_ENV = {
    "OPENCV_LOG_LEVEL": "SILENT",  # OpenCV's own [ WARN:0@...] lines
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET: FFmpeg's "[mov,mp4,...] moov atom not found"
}
for _name, _value in QUIET_ENV.items():
    os.environ.setdefault(_name, _value)

# Lines a decoder prints on fd 2; anything else captured meanwhile (another thread's output) is passed on.
# (OpenCV's exceptions print as "OpenCV(5.0.0) ...: error: ..." followed by lines starting with ">".)
NATIVE_LINE = re.compile(r"^(libpng (error|warning)|Corrupt JPEG|Premature end of JPEG|Invalid SOS|"
                         r"Bogus|TIFF|Unexpected |OpenCV\(|>|\[.*@ ?0x[0-9a-f]+\]|\[ ?(WARN|ERROR|INFO))")
_fd2_lock = threading.Lock()


@contextmanager
def quiet_opencv():
    """OpenCV's log level at silent inside the block, also when cv2 was imported (and its level
    read from the environment) before cgan.infer."""
    import cv2

    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


@contextmanager
def native_stderr(only_thread: bool = False) -> Iterator[list[str]]:
    """Capture what native code writes to fd 2 inside the block; yields a list that receives the
    decoder's lines once the block ends (the first is a good reason for a failure).

    `only_thread`: no other thread writes meanwhile, so every captured line is the library's.
    """
    import tempfile  # here: cgan-infer imports this module before it can take Ctrl-C (entry.py)

    lines: list[str] = []
    with _fd2_lock, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if only_thread or NATIVE_LINE.match(line):
                    lines.append(line.strip())
                elif line.strip():
                    print(line, file=sys.stderr)
