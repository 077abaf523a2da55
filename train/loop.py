"""The training loop, and a whole run: data, run directory, loop, report. Reads top to bottom."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .config import TrainConfig
from .data import UnalignedDataset, build_loader, start_epoch
from .device import resolve_device
from .known_answer import KnownAnswerDataset, known_answer_report
from .networks import side_multiple
from .preprocess import Preprocess
from .run_dir import RunDir, claim_run_dir
from .trainer import Trainer

PROGRESS_TERMS = ("G_total", "cycle_X", "cycle_Y", "D_X", "D_Y")
BUILTIN_LENGTH = 1000  # pictures per domain of the built-in dataset, unless --max-dataset-size says


def batches_per_epoch(loader: DataLoader) -> int:
    per_rank = loader.sampler.per_rank()
    return per_rank // loader.batch_size if loader.drop_last else math.ceil(per_rank / loader.batch_size)


def total_steps(config: TrainConfig, loader: DataLoader) -> int:
    """All epochs' steps, or --max-steps when that is fewer."""
    total = config.total_epochs * batches_per_epoch(loader)
    return min(total, config.max_steps) if config.max_steps else total


def fit(trainer: Trainer, loader: DataLoader, run: RunDir | None, progress: bool = True) -> None:
    """Train from wherever `trainer` stands to the end of the schedule (or --max-steps).

    `run` is None on every process but the main one: it does all logging, samples and checkpoints.
    """
    c = trainer.config
    steps_per_epoch, total = batches_per_epoch(loader), total_steps(c, loader)
    bar = tqdm(total=total, initial=trainer.step, unit="step", dynamic_ncols=True, disable=run is None or not progress)
    trainer.train()
    saved_at = trainer.step
    try:
        while trainer.step < total:
            start_epoch(loader, trainer.epoch, trainer.batch_in_epoch)
            for batch in loader:
                losses = trainer.train_step(batch)
                bar.update(1)
                bar.set_postfix({k: f"{losses[k]:.3g}" for k in PROGRESS_TERMS}, refresh=False)
                if run is not None:
                    run.log(trainer.step, trainer.epoch, trainer.lr, losses)
                    if trainer.step % c.sample_every == 0:
                        run.write_sample(trainer)
                        run.write_report()
                if trainer.step >= total:
                    break
            if trainer.batch_in_epoch >= steps_per_epoch:
                trainer.end_epoch()
                if run is not None:
                    run.write_checkpoint(trainer, epoch_end=True)
                    saved_at = trainer.step
        if run is not None:
            if saved_at != trainer.step:
                run.write_checkpoint(trainer, epoch_end=False)
            if trainer.last_images is not None and trainer.step % c.sample_every:
                run.write_sample(trainer)
            run.write_report()
    finally:
        bar.close()


@dataclass
class RunResult:
    path: Path  # the run directory
    config: TrainConfig  # the config as run (with its final name)
    steps: int
    seconds: float
    known_answer: dict[str, Any] | None  # built-in data only


def build_data(config: TrainConfig, pin_memory: bool = False):
    """The training dataset for `config` (its folders, or the built-in one) and its loader."""
    if config.data:
        dataset = UnalignedDataset(
            config.data, Preprocess(config.preprocess, config.load_size, config.crop_size, not config.no_flip,
                                    side_multiple(config.generator)),
            channels=(config.input_nc, config.output_nc), direction=config.direction,
            serial_batches=config.serial_batches, max_size=config.max_dataset_size, seed=config.seed)
    else:
        dataset = KnownAnswerDataset(size=config.crop_size, length=config.max_dataset_size or BUILTIN_LENGTH,
                                     seed=config.seed, flip=not config.no_flip, serial_batches=config.serial_batches)
    loader = build_loader(dataset, config.batch_size, config.workers, shuffle=not config.serial_batches,
                          seed=config.seed, pin_memory=pin_memory)
    return dataset, loader


def run_training(config: TrainConfig, name_given: bool = False, echo: Callable[[str], None] = print,
                 progress: bool = True) -> RunResult:
    """A whole run: data, run directory, training, report. Raises ConfigError/DataError/RunDirError
    for bad input before anything is written."""
    device = resolve_device(config.device)
    dataset, loader = build_data(config, pin_memory=device.type == "cuda")
    config, path = claim_run_dir(config, name_given)
    run = RunDir(path, config)
    run.write_config()
    trainer = Trainer(config, device)
    steps = total_steps(config, loader)
    echo(f"cgan-train: device {device}, precision fp32, X '{config.domain_x}' {dataset.sizes[0]} images, "
         f"Y '{config.domain_y}' {dataset.sizes[1]} images, {batches_per_epoch(loader)} steps/epoch, "
         f"{steps} steps, run dir {path}")
    start = time.perf_counter()
    try:
        fit(trainer, loader, run, progress)
        known = None if config.data else known_answer_report(
            trainer.nets["G"], trainer.nets["F"], size=config.crop_size, seed=config.seed)
        if known is not None:
            run.write_known_answer(known)
            run.write_report()
    finally:
        run.close()
    seconds = time.perf_counter() - start
    return RunResult(path, config, trainer.step, seconds, known)
