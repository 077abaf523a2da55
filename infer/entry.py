"""The `cgan-infer` console script: SIGTERM and SIGHUP act as Ctrl-C, from the first moment.

OpenCV and ONNX Runtime take seconds to import on a cold start. Meanwhile a stop signal is only
remembered (stopping.py), and the command ends quietly once the imports are done (nothing has
been written yet); a second Ctrl-C ends it at once. A KeyboardInterrupt raised inside a native
module's import is turned into an ImportError by some libraries (ONNX Runtime's "initialization
failed"). The command itself (cli.py) says when a stop may interrupt it.
cgan-train and cgan-export do the same through train.launch; infer keeps its own because it imports
nothing of train.
"""
import sys
from importlib import import_module

from . import stopping


def launch(module: str) -> None:
    """Import `module` (e.g. "cgan.infer.cli") with stop signals held back, then run its click `main`."""
    stopping.install()
    command = import_module(module).main
    stopping.switch("hold")
    if stopping.requested():
        print(stopping.BEFORE_STARTING, file=sys.stderr)
        sys.exit(stopping.EXIT_INTERRUPTED)
    try:
        command()  # cli.py switches to "raise", then to "poll", as soon as each is safe
    finally:
        stopping.ignore()



def main() -> None:
    """`cgan-infer`."""
    launch("cgan.infer.cli")
