"""--show: a preview window where a display exists."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np

WINDOW = "cgan-infer (q or Esc to stop)"
QUIT_KEYS = {ord("q"), 27}
# OpenCV's Qt backend aborts the whole process when the display cannot be reached, so a child
# process opens a window first.
PROBE = "import cv2; cv2.namedWindow('probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
PROBE_TIMEOUT_S = 20


def display_problem() -> str:
    """Why no window can open here, or "" when one can."""
    if sys.platform.startswith(("linux", "freebsd")) and not (os.environ.get("DISPLAY") or
                                                             os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    try:
        probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                               timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"the display did not answer within {PROBE_TIMEOUT_S} s"
    if probe.returncode != 0:
        reason = next((line for line in probe.stderr.splitlines() if line.strip()), "unknown reason")
        return f"cannot open a window ({reason.strip()[:120]})"
    return ""


class Preview:
    """Shows each result; `show` returns False once the user presses q/Esc or closes the window.

    All window calls happen on the thread that calls `show` and `close` (the encode thread).
    """

    def __init__(self):
        self.opened = False

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(WINDOW, image)
        self.opened = True
        key = cv2.waitKey(1) & 0xFF
        return key not in QUIT_KEYS and cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        if self.opened:
            cv2.destroyWindow(WINDOW)
