"""--show: a preview window where a display exists."""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np

WINDOW = "cgan-infer (q or Esc to stop)"
QUIT_KEYS = {ord("q"), 27}


def display_problem() -> str:
    """Why no window can open here, or "" when a display exists."""
    if sys.platform.startswith(("linux", "freebsd")) and not (os.environ.get("DISPLAY") or
                                                             os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return ""


class Preview:
    """Shows each result; `show` returns False once the user presses q/Esc or closes the window.

    All window calls happen on the thread that calls `show` (the encode thread) and `close`.
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
