"""The training loop, and a whole run: data, run directory, loop, report. Reads top to bottom."""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .config import ConfigError, TrainConfig
from .colour_fit import fit_colour_maps
from .cores import cores_now, default_threads, loader_workers
from .data import UnalignedDataset, build_loader, check_batchable, start_epoch
from .distributed import DistEnv, any_rank, shutdown_distributed
from .evaluation import heldout_set
from .known_answer import KnownAnswerDataset, known_answer_report
from .networks import input_problem, side_multiple, smallest_side
from .pace import Pace
from .preprocess import CROPPING, Preprocess, round_to_multiple
from .resume import Resume, truncate_log
from .run_dir import RunDir, RunWriter
from .run_lock import RunLock
from .session import Session, start_session
from .signals import StopRequest
from .trainer import Trainer, build_nets, unwrap

PROGRESS_TERMS = ("G_total", "cycle_X", "cycle_Y", "D_X", "D_Y")
BUILTIN_LENGTH = 1000  # pictures per domain of the built-in dataset, unless --max-dataset-size says


def batches_per_epoch(loader: DataLoader) -> int:
    per_rank = loader.sampler.per_rank()
    return per_rank // loader.batch_size if loader.drop_last else math.ceil(per_rank / loader.batch_size)


def total_steps(config: TrainConfig, loader: DataLoader) -> int:
    """All epochs' steps, or --max-steps when that is fewer."""
    total = config.total_epochs * batches_per_epoch(loader)
    return min(total, config.max_steps) if config.max_steps else total


def fit(trainer: Trainer, loader: DataLoader, run: RunWriter | None, session: Session, progress: bool = True,
        echo: Callable[[str], None] = print) -> bool:
    """Train from wherever `trainer` stands to the end of the schedule (or --max-steps, or a stop signal).

    `run` is None on every process but the main one: it does all logging, samples and checkpoints, and
    says (through `echo`) how long the run will take and what it does when stopped.
    Returns True when SIGINT/SIGTERM stopped the run (after saving a checkpoint at that step).
    """
    c = trainer.config
    steps_per_epoch, total = batches_per_epoch(loader), total_steps(c, loader)
    bar = tqdm(total=total, initial=trainer.step, unit="step", dynamic_ncols=True, disable=run is None or not progress)

    def say(line: str) -> None:
        if run is not None:
            with bar.external_write_mode():
                echo(line)

    trainer.train()
    first_step = saved_at = trainer.step
    pace = Pace(c, first_step, total)
    stopped = False
    try:
        while trainer.step < total and not stopped:
            start_epoch(loader, trainer.epoch, trainer.batch_in_epoch)
            for batch in loader:
                losses = trainer.train_step(batch)
                stopped = session.after_step(trainer, losses)
                bar.update(1)
                bar.set_postfix({k: f"{losses[k]:.3g}" for k in PROGRESS_TERMS}, refresh=False)
                for line in pace.step_done(trainer.step):
                    say(line)
                if stopped:
                    say(f"cgan-train: stopping at step {trainer.step}: saving a checkpoint, then the final samples "
                        "and measures")
                if run is not None:
                    run.log(trainer.step, trainer.epoch, trainer.lr, losses)
                    if run.evaluate(trainer):
                        run.write_report()
                if trainer.step >= total or stopped:
                    break
                # A long epoch should not be lost to a crash; the epoch's last step saves below instead.
                if c.save_every and trainer.step % c.save_every == 0 and trainer.batch_in_epoch < steps_per_epoch:
                    save(trainer, run, session, epoch_end=False)
                    saved_at = trainer.step
            if trainer.batch_in_epoch >= steps_per_epoch:
                trainer.end_epoch()
                save(trainer, run, session, epoch_end=True)
                saved_at = trainer.step
        if saved_at != trainer.step:
            save(trainer, run, session, epoch_end=False)
        if run is not None:
            if trainer.step > first_step:
                run.evaluate(trainer, final=True)
            run.write_report()
    finally:
        bar.close()
    return stopped


