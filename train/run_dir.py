"""A run directory and everything written into it (by the main process only).

    runs/NAME/config.json            the frozen config
    runs/NAME/log.jsonl              one JSON record of losses per step
    runs/NAME/checkpoints/latest.pt  and epoch_NNN.pt every save_epoch_freq epochs
    runs/NAME/samples/step_NNNNNN.png
    runs/NAME/loss_curve.png, index.html, known_answer.json (built-in data), tensorboard/ (if installed)
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from cgan.infer.metadata import cgan_version

from .checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from .config import TrainConfig
from .errors import TrainError
from .known_answer import format_report
from .report import index_html, loss_curve, read_log, sample_grid, write_bytes_atomic, write_png
from .trainer import Trainer

CHECKPOINT_VERSION = 1


class RunDirError(TrainError, ValueError):
    """A run directory that cannot be created; the message says what to do."""


def claim_run_dir(config: TrainConfig, name_given: bool) -> tuple[TrainConfig, Path]:
    """Create runs_dir/name and return the config with its final name.

    A name the user gave must be new. A derived name (the data folder's, or "builtin") takes the
    first free suffix: builtin, builtin_2, builtin_3, ...
    """
    base = config.name or (Path(config.data).resolve().name if config.data else "builtin")
    runs = Path(config.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        name = base if n == 1 else f"{base}_{n}"
        try:
            (runs / name).mkdir()
        except FileExistsError:
            if name_given:
                raise RunDirError(f"run directory {runs / name} already exists; choose another --name "
                                  f"(or resume that run)") from None
            continue
        return replace(config, name=name), runs / name
    raise RunDirError(f"{runs}: too many runs named {base}_N; choose a --name")


def checkpoint_state(trainer: Trainer, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The self-describing checkpoint dict: format, versions, config and the whole training state
    (`extra`: what the session adds, i.e. grad scaler, RNG states and other ranks' pools)."""
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "cgan_version": cgan_version(),
            "config": trainer.config.to_dict(), **trainer.state_dict(), **(extra or {})}


class RunDir:
    """Writes a run's files. Create it on the main process only; other ranks write nothing."""

    def __init__(self, path: Path, config: TrainConfig):
        self.path = Path(path)
        self.config = config
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        self.log_path = self.path / "log.jsonl"
        self.curve_path = self.path / "loss_curve.png"
        self.known_answer: dict[str, Any] | None = None
        self._log = None
        self._tensorboard = _tensorboard_writer(self.path / "tensorboard")

    def write_config(self) -> None:
        text = json.dumps(self.config.to_dict(), indent=2) + "\n"
        write_bytes_atomic(self.path / "config.json", text.encode())

    def log(self, step: int, epoch: int, lr: float, losses: dict[str, float]) -> None:
        """Append one record to log.jsonl (and TensorBoard when it is installed)."""
        if self._log is None:
            self._log = open(self.log_path, "a", encoding="utf-8")
        self._log.write(json.dumps({"step": step, "epoch": epoch, "lr": lr, **losses}) + "\n")
        self._log.flush()
        if self._tensorboard is not None:
            for key, value in losses.items():
                self._tensorboard.add_scalar(f"loss/{key}", value, step)
            self._tensorboard.add_scalar("lr", lr, step)

    def write_checkpoint(self, trainer: Trainer, epoch_end: bool, extra: dict[str, Any] | None = None) -> Path:
        """latest.pt always; epoch_NNN.pt too at the end of every save_epoch_freq-th epoch."""
        state = checkpoint_state(trainer, extra)
        latest = save_checkpoint(self.checkpoints / "latest.pt", state)
        if epoch_end and trainer.epoch % self.config.save_epoch_freq == 0:
            save_checkpoint(self.checkpoints / f"epoch_{trainer.epoch:03d}.pt", state)
        return latest

    def write_sample(self, trainer: Trainer) -> Path:
        path = self.samples / f"step_{trainer.step:06d}.png"
        write_png(path, sample_grid(trainer.last_images))
        return path

    def write_known_answer(self, report: dict[str, Any]) -> None:
        self.known_answer = report
        write_bytes_atomic(self.path / "known_answer.json", (json.dumps(report, indent=2) + "\n").encode())

    def write_report(self) -> None:
        """Redraw the loss curve and index.html from what is on disk."""
        records = read_log(self.log_path)
        if records:
            write_png(self.curve_path, loss_curve(records))
        samples = sorted((p.relative_to(self.path).as_posix() for p in self.samples.glob("step_*.png")),
                         reverse=True)
        known = format_report(self.known_answer) if self.known_answer else None
        page = index_html(self.config.name, self.config.to_dict(), samples,
                          self.curve_path.name if records else None, known)
        write_bytes_atomic(self.path / "index.html", page.encode())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tensorboard is not None:
            self._tensorboard.close()


def _tensorboard_writer(folder: Path):
    """A SummaryWriter when TensorBoard is installed (the `tensorboard` extra), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))
