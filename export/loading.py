"""Loading the generators to export: from a run directory, a cgan checkpoint file, or an official `.pth` file.

Each source yields `Generator`s: the net in eval mode with the metadata that describes it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch.nn as nn

from cgan.infer.metadata import ModelInfo
from cgan.train.checkpoint import generator_from_checkpoint, load_checkpoint, run_config
from cgan.train.networks import generator_name, side_multiple
from cgan.train.official import load_official_generator
from cgan.train.run_dir import LATEST_CHECKPOINT, RunDir

from .errors import ExportError

OFFICIAL_TRAIN_SIZE = 256  # the official code's default --crop_size


@dataclass(frozen=True)
class Generator:
    """One generator ready to export."""

    direction: str
    net: nn.Module
    info: ModelInfo


def find_checkpoint(spec: str | os.PathLike | None, runs_dir: str | os.PathLike) -> tuple[str, Path]:
    """Resolve RUN (None: the most recent run; a run directory, a run name under runs_dir, or a
    checkpoint file) to (run name, checkpoint file)."""
    if spec is None:
        run = RunDir.latest(runs_dir)
        if run is None:
            raise ExportError(f"no trained runs under {runs_dir}/ (no */{LATEST_CHECKPOINT}): train one first "
                              "with `cgan-train`, or name a run directory or checkpoint file")
    else:
        candidates = [Path(spec), Path(runs_dir) / spec]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise ExportError(f"run {str(spec)!r} not found: no such directory or file (nor {candidates[1]}); "
                              f"runs live under {runs_dir}/<name>/")
        if found.is_file():
            holder = RunDir.holding(found)
            return (holder.name if holder else found.stem), found
        run = RunDir(found)
    if not run.latest_checkpoint.is_file():
        raise ExportError(f"run {run.path} has no {LATEST_CHECKPOINT} yet: let `cgan-train` save one "
                          "(it does at every epoch end), or name a checkpoint file")
    return run.path.resolve().name, run.latest_checkpoint


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_generators(checkpoint: Path, directions: Sequence[str]) -> tuple[list[Generator], dict[str, Any]]:
    """Generators of a cgan checkpoint, with the run's config (raises CheckpointError for a damaged file)."""
    state = load_checkpoint(checkpoint)  # checks the config and that the generators' weights fit it
    config = run_config(state)
    digest = sha256(checkpoint)
    domains = {"G": (config.domain_x, config.domain_y), "F": (config.domain_y, config.domain_x)}
    channels = {"G": (config.input_nc, config.output_nc), "F": (config.output_nc, config.input_nc)}
    generators = []
    for d in directions:
        info = ModelInfo(direction=d, source_domain=domains[d][0], target_domain=domains[d][1],
                         generator=config.generator, ngf=config.ngf, norm=config.norm, input_channels=channels[d][0],
                         output_channels=channels[d][1], side_multiple=side_multiple(config.generator),
                         train_size=config.crop_size, checkpoint_sha256=digest)
        generators.append(Generator(d, generator_from_checkpoint(state, d), info))
    return generators, config.to_dict()


def _channels(net: nn.Module) -> tuple[int, int]:
    """Input channels of the first conv and output channels of the last one."""
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    return convs[0].in_channels, convs[-1].out_channels


def official_generator(path: Path, generator: str, ngf: int, norm: str, direction: str) -> Generator:
    """An official pytorch-CycleGAN-and-pix2pix generator file (one direction), as `direction`."""
    name = generator_name(generator)
    net = load_official_generator(path, name, ngf=ngf, norm=norm)
    in_nc, out_nc = _channels(net)
    source, target = ("A", "B") if direction == "G" else ("B", "A")
    info = ModelInfo(direction=direction, source_domain=source, target_domain=target, generator=name, ngf=ngf,
                     norm=norm, input_channels=in_nc, output_channels=out_nc, side_multiple=side_multiple(name),
                     train_size=OFFICIAL_TRAIN_SIZE, checkpoint_sha256=sha256(path))
    return Generator(direction, net, info)
