"""cgan.infer: run exported generators with ONNX Runtime and OpenCV. Never imports torch."""
from . import native_logs  # noqa: F401  (first: quiets OpenCV and FFmpeg before cv2 is used)
from .errors import InferError
from .metadata import ModelInfo
from .pipeline import RunReport, run_pipeline
from .sinks import open_sink, output_path
from .sources import Frame, open_source
from .translator import Translator, translate_video

__all__ = ["ModelInfo", "Translator", "translate_video", "InferError", "RunReport", "run_pipeline",
           "open_source", "open_sink", "output_path", "Frame"]
