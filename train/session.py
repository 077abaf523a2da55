"""What a training process adds around the Trainer to run fast, on many processes, and without loss.

    session = start_session(config)       # torchrun rank, process group, device, precision
    session.prepare(trainer)              # per-rank seeds, SyncBatchNorm, channels-last, compile, DDP, autocast
    session.restore(trainer, checkpoint)  # on --resume: everything, down to RNG states and pools
    ... stop = session.after_step(trainer, losses)   # NaN/Inf stop and SIGINT/SIGTERM, agreed by all ranks
    ... extra = session.checkpoint_extra(trainer)     # on every rank; rank 0 gets what the checkpoint adds
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .config import TrainConfig
from .device import resolve_device
from .distributed import (DistEnv, any_rank, dist_env, gather_to_main, init_distributed, rank_seed,
                          sync_batchnorm, wrap)
from .finite import NonFiniteLossError, check_finite, nonfinite_terms
from .precision import Amp, Precision, float_outputs, resolve_precision
from .rng_state import capture_rng, restore_rng, seed_everything
from .signals import StopRequest
from .trainer import Trainer


@dataclass
class Session:
    env: DistEnv
    device: torch.device
    precision: Precision
    amp: Amp
    stop: StopRequest = field(default_factory=StopRequest)
    notes: list[str] = field(default_factory=list)  # facts for the start line

    def describe(self, batch_size: int) -> str:
        """The start line's part: precision, and processes x batch when distributed."""
        text = f"precision {self.precision.describe()}"
        if self.env.enabled:
            text += (f", {self.env.world_size} processes x batch {batch_size} per process "
                     f"= global batch {self.env.world_size * batch_size}")
        return ", ".join([text, *self.notes])

    def prepare(self, trainer: Trainer) -> None:
        """Set the trainer up for this process: call once, right after building it."""
        c, env = trainer.config, self.env
        seed_everything(rank_seed(c.seed, env))  # dropout, gradient-penalty mixing: distinct per rank
        if env.rank:  # the pools' own generators too (rank 0 keeps the single-process seeds)
            for k, pool in enumerate((trainer.pool_x, trainer.pool_y), start=1):
                pool.rng.manual_seed(rank_seed(c.seed, env) * 1_000_003 + k)
        synced = False
        for name, net in trainer.nets.items():
            float_outputs(net)
            net, converted = sync_batchnorm(net, env, self.device)
            synced |= converted
            if c.channels_last:
                net.to(memory_format=torch.channels_last)
            if c.compile:
                net.compile()
            trainer.nets[name] = wrap(net, env, self.device)
        if env.enabled and c.norm == "batch" and not synced:
            self.notes.append("batch norm statistics per process (SyncBatchNorm needs CUDA)")
        trainer.autocast = self.amp.autocast
        trainer.optimize = self._optimize

    def _optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.amp.backward(loss)
        self.amp.step(optimizer)
        self.amp.update()

    def after_step(self, trainer: Trainer, losses: dict[str, float]) -> bool:
        """Raise NonFiniteLossError on a NaN/Inf loss (on every rank); True when a stop signal came."""
        bad = nonfinite_terms(losses)
        stop, any_bad = any_rank(self.stop.requested, bool(bad), device=self.device)
        if bad:
            check_finite(losses, trainer.step)
        if any_bad:
            raise NonFiniteLossError(f"a loss became NaN or Inf on another process at step {trainer.step}; stopping")
        return stop

    def checkpoint_extra(self, trainer: Trainer) -> dict[str, Any] | None:
        """What a checkpoint holds beyond trainer.state_dict(): the grad scaler and every rank's RNG states
        (and image pools, which differ per rank). Call on every rank; rank 0 gets the dict, others None."""
        mine: dict[str, Any] = {"rng": capture_rng()}
        if not self.env.is_main:  # rank 0's pools are in trainer.state_dict()
            mine["pools"] = {"X": trainer.pool_x.state_dict(), "Y": trainer.pool_y.state_dict()}
        ranks = gather_to_main(mine, self.env)
        if ranks is None:
            return None
        return {"precision": self.precision.name, "scaler": self.amp.state_dict(),
                "world_size": self.env.world_size, "ranks": ranks}

    def restore(self, trainer: Trainer, state: dict[str, Any]) -> None:
        """Continue from a checkpoint: nets, optimizers, schedulers, pools, position, scaler, RNG states.

        With another number of processes than the run had, ranks without saved state keep their
        fresh seeds and pools (the start line says so).
        """
        trainer.load_state_dict(state)
        if state.get("precision") == self.precision.name:
            self.amp.load_state_dict(state.get("scaler") or {})
        ranks = state.get("ranks")
        if not ranks:
            return
        if state.get("world_size", 1) != self.env.world_size:
            self.notes.append(f"resumed with {self.env.world_size} processes where the run had "
                              f"{state.get('world_size', 1)}: random streams start afresh")
            return
        mine = ranks[self.env.rank]
        restore_rng(mine["rng"])
        if "pools" in mine:
            trainer.pool_x.load_state_dict(mine["pools"]["X"])
            trainer.pool_y.load_state_dict(mine["pools"]["Y"])


def start_session(config: TrainConfig) -> Session:
    """This process's place (torchrun or alone), its device and precision; joins the process group."""
    env = dist_env()
    device = init_distributed(env, resolve_device(config.device), config.dist_timeout)
    precision = resolve_precision(config.precision, device)
    return Session(env, device, precision, Amp(precision))
