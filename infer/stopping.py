"""Stop signals (Ctrl-C, SIGTERM, SIGHUP): the first one stops the run, later ones never break the stopping.

cgan-infer installs `on_stop` for all three from its first moment (entry.py), in one of four modes:

- "import" while it imports: the first signal is only remembered (a KeyboardInterrupt inside a
  library's import can come back as an ImportError, or be printed and lost in an import-lock
  callback); a second Ctrl-C ends the process at once, as nothing has been written yet;
- "hold" while it parses options: signals are only remembered;
- "raise" while it opens the model (which can take minutes for a TensorRT engine): the first signal
  raises KeyboardInterrupt, and nothing has been written yet;
- "poll" from the first frame on: signals only set `requested()`, which the streaming loop checks
  every few milliseconds. A KeyboardInterrupt raised inside a queue or a lock could leave the threads
  waiting on each other; a flag cannot.

In every mode, signals after the first are ignored, so clean-up (removing temp files, finishing a
`.partial` video) always runs to its end.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

EXIT_INTERRUPTED = 130
BEFORE_STARTING = "stopped before starting; nothing written"
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _State:
    installed = False  # on_stop handles the stop signals (cgan-infer, or an app's main thread inside polled())
    mode = "import"
    requested = False  # a stop signal came


def on_stop(signum, frame) -> None:
    """The signal handler."""
    if _State.mode in ("import", "hold"):
        if _State.mode == "import" and _State.requested and signum == signal.SIGINT:
            os.write(2, f"{BEFORE_STARTING}\n".encode())
            os._exit(EXIT_INTERRUPTED)
        _State.requested = True
        return
    if _State.requested:
        return
    _State.requested = True
    if _State.mode == "raise":
        raise KeyboardInterrupt


def install() -> None:
    """Handle the stop signals from now on, in "import" mode (called first thing by cgan-infer)."""
    _State.installed, _State.mode, _State.requested = True, "import", False
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop)


def ignore() -> None:
    """Ignore stop signals from now on: the command is over (also while Python shuts down, which would
    otherwise restore the default action and let a late Ctrl-C kill the process)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def requested() -> bool:
    """Whether a stop signal came."""
    return _State.requested


def switch(mode: str) -> None:
    """Go on in `mode` ("hold", "raise" or "poll"); a stop already remembered raises KeyboardInterrupt
    when switching to "raise".
    Nothing happens where `install` was not called (the command run inside another program)."""
    if not _State.installed:
        return
    _State.mode = mode
    if _State.requested and mode == "raise":
        raise KeyboardInterrupt


@contextmanager
def polled() -> Iterator[None]:
    """Inside: Ctrl-C only sets `requested()`, for a loop that checks it.

    cgan-infer is in "poll" mode already. In an app's main thread whose Ctrl-C raises
    KeyboardInterrupt (Python's default), Ctrl-C is handled so for the duration and then restored.
    """
    borrow = (not _State.installed and threading.current_thread() is threading.main_thread()
              and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if not borrow:
        yield
        return
    _State.installed, _State.mode, _State.requested = True, "poll", False
    signal.signal(signal.SIGINT, on_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _State.installed, _State.requested = False, False
