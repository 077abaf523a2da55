"""cgan.infer: run exported generators with ONNX Runtime and OpenCV. Never imports torch."""
from .errors import InferError
from .metadata import ModelInfo
from .pipeline import RunReport, run_pipeline
from .sinks import open_sink, output_path
from .sources import Frame, open_source
from .temporal import TemporalSettings, TemporalStream
from .translator import Translator, translate_video

__all__ = ["ModelInfo", "Translator", "translate_video", "InferError", "RunReport", "run_pipeline",
           "open_source", "open_sink", "output_path", "Frame",
           "TemporalStream", "TemporalSettings"]
