"""Model-only inference speed of one generator in four engines, and how close each stays to fp32.

The engines all run the same weights on the same batch: PyTorch eager fp32, ONNX Runtime fp32 and
INT8 (both written by cgan-export's `export_generator`; INT8 calibrated on the built-in dataset's
training pictures), and PyTorch under bf16 autocast. Fidelity is PSNR against the fp32 ONNX Runtime
output on held-out pictures of the built-in dataset (synthetic scenes with gradients, texture and
soft-edged shapes), in dB on the [-1, 1] range, as the export's parity check reports it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from cgan.export.api import model_filename
from cgan.export.calibration import builtin_images
from cgan.export.onnx_export import export_generator
from cgan.export.verify import cpu_session, run_session
from cgan.infer.metadata import ModelInfo
from cgan.infer.quality import psnr
from cgan.train import create_generator
from cgan.train.known_answer import heldout_pairs

from .cost import Cost
from .timing import interleaved_medians

Runner = Callable[[np.ndarray], np.ndarray]  # N x C x H x W float32 in [-1, 1] -> same shape


@dataclass(frozen=True)
class Models:
    """One generator and its exported ONNX files."""

    net: nn.Module
    info: ModelInfo
    files: dict[str, Path]  # precision ("fp32", "int8") -> .onnx path


def build_models(generator: str, ngf: int, size: int, folder: Path, calibration_count: int,
                 seed: int = 0) -> Models:
    """The generator (weights from the standard init with `seed`) exported to fp32 and INT8 ONNX."""
    torch.manual_seed(seed)
    net = create_generator(generator, ngf=ngf).eval()
    info = ModelInfo(direction="G", source_domain="shapes", target_domain="shapes_T", generator=generator,
                     ngf=ngf, norm="instance", input_channels=3, output_channels=3,
                     side_multiple=net.side_multiple, train_size=size)
    calibration = builtin_images("G", size, calibration_count, seed)
    files = {}
    for precision in ("fp32", "int8"):
        files[precision] = folder / model_filename("G", precision)
        # verify=False: the parity that matters here is measured below on held-out pictures.
        export_generator(net, files[precision], info, verify=False, precision=precision,
                         calibration=calibration if precision == "int8" else None)
    return Models(net, info, files)


def _torch_runner(net: nn.Module, autocast: Callable[[], contextlib.AbstractContextManager]) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast():
            return net(torch.from_numpy(x)).float().numpy()
    return run


def _ort_runner(path: Path, threads: int) -> Runner:
    sess = cpu_session(str(path), threads)
    return lambda x: run_session(sess, x)


# name -> (what it is compared with for the limit, how to build its runner)
ENGINES: dict[str, tuple[str, Callable[[Models, int], Runner]]] = {
    "PyTorch eager fp32": ("fp32", lambda m, t: _torch_runner(m.net, contextlib.nullcontext)),
    "ONNX Runtime fp32": ("fp32", lambda m, t: _ort_runner(m.files["fp32"], t)),
    "ONNX Runtime INT8": ("fp32", lambda m, t: _ort_runner(m.files["int8"], t)),
    "PyTorch bf16 autocast": ("bf16", lambda m, t: _torch_runner(
        m.net, lambda: torch.autocast("cpu", dtype=torch.bfloat16))),
}
REFERENCE = "ONNX Runtime fp32"


@dataclass(frozen=True)
class EngineResult:
    engine: str
    size: int  # input side measured at
    images_per_s: float
    limit: str  # the matmul limit it is compared with: "fp32" or "bf16"
    psnr_db: float  # against the fp32 ONNX Runtime output on held-out pictures (inf for the reference)


def measure_engines(models: Models, engines: tuple[str, ...], size: int, threads: int, repeats: int,
                    fidelity_images: int = 4) -> list[EngineResult]:
    """Images/s of each engine at size x size, batch 1 (median of `repeats` calls, interleaved across
    engines, after a warm-up call), and its PSNR against fp32 ONNX Runtime on held-out pictures."""
    pictures = heldout_pairs(size, fidelity_images)[0].numpy()
    reference = ENGINES[REFERENCE][1](models, threads)(pictures)
    runners = {name: ENGINES[name][1](models, threads) for name in engines}
    x = np.ascontiguousarray(pictures[:1])
    seconds = interleaved_medians({name: partial(run, x) for name, run in runners.items()}, repeats=repeats)
    return [EngineResult(name, size, 1 / seconds[name], ENGINES[name][0], psnr(run(pictures), reference))
            for name, run in runners.items()]


def limit_fraction(cost: Cost, images_per_s: float, gflops: float) -> float:
    """The share of the matmul limit a model reaches: 2 x MACs x images/s / matmul FLOP/s."""
    return 2 * cost.macs * images_per_s / (gflops * 1e9)
