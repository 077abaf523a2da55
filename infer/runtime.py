"""ONNX Runtime sessions: which device, which provider really runs, quiet native logs, I/O binding."""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from .errors import InferError
from .model_file import check_model_file

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
PROVIDER_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                  "cpu": "CPUExecutionProvider"}
# What each device tries, best first; the CPU provider always stays as the last resort.
FALLBACK_CHAIN = {"auto": ("tensorrt", "cuda", "cpu"), "tensorrt": ("tensorrt", "cuda", "cpu"),
                  "cuda": ("cuda", "cpu"), "cpu": ("cpu",)}
ORT_LOG_FATAL_ONLY = 4  # a provider that fails to load logs errors; we report it in one line instead
CUDA_HELP = "https://onnxruntime.ai/docs/install/#cuda-and-cudnn"


ORT_RUN_ERRORS = (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.RuntimeException, ort_errors.EPFail)


class ModelRunError(InferError):
    """The model refused an input (typically a frame too small for its inner layers)."""


@dataclass(frozen=True)
class Device:
    kind: str  # one of DEVICES
    index: int = 0  # GPU ordinal for cuda and tensorrt

    def __str__(self) -> str:
        return self.kind if self.kind in ("auto", "cpu") else f"{self.kind}:{self.index}"


def parse_device(text: str) -> Device:
    """'auto', 'cpu', 'cuda', 'cuda:1', 'tensorrt', 'tensorrt:0'."""
    m = re.fullmatch(r"(auto|cpu|cuda|tensorrt)(?::(\d+))?", text.strip().lower())
    if not m or (m.group(2) is not None and m.group(1) in ("auto", "cpu")):
        raise InferError(f"device {text!r}: use auto, cpu, cuda[:N] or tensorrt[:N]")
    return Device(m.group(1), int(m.group(2) or 0))


