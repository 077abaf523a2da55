"""The `cgan-infer` console script: SIGTERM and SIGHUP act as Ctrl-C, from the first moment.

OpenCV and ONNX Runtime take seconds to import on a cold start; a stop during that time ends
quietly (nothing has been written yet) instead of with a traceback from inside an import.
"""
import signal
import sys

EXIT_INTERRUPTED = 130
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def main() -> None:
    for sig in STOP_SIGNALS:  # the run stops cleanly, keeping a playable .partial video
        signal.signal(sig, signal.default_int_handler)
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("stopped before starting; nothing written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    cli_main()
