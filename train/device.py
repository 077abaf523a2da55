"""`--device auto|cpu|cuda[:N]|mps` to a torch.device, with a clear error when it is not there."""
from __future__ import annotations

import re

import torch

from .errors import TrainError


class DeviceError(TrainError, ValueError):
    """A --device that is unknown or not on this machine."""


def resolve_device(spec: str) -> torch.device:
    """auto picks CUDA, then Apple MPS, then the CPU."""
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("device 'mps' is not available on this machine; use --device auto or cpu")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match is None:
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r}: no CUDA device is available; use --device auto or cpu")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return torch.device("cuda", index)
