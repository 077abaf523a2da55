"""Checkpoint files: atomic writes, safe loads, and rebuilding generators from a run's checkpoint.

A cgan checkpoint is a dict saved with `torch.save`:
    format:  "cgan-checkpoint"
    version: the cgan version that wrote it
    config:  the run's frozen config as a plain dict (JSON types only); the model keys used here
             are generator, ngf, norm, dropout, padding, input_nc, output_nc
    nets:    {"G": state_dict, "F": state_dict, "D_X": state_dict, "D_Y": state_dict}
    ... plus whatever training needs to resume (optimizers, schedulers, step, epoch, RNG states).
It holds only tensors and plain Python values, so it loads with `weights_only=True`.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cgan.infer.files import atomic_write, newest

from .errors import TrainError
from .networks import create_generator

CHECKPOINT_FORMAT = "cgan-checkpoint"


class CheckpointError(TrainError, ValueError):
    """A checkpoint file that cannot be read or does not fit; the message says what to do."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` to a temp file beside `path`, flush it to disk, then move it into place.

    A crash at any moment leaves either the previous file or the complete new one.
    """
    with atomic_write(path) as f:
        torch.save(state, f)
    return Path(path)


def latest_run(runs_dir: str | os.PathLike) -> Path | None:
    """The run folder under `runs_dir` whose checkpoints/latest.pt is newest; None when none has one."""
    checkpoint = newest(Path(runs_dir).glob("*/checkpoints/latest.pt"))
    return checkpoint.parent.parent if checkpoint else None


def load_state(path: str | os.PathLike) -> Any:
    """`torch.load` with `weights_only=True`: never runs code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path}: refused to load: it holds Python objects beyond tensors and plain values "
            f"({first_line}); only weights-only checkpoints are loaded") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a cgan checkpoint and check that it is one."""
    state = load_state(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a cgan checkpoint (for an official pytorch-CycleGAN file, "
                              "use `cgan-export --checkpoint FILE --generator NAME`)")
    return state


def generator_from_checkpoint(state: dict[str, Any], which: str) -> nn.Module:
    """Rebuild generator `which` ("G": X->Y or "F": Y->X) from a loaded cgan checkpoint, in eval mode."""
    if which not in ("G", "F"):
        raise ValueError(f"unknown generator {which!r}; choose G or F")
    cfg = state["config"]
    in_nc, out_nc = (cfg["input_nc"], cfg["output_nc"]) if which == "G" else (cfg["output_nc"], cfg["input_nc"])
    net = create_generator(cfg["generator"], input_nc=in_nc, output_nc=out_nc, ngf=cfg["ngf"],
                           norm=cfg["norm"], dropout=cfg["dropout"], padding=cfg.get("padding", "reflect"))
    net.load_state_dict(state["nets"][which])
    return net.eval()
