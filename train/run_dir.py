"""A run directory: the name of everything a run writes (RunDir), and the writing (RunWriter, main process only).

    runs/NAME/config.json            the frozen config
    runs/NAME/log.jsonl              one JSON record of losses per step
    runs/NAME/checkpoints/latest.pt  and epoch_NNN.pt every save_epoch_freq epochs
    runs/NAME/samples/step_NNNNNN.png  the held-out pictures through G and F
    runs/NAME/eval.jsonl             one JSON record of held-out measures per evaluation
    runs/NAME/loss_curve.png, eval_curve.png, index.html, known_answer.json (built-in data),
    train.lock (the run's lock, train/run_lock.py), tensorboard/ (if installed)

Only RunDir spells these names; everything else asks it.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from cgan.infer.files import newest

from .checkpoint import save_checkpoint
from .config import TrainConfig
from .errors import TrainError
from .evaluation import HeldOut, eval_interval, measures, translate
from .known_answer import format_report
from .report import eval_curve, index_html, loss_curve, read_log, sample_sheet, write_bytes_atomic, write_png
from .trainer import Trainer

CHECKPOINTS = "checkpoints"
LATEST_CHECKPOINT = f"{CHECKPOINTS}/latest.pt"  # as named inside a run folder


class RunDirError(TrainError, ValueError):
    """A run directory that cannot be created; the message says what to do."""


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


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write (a full disk, a folder gone) into RunDirError naming the file."""
    try:
        yield
    except OSError as e:
        raise RunDirError(f"{path}: cannot be written ({e.strerror or e}); free disk space or fix the folder, "
                          "then resume the run") from None


