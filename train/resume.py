"""`cgan-train --resume`: find the run, lock it, check the options against it, load its latest checkpoint.

A resumed run continues exactly where the checkpoint stands (see Session.restore). Options that fix
the architecture or the meaning of the saved training state cannot change; all others (--epochs,
--max-steps, --lr, --precision, ...) may, and each change is reported. The run's lock is taken
before its checkpoint is read, so a second resume of a run in training is refused instead of
continuing from a checkpoint that the first one is about to overtake.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .checkpoint import load_checkpoint
from .config import TrainConfig, flag, load_config_file, make_config, saved_config
from .errors import TrainError
from .report import log_record, write_bytes_atomic
from .run_dir import RunDir
from .run_lock import RunLock

# Keys that cannot change on resume, with why: a change would not fit the saved nets, optimizer
# states, scheduler, pools or data position, or would be recorded without having happened.
SAVED_STATE = "they fix the architecture or the saved training state"
STARTED = "the recipe, the seed and the initialization are chosen when a run starts"
FIXED_ON_RESUME: dict[str, str] = {
    **dict.fromkeys((
        "generator", "discriminator", "ngf", "ndf", "n_layers", "norm", "dropout", "padding", "input_nc", "output_nc",
        "residual", "pointwise", "spatial_filter", "pointwise_lr",  # pointwise_lr 1 keeps one optimizer group for all
        "colour_judge", "colour_judge_lr",
        "gan_loss",    # the discriminators learned this objective
        "lr_policy",   # the scheduler's saved state belongs to its policy
        "pool_size", "colour_pool",  # the pools' saved contents
        "batch_size",  # the position in the epoch is counted in batches
    ), SAVED_STATE),
    **dict.fromkeys((
        "recipe",              # its defaults apply to a new run only: the saved values stay
        "seed",                # the data order and random streams the checkpoint continues
        "init", "init_gain",   # the saved weights are no longer the initial ones
        "colour_fit", "colour_anchor",  # the colour maps' start, fitted before the first step
    ), STARTED),
}
NOT_COMPARED = ("name", "runs_dir")


class ResumeError(TrainError, ValueError):
    """A run that cannot be resumed as asked; the message says why and what to do."""


@dataclass
class Resume:
    run: RunDir                   # the run directory
    config: TrainConfig           # the saved config with this command's options applied
    state: dict[str, Any] | None  # its latest checkpoint; None when it has none yet (starts at step 0)
    changes: list[str]            # "epochs 6 -> 10", for the start line


def find_run(resume: str, name: str | None, runs_dir: str) -> RunDir:
    """`--resume DIR`, or `--resume` with `--name` (under --runs-dir), or bare `--resume`: the most recent run."""
    if resume:
        run = RunDir(resume)
    elif name:
        run = RunDir(Path(runs_dir) / name)
    else:
        run = RunDir.latest(runs_dir)
        if run is None:
            raise ResumeError(f"--resume: no run with a checkpoint under {runs_dir}/; name one: --resume runs/NAME")
    if not run.config_file.is_file():
        raise ResumeError(f"--resume {run.path}: not a run directory (no {run.config_file.name}); runs are folders "
                          "like runs/NAME")
    return run


def _change(key: str, new: Any, saved: Any) -> str:
    """A refused change as a user would type it: `--ngf 8 (the run has 4)`, `--no-residual (the run
    has --residual)`."""
    spelling = flag(key)
    if isinstance(new, bool):
        on, _, off = spelling.partition("/")
        switch = {True: on, False: off or f"no {on}"}  # a switch alone (--no-flip) has no spelling for off
        return f"{switch[new]} (the run has {switch[bool(saved)]})"
    return f"{spelling} {new} (the run has {saved})"


def resume_config(saved: Mapping[str, Any], file_values: Mapping[str, Any],
                  overrides: Mapping[str, Any]) -> tuple[TrainConfig, list[str]]:
    """The saved config with the new options applied; refuses changes to FIXED_ON_RESUME keys."""
    config = make_config({**saved, **file_values}, {k: v for k, v in overrides.items() if k not in NOT_COMPARED})
    new = config.to_dict()
    fixed = [k for k in FIXED_ON_RESUME if k in saved and new[k] != saved[k]]
    if fixed:
        reasons = dict.fromkeys(FIXED_ON_RESUME[k] for k in fixed)  # each once, in order
        raise ResumeError(f"cannot resume with {', '.join(_change(k, new[k], saved[k]) for k in fixed)}: "
                          f"{'; '.join(reasons)}; drop them, or start a new run with another --name")
    changes = [f"{k} {saved[k]} -> {new[k]}" for k in new if k not in NOT_COMPARED and k in saved and new[k] != saved[k]]
    return config, changes


@contextlib.contextmanager
def resuming(run: RunDir, file_values: Mapping[str, Any], overrides: Mapping[str, Any],
             lock: bool = True) -> Iterator[Resume]:
    """`with resuming(path, ...) as resume: run_training(resume.config, resume=resume)`: holds the run's
    lock (`lock`: on the main process) from before its checkpoint is read until the block ends."""
    with RunLock(run.path) if lock else contextlib.nullcontext():
        run.refuse_links()
        yield load_resume(run, file_values, overrides)


def load_resume(run: RunDir, file_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> Resume:
    """The config to continue with and the run's latest checkpoint (or None before the first one)."""
    latest = run.latest_checkpoint
    state = load_checkpoint(latest, resume=True) if latest.exists() else None
    saved = state["config"] if state is not None else load_config_file(run.config_file)
    config, changes = resume_config(saved_config(saved), file_values, overrides)
    return Resume(run, config, state, changes)


def truncate_log(log_path: Path, step: int) -> None:
    """Drop log records past `step` (steps the resumed run will train again), atomically."""
    if not log_path.exists():
        return
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    records = [(line, log_record(line)) for line in lines]
    kept = [line for line, record in records if record is not None and record["step"] <= step]
    if len(kept) != len(lines):
        write_bytes_atomic(log_path, "".join(kept).encode())
