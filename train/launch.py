"""Console entry points that take a stop signal cleanly from their first moment.

Importing a command takes seconds (torch); a Ctrl-C or SIGTERM meanwhile ends it with one line, never
an import traceback. This module imports nothing heavy.
"""
from __future__ import annotations

import os
import signal
import sys
from importlib import import_module

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the stop signals, and the exit status each ends with


def _stopped(prog: str, signum: int) -> str:
    return f"{prog}: {signal.Signals(signum).name} while starting; stopped, nothing was written"


def launch(module: str, prog: str) -> None:
    """Import the command module `module` (e.g. "cgan.train.cli") and run its click `main` as `prog`."""
    # While the command loads, a stop signal is only remembered: a KeyboardInterrupt raised inside a
    # library's import can be swallowed there and leave it half-initialized (seen with numpy), come back
    # as an ImportError (ONNX Runtime), be printed from an atexit callback (torch) or abort the process.
    # A second Ctrl-C ends the process at once: nothing has been written yet.
    received: list[int] = []

    def remember(signum: int, frame) -> None:
        if received and signum == signal.SIGINT:
            os.write(2, f"{_stopped(prog, signum)}\n".encode())
            os._exit(EXIT_CODES[signum])
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in EXIT_CODES}
    try:
        command = import_module(module).main
    except BaseException:  # a broken install: its own error, with the usual signal handling
        _install(previous)
        raise
    if received:
        _install(dict.fromkeys(EXIT_CODES, signal.SIG_IGN))  # up to the process's end, atexit callbacks included
        print(_stopped(prog, received[0]), file=sys.stderr)
        sys.exit(EXIT_CODES[received[0]])
    _install(previous)
    command(prog_name=prog)


def _install(handlers: dict) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def main() -> None:
    """`cgan-train`."""
    launch("cgan.train.cli", "cgan-train")
