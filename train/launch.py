"""Console entry points that take a stop signal cleanly from their first moment.

Importing a command takes seconds (torch); a Ctrl-C or SIGTERM meanwhile ends it with one line, never
an import traceback. This module imports nothing heavy.
"""
from __future__ import annotations

import sys
from importlib import import_module

from .signals import StopRequest


def launch(module: str, prog: str) -> None:
    """Import the command module `module` (e.g. "cgan.train.cli") and run its click `main` as `prog`."""
    # Signals only set a flag while the command loads: a KeyboardInterrupt raised inside a library's
    # import can be swallowed there and leave it half-initialized (seen with numpy), or come back as an
    # ImportError (ONNX Runtime).
    with StopRequest(announce=None) as early:
        try:
            command = import_module(module).main
        except (KeyboardInterrupt, ImportError):  # a second Ctrl-C
            if not early.requested:
                raise
    if early.requested:
        print(f"{prog}: {early.signal_name} while starting; stopped, nothing was written", file=sys.stderr)
        sys.exit(130 if early.signal_name == "SIGINT" else 143)
    command(prog_name=prog)


def main() -> None:
    """`cgan-train`."""
    launch("cgan.train.cli", "cgan-train")