def save(trainer: Trainer, run: RunWriter | None, session: Session, epoch_end: bool) -> None:
    """Write a checkpoint on the main process; every process takes part (each rank's RNG state goes in)."""
    state = session.checkpoint(trainer)
    if run is not None:
        run.write_checkpoint(state, epoch_end)


class StoppedAtStart(Exception):
    """SIGINT/SIGTERM came before the first step: the run ends at once (a new run folder is removed)."""


def stop_at_start(stop: StopRequest) -> Callable[[], None]:
    """A check that raises StoppedAtStart once a signal has come (for work before the first step)."""
    def check() -> None:
        if stop.requested:
            raise StoppedAtStart(stop.signal_name)
    return check


@dataclass
class RunResult:
    path: Path | None  # the run directory (None on processes other than the main one)
    config: TrainConfig  # the config as run (with its final name)
    steps: int  # where the run stands
    seconds: float  # this process's training time
    known_answer: dict[str, Any] | None  # built-in data only
    stopped_by: str | None = None  # "SIGTERM"/"SIGINT" when a signal stopped the run early
    first_step: int = 0  # where this process started (after a resume, the checkpoint's step)

    @property
    def steps_run(self) -> int:
        """The steps this process trained."""
        return self.steps - self.first_step


def build_data(config: TrainConfig, pin_memory: bool = False, env: DistEnv = DistEnv(), workers: int | None = None):
    """The training dataset for `config` (its folders, or the built-in one) and this process's loader
    (with `workers` worker processes; default: config.workers)."""
    if config.data:
        dataset = UnalignedDataset(
            config.data, Preprocess(config.preprocess, config.load_size, config.crop_size, not config.no_flip,
                                    side_multiple(config.generator)),
            channels=(config.input_nc, config.output_nc), direction=config.direction,
            serial_batches=config.serial_batches, max_size=config.max_dataset_size, seed=config.seed)
        check_batchable(dataset, config.batch_size)
    else:
        dataset = KnownAnswerDataset(size=config.crop_size, length=config.max_dataset_size or BUILTIN_LENGTH,
                                     seed=config.seed, flip=not config.no_flip, serial_batches=config.serial_batches)
    workers = config.workers if workers is None else workers
    loader = build_loader(dataset, config.batch_size, workers, shuffle=not config.serial_batches,
                          seed=config.seed, rank=env.rank, world_size=env.world_size, pin_memory=pin_memory)
    # Items are pure functions of (seed, epoch, index); an own generator for the workers' base seed keeps
    # the loader off the global RNG, so resuming mid-epoch leaves dropout's random stream exactly in place.
    loader.generator = torch.Generator().manual_seed(config.seed)
    return dataset, loader


def check_nets_fit(c: TrainConfig) -> None:
    """Fail before anything is written when training-size images do not fit the generators (a side
    multiple, a minimum size) or leave the discriminators too little to judge. The nets are built on
    the meta device: no memory, no compute."""
    if c.data and c.preprocess not in CROPPING:
        return  # image sizes vary; only a cropped size is known in advance
    with torch.device("meta"):
        generator, discriminator = build_nets(c, ("G", "D_X")).values()
    size, multiple = c.crop_size, generator.side_multiple
    if size % multiple:
        problem = f"is not a multiple of {multiple}, which generator {c.generator} needs"
    else:
        problem = input_problem(generator, c.input_nc, size, size)
        problem = problem and f"is too small for generator {c.generator} ({problem})"
    if problem:
        smallest = smallest_side(generator, c.input_nc, multiple)
        fits = max(round_to_multiple(size, multiple), smallest) if smallest else None
        raise ConfigError(f"crop_size={size} {problem}; use {f'--crop-size {fits}' if fits else 'another --generator'}")
    problem = input_problem(discriminator, c.input_nc, size, size)
    if problem:
        raise ConfigError(f"crop_size={size} is too small for discriminator {c.discriminator} "
                          f"({problem}); use a larger --crop-size or --discriminator pixel")


