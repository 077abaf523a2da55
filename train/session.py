"""What a training process adds around the Trainer to run fast, on many processes, and without loss.

    session = start_session(config)          # torchrun rank, process group, device, precision
    trainer = session.build_trainer(config)  # precision, SyncBatchNorm, channels-last, compile, DDP, rank seeds
    session.restore(trainer, state)          # on --resume: everything, down to RNG states and pools
    ... stop = session.after_step(trainer, losses)   # NaN/Inf stop and SIGINT/SIGTERM, agreed by all ranks
    ... state = session.checkpoint(trainer)          # on every rank; rank 0 gets the checkpoint dict
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .checkpoint import checkpoint_state, restore_checkpoint
from .config import TrainConfig
from .device import resolve_device
from .distributed import (DistEnv, any_rank, dist_env, from_main, gather_to_main, init_distributed, rank_seed,
                          sync_batchnorm, wrap)
from .finite import NonFiniteLossError, check_finite, nonfinite_terms
from .precision import Amp, Precision, float_outputs, resolve_precision
from .precision_auto import measure_precisions
from .rng_state import seed_everything
from .signals import StopRequest
from .trainer import Trainer


@dataclass
class Session:
    env: DistEnv
    device: torch.device
    precision: Precision
    channels_last: bool = False  # nets in channels-last memory format
    compile: bool = False  # torch.compile the nets
    stop: StopRequest = field(default_factory=StopRequest)
    notes: list[str] = field(default_factory=list)  # facts for the start line

    def describe(self, batch_size: int) -> str:
        """The start line's part: precision, and processes x batch when distributed."""
        text = f"precision {self.precision.describe()}"
        if self.env.enabled:
            text += (f", {self.env.world_size} processes x batch {batch_size} per process "
                     f"= global batch {self.env.world_size * batch_size}")
        return ", ".join([text, *self.notes])

    def prepare_net(self, net: nn.Module) -> nn.Module:
        """A freshly built net as it trains in this process: float32 outputs under autocast, SyncBatchNorm,
        channels-last, compiled, wrapped in DDP (each where it applies)."""
        float_outputs(net)
        net, _ = sync_batchnorm(net, self.env, self.device)
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        if self.compile:
            net.compile()
        return wrap(net, self.env, self.device)

    def build_trainer(self, config: TrainConfig) -> Trainer:
        """The Trainer for this process; then seeds the global RNGs per rank (dropout, gradient-penalty mixing)."""
        trainer = Trainer(config, self.device, Amp(self.precision), self.prepare_net, rank=self.env.rank)
        seed_everything(rank_seed(config.seed, self.env))
        if self.env.enabled and config.norm == "batch" and self.device.type == "cpu":
            self.notes.append("batch norm statistics per process (SyncBatchNorm needs CUDA)")
        return trainer

    def after_step(self, trainer: Trainer, losses: dict[str, float]) -> bool:
        """Raise NonFiniteLossError on a NaN/Inf loss (on every rank); True when a stop signal came."""
        bad = nonfinite_terms(losses)
        stop, any_bad = any_rank(self.stop.requested, bool(bad), device=self.device)
        if bad:
            check_finite(losses, trainer.step)
        if any_bad:
            raise NonFiniteLossError(f"a loss became NaN or Inf on another process at step {trainer.step}; stopping")
        return stop

    def checkpoint(self, trainer: Trainer) -> dict[str, Any] | None:
        """The checkpoint dict on rank 0 (None on the others). Call on every rank: each adds its RNG
        states and pools."""
        ranks = gather_to_main(trainer.rank_state(self.env.is_main), self.env)
        return None if ranks is None else checkpoint_state(trainer, ranks)

    def restore(self, trainer: Trainer, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: nets, optimizers, schedulers, pools, position, scaler, RNG states."""
        self.notes += restore_checkpoint(trainer, state, self.env.rank, self.env.world_size)


def start_session(config: TrainConfig, stop: StopRequest | None = None) -> Session:
    """This process's place (torchrun or alone), its device and precision; joins the process group.
    `stop`: the signal handler already installed for this run (default: a new one)."""
    env = dist_env()
    device = init_distributed(env, resolve_device(config.device), config.dist_timeout)
    precision = from_main(resolve_precision(config.precision, device, measure=measure_precisions(config, device)), env)
    return Session(env, device, precision, config.channels_last, config.compile, stop or StopRequest())
