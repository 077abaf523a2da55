"""The CycleGAN training state and its step.

`Trainer` holds everything a run needs to continue: the four nets, their optimizers and
schedulers, both image pools (and pixel pools with colour_match), the weight averages, and where it
stands (step, epoch, batch within the epoch). `state_dict()` gives all of it and `load_state_dict()`
puts it back; `rank_state()` / `load_rank_state()` do the same for what differs per process (RNG
states, and the pools of ranks other than 0). train/checkpoint.py writes these into one file.

How this process runs the nets is given when the Trainer is built: `amp` (precision: autocast
around every forward, backward + update with the fp16 grad scaler) and `prepare_net` (memory
format, compile, the DDP wrapper). `nets` may thus hold wrappers; `unwrap` gives the bare module.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from .config import TrainConfig
from .ema import WeightAverage
from .losses import CycleImages, colour_match_terms, discriminator_loss, generator_loss
from .networks import create_discriminator, create_generator
from .pool import ImagePool, PixelPool
from .precision import Amp, Precision
from .rng_state import capture_rng, restore_rng
from .schedulers import create_scheduler, step_scheduler


NETS = ("G", "F", "D_X", "D_Y")  # G: X->Y, F: Y->X, D_X judges X, D_Y judges Y
COLOUR_PIXELS_PER_PICTURE = 64  # pixels a colour pool takes from each picture
COLOUR_MATCH_PIXELS = 4096  # pooled pixels per domain that colour_match compares at each step
POSITION = ("step", "epoch", "batch_in_epoch")  # where a run stands: counts; epoch_loss_sum is a float
# The Trainer's dicts of objects with state_dict()/load_state_dict(), in its state under the same names.
SECTIONS = ("optimizers", "schedulers", "pools", "colour_pools")
POOLS = ("pools", "colour_pools")  # the sections each process keeps its own of


def unwrap(net: nn.Module) -> nn.Module:
    """The bare module inside a DistributedDataParallel (or similar) wrapper."""
    return getattr(net, "module", net)


def build_nets(config: TrainConfig, names: Iterable[str] = NETS) -> dict[str, nn.Module]:
    """The nets `names` of a run with `config` (default: all four), built in NETS order."""
    gen = dict(ngf=config.ngf, norm=config.norm, dropout=config.dropout, init=config.init,
               init_gain=config.init_gain, padding=config.padding,
               residual=config.residual, pointwise=config.pointwise, spatial_filter=config.spatial_filter)
    disc = dict(ndf=config.ndf, n_layers=config.n_layers, norm=config.norm, init=config.init,
                init_gain=config.init_gain, colour_judge=config.colour_judge)
    builders = {
        "G": lambda: create_generator(config.generator, config.input_nc, config.output_nc, **gen),
        "F": lambda: create_generator(config.generator, config.output_nc, config.input_nc, **gen),
        "D_X": lambda: create_discriminator(config.discriminator, config.input_nc, **disc),
        "D_Y": lambda: create_discriminator(config.discriminator, config.output_nc, **disc),
    }
    return {name: builders[name]() for name in NETS if name in names}


def learning_rates(config: TrainConfig) -> dict[str, list[float]]:
    """Initial rate of each parameter group: "G" spatial nets then colour maps, "D" spatial judges then
    colour judges."""
    lr_d = config.lr_d or config.lr
    return {"G": [config.lr, config.lr * config.pointwise_lr], "D": [lr_d, lr_d * config.colour_judge_lr]}


def build_optimizers(nets: dict[str, nn.Module], config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """"G" updates both generators, "D" both discriminators.

    The generators' per-pixel colour maps (`pointwise`) and spatial filters get a group of their own
    at pointwise_lr x lr (one group for all when that is 1, as in runs saved before the setting
    existed), and the discriminators' colour judges (`colour_judge`) one at colour_judge_lr x lr_d:
    Adam moves a weight by about lr per step whatever its gradient, and these start at zero and need
    weights of order one, so they need a higher rate than the spatial nets (docs/recipe.md has the
    figures).
    """
    betas, rates = (config.beta1, 0.999), learning_rates(config)

    def groups(names: tuple[str, str], fast: tuple[str, ...], rate: list[float]) -> list[dict]:
        named = [(key, param) for name in names for key, param in nets[name].named_parameters()]
        if rate[1] == rate[0] or not any(key.startswith(fast) for key, _ in named):
            return [{"params": [param for _, param in named]}]  # the order of runs saved with one group
        return [{"params": [param for key, param in named if not key.startswith(fast)]},
                {"params": [param for key, param in named if key.startswith(fast)], "lr": rate[1]}]

    return {
        "G": torch.optim.Adam(groups(("G", "F"), ("pointwise.", "spatial_filter."), rates["G"]), lr=rates["G"][0],
                              betas=betas),
        "D": torch.optim.Adam(groups(("D_X", "D_Y"), ("colour_judge.",), rates["D"]), lr=rates["D"][0], betas=betas),
    }


def pool_seed(seed: int, rank: int, k: int) -> int:
    """Seed of pool k (1, 2: the image pools of X, Y; 3, 4: their pixel pools) on `rank`; rank 0 keeps
    the single-process seeds."""
    return seed + k if rank == 0 else (seed + rank) * 1_000_003 + k


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class Trainer:
    """A CycleGAN in training. Builds its nets from `config.seed`, so equal configs start equal.

    amp: the precision (default fp32). prepare_net: turns each built net into the one that trains
    (default: the net itself). rank: this process under torchrun (gives the pools their own draws).
    """

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu", amp: Amp | None = None,
                 prepare_net: Callable[[nn.Module], nn.Module] | None = None, rank: int = 0):
        self.config = config
        self.device = torch.device(device)
        self.amp = amp or Amp(Precision("fp32", self.device.type, "default"))
        torch.manual_seed(config.seed)
        nets = {name: net.to(self.device) for name, net in build_nets(config).items()}
        self.optimizers = build_optimizers(nets, config)
        self.schedulers = {name: create_scheduler(opt, config) for name, opt in self.optimizers.items()}
        self.pools = {  # "X": past F(y) shown to D_X, "Y": past G(x) shown to D_Y
            domain: ImagePool(config.pool_size, seed=pool_seed(config.seed, rank, k))
            for k, domain in enumerate(("X", "Y"), start=1)}
        self.colour_pools = {  # real pixels of recent pictures of each domain, for colour_match (none when 0)
            domain: PixelPool(config.colour_pool, COLOUR_PIXELS_PER_PICTURE, seed=pool_seed(config.seed, rank, k))
            for k, domain in enumerate(("X", "Y"), start=3)} if config.colour_match and config.colour_maps else {}
        # Moving averages of G's and F's weights: what samples, reports and exports show (none when ema is 0).
        self.averages = {name: WeightAverage(nets[name], config.ema) for name in ("G", "F") if config.ema}
        self.nets = {name: prepare_net(net) for name, net in nets.items()} if prepare_net else nets
        self.step = 0  # optimizer steps taken in all
        self.epoch = 0  # epochs completed
        self.batch_in_epoch = 0  # batches taken in the current epoch
        self.epoch_loss_sum = 0.0  # sum of total generator losses this epoch (for lr policy plateau)
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
        """Backward and update, through the precision's grad scaler (a plain call unless fp16)."""
        optimizer.zero_grad(set_to_none=True)
        self.amp.backward(loss)
        self.amp.step(optimizer)
        self.amp.update()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """Update G and F with the discriminators frozen, then D_X and D_Y. Returns every loss term."""
        c = self.config
        x = batch["x"].to(self.device, non_blocking=True)
        y = batch["y"].to(self.device, non_blocking=True)
        D_X, D_Y = self.nets["D_X"], self.nets["D_Y"]

        set_requires_grad((D_X, D_Y), False)
        matching = {}
        if self.colour_pools:  # in float32: sorting in half precision would blur the distributions
            for pool, pictures in ((self.colour_pools["X"], x), (self.colour_pools["Y"], y)):
                pool.add(pictures)
            pixels_x, pixels_y = (self.colour_pools[d].sample(COLOUR_MATCH_PIXELS) for d in ("X", "Y"))
            matching = colour_match_terms(unwrap(self.nets["G"]), unwrap(self.nets["F"]), pixels_x, pixels_y,
                                          c.colour_match)
        with self.amp.autocast():
            images = self.cycle(x, y)
            g = generator_loss(images, D_Y(images.fake_y), D_X(images.fake_x), c.gan_loss,
                               c.lambda_x, c.lambda_y, c.lambda_identity, matching)
        self.optimize(g["total"], self.optimizers["G"])
        for name, average in self.averages.items():
            average.update(unwrap(self.nets[name]))

        set_requires_grad((D_X, D_Y), True)
        fake_y, fake_x = self.pools["Y"].query(images.fake_y), self.pools["X"].query(images.fake_x)
        with self.amp.autocast():
            d_y = discriminator_loss(D_Y, y, fake_y, c.gan_loss)
            d_x = discriminator_loss(D_X, x, fake_x, c.gan_loss)
        self.optimize(d_x["total"] + d_y["total"], self.optimizers["D"])

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
        """Advance the schedulers one epoch."""
        mean_loss = self.epoch_loss_sum / max(1, self.batch_in_epoch)
        for scheduler in self.schedulers.values():
            step_scheduler(scheduler, mean_loss)
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_loss_sum = 0.0

    def apply_rates(self) -> None:
        """Give the optimizers the config's rates and beta1, keeping how far the schedule has brought
        each rate: after restoring saved optimizer states, a run resumed with --lr, --lr-d or --beta1
        changed trains with the new values."""
        rates = learning_rates(self.config)
        for name, optimizer in self.optimizers.items():
            scheduler = self.schedulers[name]
            for i, group in enumerate(optimizer.param_groups):
                old, new = group.get("initial_lr", group["lr"]), rates[name][i]
                group["lr"] *= new / old
                group["initial_lr"] = new
                group["betas"] = (self.config.beta1, group["betas"][1])
                if hasattr(scheduler, "base_lrs"):
                    scheduler.base_lrs[i] = new

    def generator(self, which: str) -> nn.Module:
        """The generator to show and export ("G" or "F"): its weight average when there is one."""
        return self.averages[which].net if which in self.averages else unwrap(self.nets[which])

    @property
    def lr(self) -> float:
        return self.optimizers["G"].param_groups[0]["lr"]

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What the run continues from, but for this process's own part (rank_state): nets (bare modules),
        SECTIONS, weight averages, position, precision and the fp16 grad scaler's state."""
        return {
            "nets": {name: unwrap(net).state_dict() for name, net in self.nets.items()},
            **{section: _states(getattr(self, section)) for section in SECTIONS},
            "averages": _states(self.averages),
            **{key: getattr(self, key) for key in POSITION},
            "epoch_loss_sum": self.epoch_loss_sum,
            "precision": self.amp.precision.name, "scaler": self.amp.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a `state_dict()` (checked beforehand: train/checkpoint.py), also one from an older run:
        sections this run keeps but the saved one did not (colour pools, weight averages) start afresh."""
        for name, net in self.nets.items():
            unwrap(net).load_state_dict(state["nets"][name])
        for section in SECTIONS:
            _load_states(getattr(self, section), state.get(section, {}))
        self.apply_rates()
        saved_averages = state.get("averages") or {}
        for name, average in self.averages.items():
            if name in saved_averages:
                average.load_state_dict(saved_averages[name])
            else:  # the run kept no average so far: start one from the current weights
                average.net.load_state_dict(unwrap(self.nets[name]).state_dict())
        self.step, self.epoch, self.batch_in_epoch = (int(state[key]) for key in POSITION)
        self.epoch_loss_sum = float(state["epoch_loss_sum"])
        if state.get("precision") == self.amp.precision.name:
            self.amp.load_state_dict(state.get("scaler") or {})

    def rank_state(self, is_main: bool) -> dict[str, Any]:
        """This process's own part: its RNG states, and on ranks other than 0 its pools (rank 0's are in
        state_dict)."""
        state: dict[str, Any] = {"rng": capture_rng()}
        if not is_main:
            state.update({section: _states(getattr(self, section)) for section in POOLS})
        return state

    def load_rank_state(self, state: dict[str, Any]) -> None:
        """Put back a `rank_state()` of the same rank."""
        restore_rng(state["rng"])
        for section in POOLS:
            _load_states(getattr(self, section), state.get(section, {}))


def _states(objects: dict[str, Any]) -> dict[str, Any]:
    return {name: obj.state_dict() for name, obj in objects.items()}


def _load_states(objects: dict[str, Any], saved: dict[str, Any]) -> None:
    """Each object's saved state, where there is one."""
    for name, obj in objects.items():
        if name in saved:
            obj.load_state_dict(saved[name])
