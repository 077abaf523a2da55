"""The `cgan-train` entry point. Importing the command takes seconds (torch); a Ctrl-C or SIGTERM
meanwhile ends it with one line, never an import traceback. This module imports nothing heavy."""
from __future__ import annotations

import sys

from .signals import StopRequest


def main() -> None:
    # Signals only set a flag while torch loads: a KeyboardInterrupt raised inside a library's import
    # can be swallowed there and leave it half-initialized (seen with numpy).
    with StopRequest(announce=None) as early:
        try:
            from .cli import main as command
        except KeyboardInterrupt:  # a second Ctrl-C
            early.signal_name = early.signal_name or "SIGINT"
    if early.requested:
        print(f"cgan-train: {early.signal_name} while starting; stopped, nothing was written", file=sys.stderr)
        sys.exit(130 if early.signal_name == "SIGINT" else 143)
    command(prog_name="cgan-train")
