"""cgan.infer: run exported generators with ONNX Runtime and OpenCV. Never imports torch.

The names below load on first use, so that `cgan-infer` (infer/entry.py) can take Ctrl-C and
SIGTERM cleanly from its first moment, before OpenCV and ONNX Runtime are imported.
"""
from importlib import import_module

from . import native_logs  # noqa: F401  (first: quiets OpenCV and FFmpeg before cv2 is used)

_HOMES = {"InferError": ".errors", "ModelInfo": ".metadata", "RunReport": ".pipeline", "run_pipeline": ".pipeline",
          "open_sink": ".sinks", "output_path": ".sinks", "Frame": ".sources", "open_source": ".sources",
          "Translator": ".translator", "translate_video": ".translator",
          "TemporalStream": ".temporal", "TemporalSettings": ".temporal"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)