@dataclass(frozen=True)
class RunDir:
    """The files and folders of the run in `path`."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def log_file(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def eval_file(self) -> Path:
        return self.path / "eval.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def latest_checkpoint(self) -> Path:
        return self.path / LATEST_CHECKPOINT

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:03d}.pt"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def sample(self, step: int) -> Path:
        return self.samples / f"step_{step:06d}.png"

    def sample_files(self) -> list[Path]:
        return list(self.samples.glob("step_*.png"))

    @property
    def loss_curve(self) -> Path:
        return self.path / "loss_curve.png"

    @property
    def eval_curve(self) -> Path:
        return self.path / "eval_curve.png"

    @property
    def index_page(self) -> Path:
        return self.path / "index.html"

    @property
    def known_answer(self) -> Path:
        return self.path / "known_answer.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def lock_file(self) -> Path:
        return self.path / "train.lock"

    @property
    def opened_in_place(self) -> tuple[Path, ...]:
        """What a training opens in place rather than replaces whole (temp file + rename). None may be a
        symbolic link: a file opened in place (the lock, the logs) would write through one into whatever it
        points at, and a folder would take every file written into it elsewhere."""
        return (self.lock_file, self.log_file, self.eval_file, self.checkpoints, self.samples, self.tensorboard)

    def refuse_links(self) -> None:
        """Raise RunDirError when a name the training opens in place is a symbolic link."""
        for path in self.opened_in_place:
            if path.is_symlink():
                raise RunDirError(f"{path} is a symbolic link; cgan-train does not write through links in a "
                                  "run folder: remove it (or move the real file there)")

    def remove_if_unused(self) -> None:
        """Remove the run folder (one this process created) when the run stopped before its first checkpoint."""
        if not self.checkpoints.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    @staticmethod
    def holding(checkpoint: Path) -> RunDir | None:
        """The run a checkpoint file lies in (None for a file outside a run's checkpoints folder)."""
        return RunDir(checkpoint.parent.parent) if checkpoint.parent.name == CHECKPOINTS else None

    @staticmethod
    def latest(runs_dir: str | os.PathLike) -> RunDir | None:
        """The run under `runs_dir` whose latest checkpoint is newest; None when none has one."""
        checkpoint = newest(Path(runs_dir).glob(f"*/{LATEST_CHECKPOINT}"))
        return RunDir(checkpoint.parent.parent) if checkpoint else None

    @staticmethod
    def claim(config: TrainConfig, name_given: bool) -> tuple[TrainConfig, RunDir]:
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
            return replace(config, name=name), RunDir(runs / name)
        raise RunDirError(f"{runs}: too many runs named {base}_N; choose a --name")


class RunWriter:
    """Writes a run's files. Create it on the main process only; other ranks write nothing."""

    def __init__(self, run: RunDir, config: TrainConfig, heldout: HeldOut):
        self.run = run
        self.config = config
        self.heldout = heldout  # the pictures of every sample grid and evaluation
        self.known_answer: dict[str, Any] | None = None
        self._log = None
        self._tensorboard = _tensorboard_writer(run.tensorboard)

    def write_config(self) -> None:
        text = json.dumps(self.config.to_dict(), indent=2) + "\n"
        with writing(self.run.config_file):
            write_bytes_atomic(self.run.config_file, text.encode())

    def log(self, step: int, epoch: int, lr: float, losses: dict[str, float]) -> None:
        """Append one record to the log (and TensorBoard when it is installed)."""
        with writing(self.run.log_file):
            if self._log is None:
                self._log = _open_to_append(self.run.log_file)
            self._log.write(json.dumps({"step": step, "epoch": epoch, "lr": lr, **losses}) + "\n")
            self._log.flush()
        if self._tensorboard is not None:
            for key, value in losses.items():
                self._tensorboard.add_scalar(f"loss/{key}", value, step)
            self._tensorboard.add_scalar("lr", lr, step)

    def write_checkpoint(self, state: dict[str, Any], epoch_end: bool) -> Path:
        """The latest checkpoint always; an epoch's too at the end of every save_epoch_freq-th epoch."""
        latest = save_checkpoint(self.run.latest_checkpoint, state)
        if epoch_end and state["epoch"] % self.config.save_epoch_freq == 0:
            save_checkpoint(self.run.epoch_checkpoint(state["epoch"]), state)
        return latest

    def evaluate(self, trainer: Trainer, final: bool = False) -> bool:
        """A sample grid of the held-out pictures every sample_every steps, their measures (the eval log)
        every eval_every steps; with `final` (a run's last step), whichever this step has not had.
        Returns True when it wrote anything."""
        sample, measure = (_due(trainer.step, every, final)
                           for every in (self.config.sample_every, eval_interval(self.config)))
        if not (sample or measure):
            return False
        outputs = translate(trainer.generator("G"), trainer.generator("F"), self.heldout)
        if sample:
            path = self.run.sample(trainer.step)
            with writing(path):
                write_png(path, sample_sheet(outputs.cycles()))
        if measure:
            numbers = measures(outputs)
            with writing(self.run.eval_file):
                with _open_to_append(self.run.eval_file) as f:
                    f.write(json.dumps({"step": trainer.step, **numbers}) + "\n")
            if self._tensorboard is not None:
                for key, value in numbers.items():
                    self._tensorboard.add_scalar(f"eval/{key}", value, trainer.step)
        return True

    def write_known_answer(self, report: dict[str, Any]) -> None:
        self.known_answer = report
        with writing(self.run.known_answer):
            write_bytes_atomic(self.run.known_answer, (json.dumps(report, indent=2) + "\n").encode())

    def write_report(self) -> None:
        """Redraw the loss curve and the index page from what is on disk."""
        run = self.run
        records = read_log(run.log_file)
        if records:
            with writing(run.loss_curve):
                write_png(run.loss_curve, loss_curve(records))
        samples = sorted((p.relative_to(run.path).as_posix() for p in run.sample_files()), reverse=True)
        evaluations = read_log(run.eval_file)
        if evaluations:
            with writing(run.eval_curve):
                write_png(run.eval_curve, eval_curve(evaluations))
        known = format_report(self.known_answer) if self.known_answer else None
        page = index_html(self.config.name, self.config.to_dict(), samples,
                          run.loss_curve.name if records else None, known,
                          (run.eval_curve.name, self._heldout_caption()) if evaluations else None)
        with writing(run.index_page):
            write_bytes_atomic(run.index_page, page.encode())

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


def _open_to_append(path: Path):
    """`path` opened to append text, created if need be, refusing a symbolic link."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "a", encoding="utf-8")


def _tensorboard_writer(folder: Path):
    """A SummaryWriter when TensorBoard is installed (the `tensorboard` extra), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))
