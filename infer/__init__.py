"""cgan.infer: run exported generators with ONNX Runtime and OpenCV. Never imports torch."""
from .metadata import ModelInfo

__all__ = ["ModelInfo"]
