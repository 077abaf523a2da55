"""The one frozen training config: defaults, the built-in run's defaults, and JSON round trips.

Precedence, lowest first: the defaults below (or BUILTIN_DEFAULTS when no `--data` is given),
then a `--config FILE` (a run's saved config.json), then options given on the command line.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A config file or value that cannot be used; the message names the key or file."""


@dataclass(frozen=True)
class TrainConfig:
    # run
    name: str = ""  # run directory name under runs_dir; empty: derived from the data
    runs_dir: str = "runs"  # parent folder of run directories
    data: str | None = None  # folder with trainA/ and trainB/; None: the built-in known-answer dataset
    seed: int = 0  # seeds weights, data order, flips and the image pools
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    workers: int = 4  # DataLoader worker processes (0: load in the training process)
    threads: int = 0  # torch CPU threads of the training process; 0: torch's default (one per core)
    # model
    generator: str = "resnet_9blocks"  # GENERATORS registry name
    discriminator: str = "basic"  # DISCRIMINATORS registry name (basic = 70x70 PatchGAN)
    ngf: int = 64  # generator filters in the first conv
    ndf: int = 64  # discriminator filters in the first conv
    n_layers: int = 3  # conv layers of the n_layers discriminator
    norm: str = "instance"  # instance | batch | none
    dropout: bool = False  # dropout in the generators
    init: str = "normal"  # weight init: normal | xavier | kaiming | orthogonal
    init_gain: float = 0.02  # scale of the init
    padding: str = "reflect"  # padding in resnet blocks: reflect | replicate | zero
    input_nc: int = 3  # channels of domain X (1 or 3)
    output_nc: int = 3  # channels of domain Y (1 or 3)
    # losses
    gan_loss: str = "lsgan"  # GAN_LOSSES registry name
    lambda_x: float = 10.0  # weight of the cycle loss ||F(G(x)) - x||_1
    lambda_y: float = 10.0  # weight of the cycle loss ||G(F(y)) - y||_1
    lambda_identity: float = 0.5  # identity weight, relative to lambda_x / lambda_y; 0 skips it
    pool_size: int = 50  # image history pool per discriminator; 0 disables it
    # data
    batch_size: int = 1  # images per step (per domain)
    load_size: int = 286  # images are scaled to this side ...
    crop_size: int = 256  # ... then cropped to this side
    preprocess: str = "resize_and_crop"  # resize_and_crop | crop | scale_width | scale_width_and_crop | none
    no_flip: bool = False  # no random horizontal flips
    serial_batches: bool = False  # take Y images in order instead of at random
    max_dataset_size: int | None = None  # use at most this many images per domain
    direction: str = "AtoB"  # AtoB: X = trainA, Y = trainB; BtoA swaps them
    domain_x: str = "A"  # name of domain X, e.g. "horse" (metadata only)
    domain_y: str = "B"  # name of domain Y, e.g. "zebra" (metadata only)
    # schedule
    epochs: int = 100  # epochs at the initial learning rate
    epochs_decay: int = 100  # epochs of linear decay to zero after that (policy linear)
    lr: float = 2e-4  # Adam learning rate of both optimizers
    beta1: float = 0.5  # Adam beta1 (beta2 is 0.999)
    lr_policy: str = "linear"  # LR_POLICIES registry name
    lr_decay_epochs: int = 50  # policy step: multiply by 0.1 every this many epochs
    max_steps: int | None = None  # stop after this many steps in all
    # outputs
    save_epoch_freq: int = 5  # keep checkpoints/epoch_NNN.pt every this many epochs
    save_every: int = 1000  # also rewrite checkpoints/latest.pt every this many steps (0: at epoch ends only)
    sample_every: int = 400  # write a sample grid of the held-out pictures every this many steps
    eval_every: int | None = None  # measure the held-out pictures every this many steps; None: sample_every; 0: never
    eval_images: int = 16  # held-out pictures per domain for samples and measures
    # speed and scale
    precision: str = "auto"  # auto | fp32 | bf16 | fp16: autocast dtype of the forwards (fp16 adds a grad scaler)
    channels_last: bool = False  # keep the nets in channels-last memory format
    compile: bool = False  # torch.compile the nets
    dist_timeout: int = 600  # seconds a process waits for the others (under torchrun) before it stops

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The run `cgan-train` makes with no --data: 1200 steps, about 4 CPU-minutes (measured in the README);
# accuracy peaks near 1000-1200 steps, a longer run measured no better.
BUILTIN_DEFAULTS: dict[str, Any] = {
    "generator": "resnet_6blocks",
    "ngf": 16,
    "ndf": 16,
    "load_size": 32,
    "crop_size": 32,
    "max_dataset_size": 200,  # pictures per domain
    "epochs": 3,
    "epochs_decay": 3,
    "workers": 0,  # pictures are drawn in a few ms; worker processes would only compete for the cores
    "threads": 1,  # tiny convs gain little from more, and on a busy machine spinning threads cost 10x or more
    "sample_every": 200,
}

FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


def _check_keys(values: Mapping[str, Any], source: str) -> None:
    unknown = [k for k in values if k not in FIELD_NAMES]
    if unknown:
        raise ConfigError(f"{source}: unknown config key {unknown[0]!r} "
                          f"(known keys: {', '.join(FIELD_NAMES)})")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a config JSON (such as a run's config.json) as a dict of known keys."""
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a JSON config file ({e})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config file holds one JSON object of option names and values")
    _check_keys(values, str(path))
    return values


def domain_names(data: str | None, direction: str) -> tuple[str, str]:
    """Domain names for metadata: `horse2zebra` gives ("horse", "zebra"), anything else ("A", "B")."""
    match = re.fullmatch(r"([A-Za-z]+)2([A-Za-z]+)", Path(data).resolve().name) if data else None
    a, b = match.groups() if match else ("A", "B")
    return (b, a) if direction == "BtoA" else (a, b)


def make_config(file_values: Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None,
                builtin_domains: tuple[str, str] | None = None) -> TrainConfig:
    """Merge defaults, a config file's values and explicit overrides into one TrainConfig.

    `builtin_domains` are the built-in dataset's domain names, used when the run has no --data.
    """
    file_values, overrides = dict(file_values or {}), dict(overrides or {})
    _check_keys(overrides, "options")
    if {"data", "direction"} & overrides.keys():  # names saved for other data do not carry over
        file_values = {k: v for k, v in file_values.items() if k not in ("domain_x", "domain_y")}
    merged = {**file_values, **overrides}
    base: dict[str, Any] = {} if merged.get("data") else dict(BUILTIN_DEFAULTS)
    if "domain_x" not in merged and "domain_y" not in merged:
        data, direction = merged.get("data"), merged.get("direction", "AtoB")
        if data:
            base["domain_x"], base["domain_y"] = domain_names(data, direction)
        elif builtin_domains:
            base["domain_x"], base["domain_y"] = builtin_domains
    try:
        return validate(TrainConfig(**{**base, **merged}))
    except TypeError as e:
        raise ConfigError(f"bad config: {e}") from None


def validate(config: TrainConfig) -> TrainConfig:
    """Check values that no type can express; returns the config with canonical registry names."""
    from .losses import GAN_LOSSES
    from .networks import discriminator_name, generator_name
    from .precision import PRECISIONS
    from .schedulers import LR_POLICIES

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"{key}={getattr(config, key)!r}: {what}")

    try:
        config = replace(config, generator=generator_name(config.generator),
                         discriminator=discriminator_name(config.discriminator))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    need(config.gan_loss in GAN_LOSSES, "gan_loss", f"choose one of {', '.join(GAN_LOSSES)}")
    need(config.lr_policy in LR_POLICIES, "lr_policy", f"choose one of {', '.join(LR_POLICIES)}")
    need(config.precision in PRECISIONS, "precision", f"choose one of {', '.join(PRECISIONS)}")
    need(config.direction in ("AtoB", "BtoA"), "direction", "choose AtoB or BtoA")
    for key in ("ngf", "ndf", "n_layers", "batch_size", "load_size", "crop_size", "epochs", "save_epoch_freq",
                "sample_every", "lr_decay_epochs", "dist_timeout", "eval_images"):
        need(getattr(config, key) >= 1, key, "must be at least 1")
    for key in ("epochs_decay", "workers", "threads", "pool_size", "lambda_x", "lambda_y", "lambda_identity",
                "save_every"):
        need(getattr(config, key) >= 0, key, "must not be negative")
    need(config.eval_every is None or config.eval_every >= 0, "eval_every", "must not be negative")
    for key in ("max_steps", "max_dataset_size"):
        need(getattr(config, key) is None or getattr(config, key) >= 1, key, "must be at least 1")
    for key in ("input_nc", "output_nc"):
        need(getattr(config, key) in (1, 3), key, "must be 1 (grayscale) or 3 (RGB)")
    need(config.lr > 0, "lr", "must be positive")
    need(0 <= config.beta1 < 1, "beta1", "must be in [0, 1)")
    need(config.lambda_identity == 0 or config.input_nc == config.output_nc, "lambda_identity",
         "the identity loss needs input_nc == output_nc; set it to 0")
    need(config.name == "" or re.fullmatch(r"[\w.-]+", config.name) is not None and config.name not in (".", ".."),
         "name", "use letters, digits, '_', '-' and '.' only")
    return config
