"""A run directory and everything written into it (by the main process only).

    runs/NAME/config.json            the frozen config
    runs/NAME/log.jsonl              one JSON record of losses per step
    runs/NAME/checkpoints/latest.pt  and epoch_NNN.pt every save_epoch_freq epochs
    runs/NAME/samples/step_NNNNNN.png  the held-out pictures through G and F
    runs/NAME/eval.jsonl             one JSON record of held-out measures per evaluation
    runs/NAME/loss_curve.png, eval_curve.png, index.html, known_answer.json (built-in data),
    tensorboard/ (if installed)
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from .checkpoint import save_checkpoint
from .config import TrainConfig
from .errors import TrainError
from .evaluation import HeldOut, eval_interval, measures, translate
from .known_answer import format_report
from .report import eval_curve, index_html, loss_curve, read_log, sample_sheet, write_bytes_atomic, write_png
from .run_lock import LOCK_NAME
from .trainer import Trainer

# Names a training writes in its run folder. None may be a symbolic link: files opened in place
# (the lock, the log) would write through one into whatever it points at, and folders would take
# every file written into them elsewhere. Files replaced whole (temp file + rename) replace a link.
OPENED_IN_PLACE = (LOCK_NAME, "log.jsonl", "eval.jsonl", "checkpoints", "samples", "tensorboard")


class RunDirError(TrainError, ValueError):
    """A run directory that cannot be created; the message says what to do."""


def claim_run_dir(config: TrainConfig, name_given: bool) -> tuple[TrainConfig, Path]:
    """Create runs_dir/name and return the config with its final name.

    A name the user gave must be new. A derived name (the data folder's, or "builtin") takes the
    first free suffix: builtin, builtin_2, builtin_3, ...
    """
    base = config.name or (Path(config.data).resolve().name if config.data else "builtin")
    runs = Path(config.runs_dir)
    with creating(runs):
        runs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        name = base if n == 1 else f"{base}_{n}"
        try:
            with creating(runs):
                (runs / name).mkdir()
        except FileExistsError:
            if name_given:
                raise RunDirError(f"run directory {runs / name} already exists; choose another --name "
                                  f"(or resume that run)") from None
            continue
        return replace(config, name=name), runs / name
    raise RunDirError(f"{runs}: too many runs named {base}_N; choose a --name")


@contextlib.contextmanager
def creating(runs: Path) -> Iterator[None]:
    """Turn a run folder that cannot be made under `runs` (read-only, not ours) into one RunDirError."""
    try:
        yield
    except FileExistsError:
        raise
    except OSError as e:
        raise RunDirError(f"--runs-dir {runs}: cannot create a run folder there ({e.strerror or e}); "
                          "choose another --runs-dir") from None


def refuse_links(path: Path) -> None:
    """Raise RunDirError when a name the training opens in place inside `path` is a symbolic link."""
    for name in OPENED_IN_PLACE:
        if (path / name).is_symlink():
            raise RunDirError(f"{path / name} is a symbolic link; cgan-train does not write through links in a "
                              "run folder: remove it (or move the real file there)")


def remove_unused_run(path: Path) -> None:
    """Remove a run folder this process created when the run stopped before its first step."""
    if not (path / "checkpoints").exists():
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write (a full disk, a folder gone) into RunDirError naming the file."""
    try:
        yield
    except OSError as e:
        raise RunDirError(f"{path}: cannot be written ({e.strerror or e}); free disk space or fix the folder, "
                          "then resume the run") from None


class RunDir:
    """Writes a run's files. Create it on the main process only; other ranks write nothing."""

    def __init__(self, path: Path, config: TrainConfig, heldout: HeldOut):
        self.path = Path(path)
        self.config = config
        self.heldout = heldout  # the pictures of every sample grid and evaluation
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        self.log_path = self.path / "log.jsonl"
        self.curve_path = self.path / "loss_curve.png"
        self.eval_path = self.path / "eval.jsonl"
        self.eval_curve_path = self.path / "eval_curve.png"
        self.known_answer: dict[str, Any] | None = None
        self._log = None
        self._tensorboard = _tensorboard_writer(self.path / "tensorboard")

    def write_config(self) -> None:
        text = json.dumps(self.config.to_dict(), indent=2) + "\n"
        with writing(self.path / "config.json"):
            write_bytes_atomic(self.path / "config.json", text.encode())

    def log(self, step: int, epoch: int, lr: float, losses: dict[str, float]) -> None:
        """Append one record to log.jsonl (and TensorBoard when it is installed)."""
        with writing(self.log_path):
            if self._log is None:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
                self._log = os.fdopen(fd, "a", encoding="utf-8")
            self._log.write(json.dumps({"step": step, "epoch": epoch, "lr": lr, **losses}) + "\n")
            self._log.flush()
        if self._tensorboard is not None:
            for key, value in losses.items():
                self._tensorboard.add_scalar(f"loss/{key}", value, step)
            self._tensorboard.add_scalar("lr", lr, step)

    def write_checkpoint(self, state: dict[str, Any], epoch_end: bool) -> Path:
        """latest.pt always; epoch_NNN.pt too at the end of every save_epoch_freq-th epoch."""
        latest = save_checkpoint(self.checkpoints / "latest.pt", state)
        if epoch_end and state["epoch"] % self.config.save_epoch_freq == 0:
            save_checkpoint(self.checkpoints / f"epoch_{state['epoch']:03d}.pt", state)
        return latest

    def evaluate(self, trainer: Trainer, final: bool = False) -> bool:
        """A sample grid of the held-out pictures every sample_every steps, their measures (eval.jsonl)
        every eval_every steps; with `final` (a run's last step), whichever this step has not had.
        Returns True when it wrote anything."""
        sample, measure = (_due(trainer.step, every, final)
                           for every in (self.config.sample_every, eval_interval(self.config)))
        if not (sample or measure):
            return False
        outputs = translate(trainer.generator("G"), trainer.generator("F"), self.heldout)
        if sample:
            path = self.samples / f"step_{trainer.step:06d}.png"
            with writing(path):
                write_png(path, sample_sheet(outputs.cycles()))
        if measure:
            numbers = measures(outputs)
            with writing(self.eval_path):
                fd = os.open(self.eval_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
                with os.fdopen(fd, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": trainer.step, **numbers}) + "\n")
            if self._tensorboard is not None:
                for key, value in numbers.items():
                    self._tensorboard.add_scalar(f"eval/{key}", value, trainer.step)
        return True

    def write_known_answer(self, report: dict[str, Any]) -> None:
        self.known_answer = report
        with writing(self.path / "known_answer.json"):
            write_bytes_atomic(self.path / "known_answer.json", (json.dumps(report, indent=2) + "\n").encode())

    def write_report(self) -> None:
        """Redraw the loss curve and index.html from what is on disk."""
        records = read_log(self.log_path)
        if records:
            with writing(self.curve_path):
                write_png(self.curve_path, loss_curve(records))
        samples = sorted((p.relative_to(self.path).as_posix() for p in self.samples.glob("step_*.png")),
                         reverse=True)
        evaluations = read_log(self.eval_path)
        if evaluations:
            with writing(self.eval_curve_path):
                write_png(self.eval_curve_path, eval_curve(evaluations))
        known = format_report(self.known_answer) if self.known_answer else None
        page = index_html(self.config.name, self.config.to_dict(), samples,
                          self.curve_path.name if records else None, known,
                          (self.eval_curve_path.name, self._heldout_caption()) if evaluations else None)
        with writing(self.path / "index.html"):
            write_bytes_atomic(self.path / "index.html", page.encode())

    def _heldout_caption(self) -> str:
        h = self.heldout
        return (f"{len(h.x)} x pictures from {h.sources[0]}; {len(h.y)} y pictures from {h.sources[1]}. "
                f"See docs/evaluation.md for what each measure can and cannot tell.")

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tensorboard is not None:
            self._tensorboard.close()


def _due(step: int, every: int, final: bool) -> bool:
    """On schedule (every `every` steps; 0: never), or for a run's last step, when it was not on schedule."""
    if every <= 0:
        return False
    on_schedule = step % every == 0
    return not on_schedule if final else on_schedule


def _tensorboard_writer(folder: Path):
    """A SummaryWriter when TensorBoard is installed (the `tensorboard` extra), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))
