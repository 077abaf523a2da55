"""The `cgan-infer` console script: SIGTERM and SIGHUP act as Ctrl-C, from the first moment.

OpenCV and ONNX Runtime take seconds to import on a cold start. Meanwhile a stop signal only sets a
flag, and the command ends quietly once the imports are done (nothing has been written yet): a
KeyboardInterrupt raised inside a native module's import is turned into an ImportError by some
libraries (ONNX Runtime's "initialization failed"), which would end in a traceback.
cgan-train and cgan-export do the same through train.launch; infer keeps its own because it imports
nothing of train.
"""
import signal
import sys
from importlib import import_module

EXIT_INTERRUPTED = 130
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def launch(module: str) -> None:
    """Import `module` (e.g. "cgan.infer.cli") with stop signals held back, then run its click `main`."""
    stops: list[int] = []  # the stop signals that came while importing

    def remember(signum, frame) -> None:
        if stops and signum == signal.SIGINT:  # a second Ctrl-C: leave the import at once
            raise KeyboardInterrupt
        stops.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, remember)
    try:
        command = import_module(module).main
        for sig in STOP_SIGNALS:  # the run stops cleanly, keeping a playable .partial video
            signal.signal(sig, signal.default_int_handler)
        if stops:
            raise KeyboardInterrupt
    except (KeyboardInterrupt, ImportError):
        if not stops:
            raise
        print("stopped before starting; nothing written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    command()


def main() -> None:
    """`cgan-infer`."""
    launch("cgan.infer.cli")
