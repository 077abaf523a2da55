"""The CycleGAN training state and its step.

`Trainer` holds everything a run needs to continue: the four nets, both optimizers, both
schedulers, both image pools, and where it stands (step, epoch, batch within the epoch); its
`state_dict()` / `load_state_dict()` cover all of it. Seams for precision and distributed
training: `autocast` wraps every forward pass of a step, `optimize` does backward + update, and
`nets` entries may be replaced by wrappers (DDP); state dicts always come from the bare modules.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any, Callable, ContextManager, Iterable

import torch
import torch.nn as nn

from .config import TrainConfig
from .losses import CycleImages, discriminator_loss, generator_loss
from .networks import create_discriminator, create_generator
from .pool import ImagePool
from .schedulers import create_scheduler, step_scheduler

NET_NAMES = ("G", "F", "D_X", "D_Y")


def unwrap(net: nn.Module) -> nn.Module:
    """The bare module inside a DistributedDataParallel (or similar) wrapper."""
    return getattr(net, "module", net)


def build_nets(config: TrainConfig) -> dict[str, nn.Module]:
    """G: X->Y, F: Y->X, D_X judges X, D_Y judges Y."""
    gen = dict(ngf=config.ngf, norm=config.norm, dropout=config.dropout, init=config.init,
               init_gain=config.init_gain, padding=config.padding)
    disc = dict(ndf=config.ndf, n_layers=config.n_layers, norm=config.norm, init=config.init,
                init_gain=config.init_gain)
    return {
        "G": create_generator(config.generator, config.input_nc, config.output_nc, **gen),
        "F": create_generator(config.generator, config.output_nc, config.input_nc, **gen),
        "D_X": create_discriminator(config.discriminator, config.input_nc, **disc),
        "D_Y": create_discriminator(config.discriminator, config.output_nc, **disc),
    }


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class Trainer:
    """A CycleGAN in training. Builds its nets from `config.seed`, so equal configs start equal."""

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu"):
        self.config = config
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.nets = {name: net.to(self.device) for name, net in build_nets(config).items()}
        betas = (config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(itertools.chain(self.nets["G"].parameters(), self.nets["F"].parameters()),
                                      lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(itertools.chain(self.nets["D_X"].parameters(),
                                                      self.nets["D_Y"].parameters()), lr=config.lr, betas=betas)
        self.sched_g = create_scheduler(self.opt_g, config)
        self.sched_d = create_scheduler(self.opt_d, config)
        self.pool_x = ImagePool(config.pool_size, seed=config.seed + 1)  # past F(y) shown to D_X
        self.pool_y = ImagePool(config.pool_size, seed=config.seed + 2)  # past G(x) shown to D_Y
        self.step = 0  # optimizer steps taken in all
        self.epoch = 0  # epochs completed
        self.batch_in_epoch = 0  # batches taken in the current epoch
        self.epoch_loss_sum = 0.0  # sum of total generator losses this epoch (for lr policy plateau)
        self.autocast: Callable[[], ContextManager] = contextlib.nullcontext
        self.last_images: CycleImages | None = None

    # --- one step ---------------------------------------------------------------------------
    def cycle(self, x: torch.Tensor, y: torch.Tensor) -> CycleImages:
        """All generator outputs of a step; identity images only when the identity loss is on."""
        G, F = self.nets["G"], self.nets["F"]
        fake_y, fake_x = G(x), F(y)
        identity = self.config.lambda_identity > 0
        return CycleImages(real_x=x, real_y=y, fake_y=fake_y, rec_x=F(fake_y), fake_x=fake_x, rec_y=G(fake_x),
                           idt_y=G(y) if identity else None, idt_x=F(x) if identity else None)

    def optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and update (the place for a gradient scaler)."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """Update G and F with the discriminators frozen, then D_X and D_Y. Returns every loss term."""
        c = self.config
        x = batch["x"].to(self.device, non_blocking=True)
        y = batch["y"].to(self.device, non_blocking=True)
        D_X, D_Y = self.nets["D_X"], self.nets["D_Y"]

        set_requires_grad((D_X, D_Y), False)
        with self.autocast():
            images = self.cycle(x, y)
            g = generator_loss(images, D_Y(images.fake_y), D_X(images.fake_x), c.gan_loss,
                               c.lambda_x, c.lambda_y, c.lambda_identity)
        self.optimize(g["total"], self.opt_g)

        set_requires_grad((D_X, D_Y), True)
        fake_y, fake_x = self.pool_y.query(images.fake_y), self.pool_x.query(images.fake_x)
        with self.autocast():
            d_y = discriminator_loss(D_Y, y, fake_y, c.gan_loss)
            d_x = discriminator_loss(D_X, x, fake_x, c.gan_loss)
        self.optimize(d_x["total"] + d_y["total"], self.opt_d)

        self.step += 1
        self.batch_in_epoch += 1
        self.last_images = CycleImages(*(t.detach() if t is not None else None for t in images))
        losses = {("G_total" if k == "total" else k): v for k, v in g.items()}
        for name, terms in (("D_X", d_x), ("D_Y", d_y)):
            losses.update({(name if k == "total" else f"{name}_{k}"): v for k, v in terms.items()})
        values = {k: float(v.detach()) for k, v in losses.items()}
        self.epoch_loss_sum += values["G_total"]
        return values

    def end_epoch(self) -> None:
        """Advance both schedulers one epoch."""
        mean_loss = self.epoch_loss_sum / max(1, self.batch_in_epoch)
        step_scheduler(self.sched_g, mean_loss)
        step_scheduler(self.sched_d, mean_loss)
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_loss_sum = 0.0

    @property
    def lr(self) -> float:
        return self.opt_g.param_groups[0]["lr"]

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything to continue this run: tensors and plain values only (loads with weights_only)."""
        return {
            "nets": {name: unwrap(net).state_dict() for name, net in self.nets.items()},
            "optimizers": {"G": self.opt_g.state_dict(), "D": self.opt_d.state_dict()},
            "schedulers": {"G": self.sched_g.state_dict(), "D": self.sched_d.state_dict()},
            "pools": {"X": self.pool_x.state_dict(), "Y": self.pool_y.state_dict()},
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_loss_sum": self.epoch_loss_sum,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, net in self.nets.items():
            unwrap(net).load_state_dict(state["nets"][name])
        self.opt_g.load_state_dict(state["optimizers"]["G"])
        self.opt_d.load_state_dict(state["optimizers"]["D"])
        self.sched_g.load_state_dict(state["schedulers"]["G"])
        self.sched_d.load_state_dict(state["schedulers"]["D"])
        self.pool_x.load_state_dict(state["pools"]["X"])
        self.pool_y.load_state_dict(state["pools"]["Y"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.epoch_loss_sum = float(state["epoch_loss_sum"])
