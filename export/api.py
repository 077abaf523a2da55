"""Export a run (or an official checkpoint) to `models/<name>/G.onnx` and `F.onnx`: the library
behind `cgan-export`, usable without the CLI."""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from cgan.infer.model import GENERATOR_LETTERS
from cgan.train.data import domain_folders
from cgan.train.errors import TrainError
from cgan.train.images import find_images
from cgan.train.run_dir import RunDir

from .calibration import at_size, calibration_images
from .errors import ExportError
from .onnx_export import (DEFAULT_EXPORTER, ExportReport, Log, checked_metadata, example_side, export_generator,
                          new_folders_removed_on_failure, prepare_destination)
from .quantize import VARIANTS
from .loading import Generator, find_checkpoint, official_generator, run_generators

RUNS_DIR = "runs"
MODELS_DIR = "models"
PRECISIONS = ("fp32", *VARIANTS)


def model_filename(direction: str, precision: str = "fp32") -> str:
    """G.onnx, F.onnx for fp32; G.fp16.onnx, G.int8.onnx for the variants."""
    return f"{direction}.onnx" if precision == "fp32" else f"{direction}.{precision}.onnx"


def directions(gen: str) -> list[str]:
    if gen == "both":
        return list(GENERATOR_LETTERS)
    if gen not in GENERATOR_LETTERS:
        raise ExportError(f"gen={gen!r}: choose G, F or both")
    return [gen]


def _export_all(generators: Sequence[Generator], out: Path, config: Mapping[str, Any] | None, *, opset: int | None,
                static_hw: tuple[int, int] | None, verify: bool, overwrite: bool, precision: str,
                calibration: str | os.PathLike | None, exporter: str, log: Log) -> list[ExportReport]:
    paths = [out / model_filename(g.direction, precision) for g in generators]
    for g in generators:  # refuse before making anything, so a run never ends half-exported
        checked_metadata(g.info)
    with new_folders_removed_on_failure(out):
        for path in paths:
            prepare_destination(path, overwrite)
        reports = []
        for g, path in zip(generators, paths):
            log(f"{g.direction}: {g.info.generator} (ngf {g.info.ngf}, {g.info.norm} norm), "
                f"{g.info.source_domain} -> {g.info.target_domain}")
            images = None
            if precision == "int8":
                size = example_side(g.info.train_size, g.info.side_multiple)
                images = calibration_images(calibration, config, g.direction, g.info.input_channels, size)
                images = at_size(images, *static_hw) if static_hw else images
            reports.append(export_generator(g.net, path, g.info, opset=opset, static_hw=static_hw, verify=verify,
                                            overwrite=overwrite, precision=precision, calibration=images,
                                            exporter=exporter, log=log))
    return reports


def export_run(run: str | os.PathLike | None = None, *, gen: str = "both", out: str | os.PathLike | None = None,
               runs_dir: str | os.PathLike = RUNS_DIR, models_dir: str | os.PathLike = MODELS_DIR,
               opset: int | None = None, static_hw: tuple[int, int] | None = None, verify: bool = True,
               overwrite: bool = False, precision: str = "fp32", calibration: str | os.PathLike | None = None,
               exporter: str = DEFAULT_EXPORTER, log: Log | None = None) -> list[ExportReport]:
    """Export generator(s) of a run to `out` (default models_dir/<run name>/).

    `run`: None for the most recent run under runs_dir, a run directory or name, or a cgan checkpoint file.
    Raises ExportError or cgan.train.checkpoint.CheckpointError with a message for the user.
    """
    log = log or (lambda message: None)
    name, checkpoint = find_checkpoint(run, runs_dir)
    log(f"source: {checkpoint}")
    generators, config = run_generators(checkpoint, directions(gen))
    folder = Path(out) if out is not None else Path(models_dir) / name
    return _export_all(generators, folder, config, opset=opset, static_hw=static_hw, verify=verify,
                       overwrite=overwrite, precision=precision, calibration=calibration, exporter=exporter, log=log)


def export_official(checkpoint: str | os.PathLike, generator: str, *, ngf: int = 64, norm: str = "instance",
                    gen: str = "G", out: str | os.PathLike | None = None, models_dir: str | os.PathLike = MODELS_DIR,
                    opset: int | None = None, static_hw: tuple[int, int] | None = None, verify: bool = True,
                    overwrite: bool = False, precision: str = "fp32",
                    calibration: str | os.PathLike | None = None, exporter: str = DEFAULT_EXPORTER,
                    log: Log | None = None) -> list[ExportReport]:
    """Export an official pytorch-CycleGAN-and-pix2pix generator file (one direction) as `gen`.

    `out` defaults to models_dir/<the file's folder name>/ (their checkpoints/<name>/latest_net_G.pth).
    """
    log = log or (lambda message: None)
    if gen not in GENERATOR_LETTERS:
        raise ExportError(f"gen={gen!r}: an official checkpoint holds one generator; export it as G or F")
    path = Path(checkpoint)
    log(f"source: {path} (official pytorch-CycleGAN-and-pix2pix)")
    g = official_generator(path, generator, ngf, norm, gen)
    folder = Path(out) if out is not None else Path(models_dir) / (path.resolve().parent.name or path.stem)
    return _export_all([g], folder, None, opset=opset, static_hw=static_hw, verify=verify, overwrite=overwrite,
                       precision=precision, calibration=calibration, exporter=exporter, log=log)



def trial_source(run: str | os.PathLike | None = None, gen: str = "G", runs_dir: str | os.PathLike = RUNS_DIR
                 ) -> str | None:
    """The cgan-infer source to try generator `gen` of a run on: `--folder` of its input domain's held-out
    pictures (the test folder) or else its training pictures; `--video in.mp4` for a run on the built-in
    data; None when the run's config is not at hand (a checkpoint file on its own) or its folders are gone."""
    _, checkpoint = find_checkpoint(run, runs_dir)
    try:
        run = RunDir.holding(checkpoint)
        config = json.loads(run.config_file.read_text(encoding="utf-8")) if run else None
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or "data" not in config:
        return None
    if not config["data"]:
        return "--video in.mp4"
    for phase in ("test", "train"):
        try:  # G takes domain X, F domain Y
            folder = domain_folders(config["data"], config.get("direction", "AtoB"), phase)[gen != "G"]
        except (TrainError, TypeError):
            return None
        if find_images(folder):
            return f"--folder {shlex.quote(str(folder))}"
    return None
