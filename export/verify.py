"""Running an ONNX model in ONNX Runtime and measuring how far its output is from a reference."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import onnxruntime as ort

from cgan.infer.quality import psnr

from .errors import ExportError

FP32_TOLERANCE = 1e-4  # max abs difference allowed between ONNX Runtime and PyTorch in fp32


@dataclass(frozen=True)
class Comparison:
    """How one output compares with its reference on one input shape."""

    shape: tuple[int, ...]
    max_abs: float
    psnr_db: float  # over the value range [-1, 1] (peak-to-peak 2), as on 8-bit images; inf if equal

    def __str__(self) -> str:
        shown = "inf" if math.isinf(self.psnr_db) else f"{self.psnr_db:.1f}"
        return f"{'x'.join(map(str, self.shape))}: max abs {self.max_abs:.2e}, PSNR {shown} dB"


def compare(output: np.ndarray, reference: np.ndarray) -> Comparison:
    return Comparison(tuple(reference.shape), float(np.abs(output - reference).max()), psnr(output, reference))


def worst(comparisons: Sequence[Comparison]) -> Comparison:
    """The comparison with the largest max abs difference."""
    return max(comparisons, key=lambda c: c.max_abs)


def parity_shapes(channels: int, side: int, side_multiple: int,
                  static_hw: tuple[int, int] | None = None) -> list[tuple[int, int, int, int]]:
    """Input shapes to verify at: square batch 1, then batch 2 non-square, then a tall one.

    `side` must respect `side_multiple`; a static model is checked at its size, batch 1 and 2.
    """
    if static_hw:
        return [(1, channels, *static_hw), (2, channels, *static_hw)]
    return [(1, channels, side, side), (2, channels, side, side + side_multiple),
            (1, channels, side + side_multiple, side)]


def random_inputs(shapes: Sequence[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    """Uniform inputs in [-1, 1], the model's value range."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, size=shape).astype(np.float32) for shape in shapes]


def cpu_session(model: bytes | str, threads: int = 0) -> ort.InferenceSession:
    """A CPU ONNX Runtime session for a serialized model or a file path."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_session(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def compare_runs(run: Callable[[np.ndarray], np.ndarray], reference: Callable[[np.ndarray], np.ndarray],
                 inputs: Sequence[np.ndarray]) -> list[Comparison]:
    """Compare `run` with `reference` on each input; raises ExportError on a shape mismatch."""
    results = []
    for x in inputs:
        y, ref = run(x), reference(x)
        if y.shape != ref.shape:
            raise ExportError(f"output shape {list(y.shape)} differs from the reference's {list(ref.shape)} "
                             f"for input {list(x.shape)}")
        for name, values in (("ONNX Runtime's output", y), ("the reference output", ref)):
            if not np.isfinite(values).all():  # NaN compares false with any limit, so it must be refused here
                raise ExportError(f"{name} holds NaN or Inf for input {list(x.shape)}; no file written")
        results.append(compare(y, ref))
    return results
