"""The `cgan-infer` console script: SIGTERM and SIGHUP act as Ctrl-C, from the first moment.

OpenCV and ONNX Runtime take seconds to import on a cold start. Meanwhile a stop signal is only
remembered (stopping.py), and the command ends quietly once the imports are done (nothing has
been written yet): a KeyboardInterrupt raised inside a native module's import is turned into an
ImportError by some libraries (ONNX Runtime's "initialization failed"), which would end in a
traceback. The command itself (cli.py) says when a stop may interrupt it.
cgan-train and cgan-export do the same through train.launch; infer keeps its own because it imports
nothing of train.
"""
import sys
from importlib import import_module

from . import stopping

EXIT_INTERRUPTED = 130


def launch(module: str) -> None:
    """Import `module` (e.g. "cgan.infer.cli") with stop signals held back, then run its click `main`."""
    stopping.install()
    try:
        command = import_module(module).main
    except (KeyboardInterrupt, ImportError):
        if not stopping.requested():
            raise
        _stopped_before_starting()
    stopping.switch("hold")
    if stopping.requested():
        _stopped_before_starting()
    try:
        command()  # cli.py switches to "raise", then to "poll", as soon as each is safe
    finally:
        stopping.ignore()


def _stopped_before_starting() -> None:
    print("stopped before starting; nothing written", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def main() -> None:
    """`cgan-infer`."""
    launch("cgan.infer.cli")
