"""Numeric precision of a training run: which one (`--precision`), the autocast context and the grad scaler.

Only the network forwards run under autocast; their outputs are cast back to float32
(`float_outputs`), so losses, logs and the pools' contents are computed in float32 at any precision.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from .errors import TrainError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_HALF = (torch.bfloat16, torch.float16)
CLEARLY_FASTER = 1.05  # `auto` takes a half precision only at this speed-up over fp32 or more

# /proc/cpuinfo flags of CPUs that compute in bf16 natively (x86 AMX or AVX512-BF16; Arm's BF16 extension).
_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


class PrecisionError(TrainError, ValueError):
    """A precision this device cannot run; the message says what to choose instead."""


@dataclass(frozen=True)
class Precision:
    name: str         # "fp32", "bf16" or "fp16": what runs
    device_type: str  # "cpu", "cuda", "mps"
    reason: str       # why: "requested", or what `auto` found

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype; None for fp32."""
        return _DTYPES[self.name]

    @property
    def uses_scaler(self) -> bool:
        """fp16's narrow range needs loss scaling; bf16 has fp32's range and does not."""
        return self.name == "fp16"

    def describe(self) -> str:
        """One phrase for the start line, e.g. 'bf16 autocast (auto: CPU has amx_bf16)'."""
        what = {"fp32": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + grad scaler"}[self.name]
        return f"{what} ({self.reason})"


def cpu_bf16_flag(cpuinfo: str | None = None) -> str | None:
    """The CPU flag that shows native bf16 arithmetic, or None (also when /proc/cpuinfo is unreadable)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return next((f for f in _CPU_BF16_FLAGS if f in flags), None)


def _cuda_bf16(device: torch.device) -> bool:
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def native_precisions(device: torch.device, cpuinfo: str | None = None) -> tuple[str, ...]:
    """The precisions `device` computes natively, fp32 first: what `auto` chooses among."""
    if device.type == "cuda":
        return ("fp32", "bf16", "fp16") if _cuda_bf16(device) else ("fp32", "fp16")
    if device.type == "cpu" and cpu_bf16_flag(cpuinfo):
        return ("fp32", "bf16")
    return ("fp32",)


def fastest(seconds: Mapping[str, float], device_type: str, size: str) -> Precision:
    """`auto`'s choice from measured seconds per pass (fp32 among them): a half precision only where it
    is clearly faster (CLEARLY_FASTER), the fastest such; the reason gives every speed relative to fp32."""
    speed = {name: seconds["fp32"] / t for name, t in seconds.items() if name != "fp32"}
    clear = [name for name, ratio in speed.items() if ratio >= CLEARLY_FASTER]
    chosen = max(clear, key=speed.__getitem__) if clear else "fp32"
    measured = ", ".join(f"{name} {ratio:.2f}x fp32" for name, ratio in speed.items())
    return Precision(chosen, device_type, f"auto: measured {measured} at {size}")


def resolve_precision(requested: str, device: torch.device, cpuinfo: str | None = None,
                      measure: Callable[[tuple[str, ...]], tuple[dict[str, float], str]] | None = None) -> Precision:
    """Turn `--precision` into what runs on `device`.

    auto with `measure` (names -> seconds per training pass of each, and the size measured): the
    fastest of the device's native precisions by `fastest`'s rule. Without it: bf16 on CUDA devices
    with native bf16, fp16 + grad scaler on older CUDA devices, bf16 on CPUs with native bf16, fp32
    otherwise (including MPS, where mixed precision is not tested).
    """
    if requested not in PRECISIONS:
        raise PrecisionError(f"--precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    kind = device.type
    if requested == "auto":
        names = native_precisions(device, cpuinfo)
        if measure is not None and len(names) > 1:
            seconds, size = measure(names)
            return fastest(seconds, kind, size)
        if kind == "cuda":
            if "bf16" in names:
                return Precision("bf16", kind, "auto: CUDA device supports bf16")
            return Precision("fp16", kind, "auto: CUDA device without bf16")
        if kind == "cpu":
            flag = cpu_bf16_flag(cpuinfo)
            if flag:
                return Precision("bf16", kind, f"auto: CPU has {flag}")
            return Precision("fp32", kind, "auto: CPU has no native bf16")
        return Precision("fp32", kind, f"auto: mixed precision not enabled on {kind}")
    if requested == "bf16" and kind == "cuda" and not _cuda_bf16(device):
        raise PrecisionError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no native bf16; "
                             "use --precision fp16 (or auto)")
    if requested != "fp32" and not torch.amp.is_autocast_available(kind):
        raise PrecisionError(f"--precision {requested}: autocast is not available on {kind}; use --precision fp32")
    reason = "requested"
    if requested == "bf16" and kind == "cpu" and not cpu_bf16_flag(cpuinfo):
        reason = "requested; this CPU has no native bf16, expect it slower than fp32"
    return Precision(requested, kind, reason)


class Amp:
    """The autocast context and the grad scaler of one precision, used the same way for all of them.

        with amp.autocast():
            fake = G(x)                # float_outputs(G): fake is float32
            loss = compute_loss(fake, ...)
        amp.backward(loss); amp.step(optimizer); amp.update()
    With fp32 and bf16 the scaler is disabled: backward/step/update are plain calls.
    """

    def __init__(self, precision: Precision):
        self.precision = precision
        self.scaler = torch.amp.GradScaler(precision.device_type, enabled=precision.uses_scaler)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.precision.device_type, dtype=self.precision.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Unscale and step; with fp16 the step is skipped when gradients overflowed."""
        self.scaler.step(optimizer)

    def update(self) -> None:
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scaler.load_state_dict(state)


def float_outputs(net: nn.Module) -> nn.Module:
    """Make `net` return float32 even under autocast, so losses and image pools always see float32."""
    net.register_forward_hook(lambda module, inputs, output: output.float() if output.dtype in _HALF else output)
    return net
