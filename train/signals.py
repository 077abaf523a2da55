"""Stop a training cleanly on SIGINT (Ctrl-C) or SIGTERM: finish the step, save, exit with the resume command.

The handler only sets a flag; the training loop looks at it at each step boundary, so a checkpoint
is never written from inside a half-done step. A second Ctrl-C quits at once without saving.
"""
from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from types import FrameType


class StopRequest:
    """`with StopRequest() as stop:` ... `if stop.requested: save and leave`.

    Outside the main thread (where Python cannot install handlers) it installs nothing and never fires.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    ANNOUNCE = "stopping after this step, then saving a checkpoint and writing the final samples and measures"

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}
        self._pid = os.getpid()

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            return  # a forked child (DataLoader worker): the training process decides, and ends it
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        print(f"\n{self.signal_name}: {self.ANNOUNCE} (Ctrl-C again quits without saving)", file=sys.stderr,
              flush=True)

    def __enter__(self) -> "StopRequest":
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def resume_command(run_dir: str) -> str:
    """The command that continues the run in `run_dir`."""
    return f"cgan-train --resume {shlex.quote(str(run_dir))}"