def run_training(config: TrainConfig, name_given: bool = False, echo: Callable[[str], None] = print,
                 progress: bool = True, resume: Resume | None = None) -> RunResult:
    """A whole run: data, run directory, training, report; or the rest of a run with `resume` (from
    `resuming`, which holds the run's lock). Raises ConfigError/DataError/RunDirError for bad input
    before anything is written. Under torchrun every process calls it; only the main one writes
    (and gets a RunResult with a path).

    SIGINT/SIGTERM are caught from the start: before the first step they raise StoppedAtStart (a new
    run folder is removed again, as after any error before the first step); later they stop the run
    at the next step boundary, with a checkpoint.
    """
    cores = cores_now()
    workers = loader_workers(config.workers, cores)
    run_dir, run, started = None, None, False

    def remove_if_unused(exc_type, *_) -> None:  # a new run that ends before its first step leaves nothing
        if exc_type is not None and not started:
            run_dir.remove_if_unused()

    with contextlib.ExitStack() as cleanup:
        cleanup.callback(torch.set_num_threads, torch.get_num_threads())
        torch.set_num_threads(config.threads or default_threads(cores))
        stop = cleanup.enter_context(StopRequest())
        check_nets_fit(config)  # before `auto` precision runs the nets
        session = start_session(config, stop)
        env = session.env
        cleanup.push(shutdown_distributed)
        if session.device.type == "cpu":
            session.notes.append(cores.describe(torch.get_num_threads()))
        if workers < config.workers:
            session.notes.append(f"{workers} loader workers ({config.workers} asked, {cores.allowed} cores)")
        dataset, loader = build_data(config, pin_memory=session.device.type == "cuda", env=env, workers=workers)
        heldout = heldout_set(config) if env.is_main else None
        if env.is_main:
            if resume is None:
                config, run_dir = RunDir.claim(config, name_given)
                cleanup.push(remove_if_unused)
                cleanup.enter_context(RunLock(run_dir.path))
            else:
                run_dir = resume.run
        trainer = session.build_trainer(config)
        if resume is not None and resume.state is not None:
            session.restore(trainer, resume.state)
        if env.is_main:
            if resume is not None:
                for log in (run_dir.log_file, run_dir.eval_file):
                    truncate_log(log, trainer.step)
            run = RunWriter(run_dir, config, heldout)
            cleanup.callback(run.close)
            run.write_config()
        steps = total_steps(config, loader)
        if any_rank(stop.requested, device=session.device)[0]:
            raise StoppedAtStart(stop.signal_name or "a signal to another process")
        if run is not None:
            if resume is not None:
                changed = f"; changed: {', '.join(resume.changes)}" if resume.changes else ""
                echo(f"cgan-train: resuming {run_dir.path} at step {trainer.step} (epoch {trainer.epoch}, "
                     f"batch {trainer.batch_in_epoch}){changed}")
            echo(f"cgan-train: device {session.device}, {session.describe(config.batch_size)}, "
                 f"X '{config.domain_x}' {dataset.sizes[0]} images, Y '{config.domain_y}' {dataset.sizes[1]} images, "
                 f"{batches_per_epoch(loader)} steps/epoch, {steps} steps, run dir {run_dir.path}")
        if (resume is None or resume.state is None) and config.colour_fit and config.colour_maps:
            fitted = fit_colour_maps(unwrap(trainer.nets["G"]), unwrap(trainer.nets["F"]), dataset,
                                     config.colour_fit, config.seed, config.colour_anchor, stop_at_start(stop))
            if run is not None:
                echo(f"cgan-train: {fitted}")
        start, started, first_step = time.perf_counter(), True, trainer.step
        stopped = fit(trainer, loader, run, session, progress, echo)
        known = None
        if run is not None and not config.data and not stopped:
            known = known_answer_report(trainer.generator("G"), trainer.generator("F"),
                                        size=config.crop_size, seed=config.seed)
            run.write_known_answer(known)
            run.write_report()
    seconds = time.perf_counter() - start
    return RunResult(run_dir.path if run_dir else None, config, trainer.step, seconds, known,
                     stop.signal_name if stopped else None, first_step)