def default_cache_dir() -> Path:
    """Where TensorRT engines are cached: $XDG_CACHE_HOME/cgan/tensorrt (~/.cache/cgan/tensorrt)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cgan" / "tensorrt"


def _provider_options(kind: str, index: int, fp16: bool, cache_dir: Path) -> dict:
    if kind == "tensorrt":
        cache_dir.mkdir(parents=True, exist_ok=True)
        return {"device_id": index, "trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache_dir), "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache_dir)}
    if kind == "cuda":
        return {"device_id": index}
    return {}


@dataclass
class DeviceSession:
    """An ONNX Runtime session and what really runs it."""

    session: ort.InferenceSession
    provider: str  # the provider that runs the model, e.g. "CPUExecutionProvider"
    device_index: int
    note: str  # one line when a requested GPU could not be used, else ""

    @property
    def on_gpu(self) -> bool:
        return self.provider != PROVIDER_NAMES["cpu"]

    def run(self, x: np.ndarray, input_name: str, output_name: str) -> np.ndarray:
        """One batch through the model; on a GPU the output is bound to device memory (I/O binding)."""
        try:
            if not self.on_gpu:
                return self.session.run([output_name], {input_name: x})[0]
            binding = self.session.io_binding()
            binding.bind_cpu_input(input_name, x)
            binding.bind_output(output_name, "cuda", self.device_index)
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0]
        except ORT_RUN_ERRORS as e:
            raise ModelRunError(run_failure(e, x.shape)) from None
        except MemoryError:
            raise ModelRunError(run_failure(MemoryError("out of memory"), x.shape)) from None


# What a failed model call most likely means, by words in ONNX Runtime's message; first match wins.
RUN_FAILURE_ADVICE = (
    (re.compile(r"out of memory|Failed to allocate|bad_alloc|MemoryError|cudaErrorMemoryAllocation", re.I),
     "it ran out of memory; use size=... to shrink frames, batch=1, or a device with more memory"),
    (re.compile(r".*"), "if the frame is small, size=... can enlarge it"),
)


# A generator's whole working memory is about 24 bytes per pixel per filter of its first layer
# (cgan.infer.tiling), about 130 times its float32 input at ngf 64; one buffer is a part of it. A
# single request beyond this factor says the graph is not an image generator.
IMPLAUSIBLE_BUFFER_FACTOR = 1000


def run_failure(error: Exception, shape: tuple[int, ...]) -> str:
    """One line for a model call that failed on an N x C x H x W input."""
    message = ort_message(error)
    advice = next(text for pattern, text in RUN_FAILURE_ADVICE if pattern.search(message))
    requested = re.search(r"buffer of size (\d+)", message)
    if requested and int(requested.group(1)) > IMPLAUSIBLE_BUFFER_FACTOR * 4 * math.prod(shape):
        advice = (f"it asked for {int(requested.group(1)) / 2**30:.1f} GiB at once, far more than an image "
                  "generator needs for this input: the model file may be broken or crafted; use one written "
                  "by cgan-export")
    return f"the model failed on a {shape[3]}x{shape[2]} input ({message}); {advice}"


def ort_message(error: Exception) -> str:
    """An ONNX Runtime exception in a few words: no status prefix, no C++ source location."""
    text = str(error).strip() or type(error).__name__
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    text = text.split(" failed:", 1)[-1].split("Status Message:")[-1]
    if "/onnxruntime_src/" in text:
        text = text.rsplit(") ", 1)[-1]
    return " ".join(text.split())[:200]


def _failure_reason(captured: str) -> str:
    """What ONNX Runtime printed while loading GPU libraries, in a few words."""
    missing = re.findall(r"Failed to load (\S+?):", captured)
    if missing:
        return f"its libraries are missing ({', '.join(missing[:3])})"
    for line in captured.splitlines():
        if line.startswith("EP Error"):
            return line.strip()[:200]
    return "its libraries could not be loaded"


def nvidia_gpu_present() -> bool:
    """Whether this machine shows an NVIDIA GPU at all: its device node (Linux) or the driver's nvidia-smi."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def create_session(path: Path, device: Device, *, fp16: bool = False, strict: bool = False,
                   cache_dir: Path | None = None, model: bytes | None = None) -> DeviceSession:
    """Open `path` on `device`, falling back towards the CPU (or raising InferError when `strict`).

    `model`: the bytes to run instead of the file's (a graph derived from them, already checked as
    check_model_file checks a file); `path` then names it in messages.
    """
    if model is None:
        check_model_file(path)
    available = set(ort.get_available_providers())
    chain = [k for k in FALLBACK_CHAIN[device.kind] if PROVIDER_NAMES[k] in available or k == "cpu"]
    if device.kind == "auto" and not nvidia_gpu_present():
        chain = ["cpu"]  # the GPU providers of onnxruntime-gpu could only fail here: nothing to report
    wanted = chain[0]
    ort.set_default_logger_severity(ORT_LOG_FATAL_ONLY)
    options = ort.SessionOptions()
    options.log_severity_level = ORT_LOG_FATAL_ONLY
    providers = [(PROVIDER_NAMES[k], _provider_options(k, device.index, fp16, cache_dir or default_cache_dir()))
                 for k in chain]
    captured = io.StringIO()  # ONNX Runtime prints DLL and fallback messages with print()
    with contextlib.redirect_stdout(captured):
        if wanted != "cpu" and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        try:
            session = ort.InferenceSession(str(path) if model is None else model, options, providers=providers)
        except Exception as e:  # onnxruntime raises its own classes for unreadable files
            raise InferError(f"{path}: not a model ONNX Runtime can load ({ort_message(e)})") from None
    provider = session.get_providers()[0]
    requested = wanted if device.kind == "auto" else device.kind  # auto only counts GPUs this build has
    note = ""
    if provider != PROVIDER_NAMES[requested]:
        if PROVIDER_NAMES[requested] not in available:
            why = f"this onnxruntime build has no {PROVIDER_NAMES[requested]} (install onnxruntime-gpu)"
        else:
            why = f"{_failure_reason(captured.getvalue())}; see {CUDA_HELP}"
        if strict and (device.kind != "auto" or provider == PROVIDER_NAMES["cpu"]):
            raise InferError(f"device={str(device)!r}: {PROVIDER_NAMES[requested]} cannot be used: {why} "
                             "(strict_device=True is set, so not falling back)")
        name = PROVIDER_NAMES[requested] if device.kind == "auto" else f"device={str(device)!r}"
        note = f"{name} cannot be used: {why}; running on {provider} instead"
    return DeviceSession(session, provider, device.index, note)
