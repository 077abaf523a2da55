"""Learning-rate policies (name -> builder). Every scheduler steps once per epoch.

`linear` follows the official CycleGAN: the rate at 0-based epoch e is
    lr * (1 - max(0, e + 1 - epochs) / (epochs_decay + 1)),
so it is constant for `epochs` epochs, then falls linearly and reaches zero one epoch after the
last. `plateau` steps with a metric (the epoch's mean total generator loss).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch.optim import lr_scheduler

if TYPE_CHECKING:  # the config lists LR_POLICIES as its choices, so this module must not import it
    from .config import TrainConfig

Builder = Callable[[torch.optim.Optimizer, "TrainConfig"], lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau]


def _linear(optimizer: torch.optim.Optimizer, config: TrainConfig) -> lr_scheduler.LambdaLR:
    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - config.epochs) / float(config.epochs_decay + 1)

    return lr_scheduler.LambdaLR(optimizer, factor)


LR_POLICIES: dict[str, Builder] = {
    "linear": _linear,
    "step": lambda opt, config: lr_scheduler.StepLR(opt, step_size=config.lr_decay_epochs, gamma=0.1),
    "plateau": lambda opt, config: lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.2, threshold=0.01, patience=5),
    "cosine": lambda opt, config: lr_scheduler.CosineAnnealingLR(opt, T_max=config.total_epochs, eta_min=0.0),
}


def create_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The scheduler for `config.lr_policy` (raises with the valid names)."""
    if config.lr_policy not in LR_POLICIES:
        raise ValueError(f"unknown lr policy {config.lr_policy!r}; choose one of: {', '.join(LR_POLICIES)}")
    return LR_POLICIES[config.lr_policy](optimizer, config)


def step_scheduler(scheduler, epoch_loss: float) -> None:
    """Advance one epoch; `plateau` watches the epoch's mean generator loss."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_loss)
    else:
        scheduler.step()
