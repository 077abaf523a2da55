"""Load generators saved by the official pytorch-CycleGAN-and-pix2pix (`latest_net_G_A.pth`, zoo files).

Those files are plain state_dicts whose keys our networks reproduce exactly. Real files carry
some history that is cleaned here: a `module.` prefix from DataParallel, InstanceNorm running
statistics saved by PyTorch < 0.4, and resnet blocks saved with dropout (one index later).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
import torch.nn as nn

from .checkpoint import CheckpointError, load_state
from .networks import create_generator, generator_name

_STALE_NORM_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
_RESNET_DROPOUT_KEY = re.compile(r"conv_block\.6\.weight$")


def clean_official_state_dict(state: Mapping[str, torch.Tensor], norm: str) -> dict[str, torch.Tensor]:
    """Strip `module.` prefixes and, for instance norm, the stale running-stat entries."""
    cleaned = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if norm == "instance" and key.endswith(_STALE_NORM_SUFFIXES):
            continue
        cleaned[key] = value
    return cleaned


def _first_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str | None:
    for key, value in expected.items():
        if key not in found:
            return f"key {key!r} is missing from the file"
        if tuple(found[key].shape) != tuple(value.shape):
            return f"key {key!r} has shape {list(found[key].shape)} in the file, {list(value.shape)} expected"
    extra = next((k for k in found if k not in expected), None)
    return f"unexpected key {extra!r} in the file" if extra else None


def load_official_generator(path: str | os.PathLike, generator: str = "resnet_9blocks", ngf: int = 64,
                            norm: str = "instance", padding: str = "reflect") -> nn.Module:
    """Build `generator` and load an official checkpoint into it; returns the net in eval mode.

    Input and output channels are read from the file. Raises CheckpointError naming the first
    mismatching key and the likely cause when the file does not fit the options.
    """
    name = generator_name(generator)
    state = load_state(path)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state_dict of tensors (is it an official generator checkpoint?)")
    state = clean_official_state_dict(state, norm)
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    biases = [v for k, v in state.items() if k.endswith("bias")]
    if not weights or not biases:
        raise CheckpointError(f"{path}: holds no convolution weights; not a generator checkpoint")
    # Channels come from the file: the first conv's input and the last layer's bias.
    input_nc, output_nc = int(weights[0].shape[1]), int(biases[-1].numel())
    dropout = name.startswith("resnet") and any(_RESNET_DROPOUT_KEY.search(k) for k in state)
    net = create_generator(name, input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm,
                           dropout=dropout, padding=padding)
    problem = _first_mismatch(net.state_dict(), state)
    if problem:
        raise CheckpointError(
            f"{path}: does not fit generator {name!r} with ngf={ngf}, norm={norm!r}: {problem}. "
            "Check generator=..., ngf=... and norm=... against the options the file was trained with.")
    net.load_state_dict(state)
    return net.eval()
