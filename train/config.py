"""The one frozen training config: every setting's type, default, allowed values and help, the
built-in run's defaults, validation, and JSON round trips.

Each field is one `setting(...)` line: its annotation is the type, and the help, range and
choices declared there drive both the validation below and the `cgan-train` flags (train/cli.py
makes one flag per field), so a new field with its help is all a new flag takes.

Precedence, lowest first: the defaults below, the recipe's (RECIPES; `--recipe official` restores the
official repo's defaults), BUILTIN_DEFAULTS when no `--data` is given, then a `--config FILE` (a run's
saved config.json), then options given on the command line. A preset (PRESETS) is a named set of
options that applies where it is named, below the options named beside it: `--preset quick` beats
the config file and loses to every other flag given.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
import typing
from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from cgan.infer.metadata import TEXT, is_text

from .data import DIRECTIONS
from .errors import TrainError
from .generators import PADDINGS
from .layers import INITS, NORMS
from .losses import GAN_LOSSES
from .networks import DISCRIMINATOR_CHOICES, GENERATOR_CHOICES, discriminator_name, generator_name
from .precision import PRECISIONS
from .preprocess import PREPROCESSORS
from .schedulers import LR_POLICIES

INT_LIMIT = 2**31 - 1  # the largest int any setting takes unless it says less: far from overflow anywhere
CONFIG_FILE_LIMIT = 1 << 20  # bytes; a config file holds a few hundred
NAME_PATTERN = r"[\w.-]{1,100}"  # one folder name, well within every file system's limit


class ConfigError(TrainError, ValueError):
    """A config file or value that cannot be used; the message names the key or file. For one value,
    `key`, `value` and `problem` hold its parts, for messages that name the value where it was found."""

    def __init__(self, message: str, key: str | None = None, value: Any = None, problem: str = ""):
        super().__init__(message)
        self.key, self.value, self.problem = key, value, problem


@dataclass(frozen=True)
class Range:
    """The numbers a setting allows: [low, high], either end open (excluded) or absent."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """What is wrong with `value` ("must be at least 1"), or None when it is in range."""
        low, high = (format(x, "g") if isinstance(x, float) else str(x) for x in (self.low, self.high))
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            if self.low == 0:
                return "must be positive" if self.low_open else "must not be negative"
            return f"must be more than {low}" if self.low_open else f"must be at least {low}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"must be less than {high}" if self.high_open else f"must be at most {high}"
        return None


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, choices: Sequence | None = None,
            canonical: Callable[[str], str] | None = None, flag: str | None = None,
            path: str | None = None) -> Any:
    """One config field. `help` is the flag's help text; `low`/`high` bound numbers; `choices` are the
    accepted values (a registry); `canonical` maps an accepted spelling to the registry name; `flag`
    overrides the derived `--name` / `--name/--no-name` spelling (a bool flag without '/' is a switch
    that sets True); `path` ("folder" or "existing folder") makes the flag check the path."""
    return field(default=default, metadata={
        "help": help, "range": Range(low, high, low_open, high_open), "choices": choices,
        "canonical": canonical, "flag": flag, "path": path})


# Default sets. `cgan` is the dataclass defaults below: the recipe chosen from measurements
# (docs/recipe.md). `official` restores the official pytorch-CycleGAN-and-pix2pix defaults exactly,
# for comparison and for reproducing papers; only the fields where ours differ are listed.
RECIPES: dict[str, dict[str, Any]] = {
    "cgan": {},
    "official": {"residual": False, "pointwise": False, "colour_judge": False, "colour_fit": 0, "colour_match": 0.0,
                 "colour_pool": 4096, "ema": 0.0, "lambda_identity": 0.5},
}


# Named sets of options for the size and length of a run (docs/training.md#presets has their figures).
# `standard` is the defaults: the official network, image size and schedule, for results as in the paper.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"generator": "resnet_6blocks", "ngf": 16, "ndf": 16, "load_size": 80, "crop_size": 64,
              "max_steps": 2000},  # minutes on a 2-core CPU; 64-pixel detail
    "standard": {},
    "official": {"recipe": "official"},  # the official repo's everything: standard sizes, official recipe
}


@dataclass(frozen=True)
class TrainConfig:
    # run
    data: str | None = setting(None, "Folder with trainA/ (domain X) and trainB/ (domain Y); omit for the "
                               "built-in known-answer dataset.", path="existing folder")
    name: str = setting("", "Run name: the folder under --runs-dir (default: the data folder's name, or 'builtin'; "
                        "a free _N suffix is added unless the name is given).")
    runs_dir: str = setting("runs", "Parent folder of run directories.", path="folder")
    seed: int = setting(0, "Random seed of weights, data order, flips and pools.", low=0, high=2**32 - 1)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps.")
    workers: int = setting(4, "Data loading worker processes, at most one per core (0: load in the training "
                           "process).", low=0, high=1024)
    threads: int = setting(0, "torch CPU threads of the training process; 0: the cores free at the start (cores "
                           "less the load average; OMP_NUM_THREADS if set).", low=0, high=4096)
    recipe: str = setting("cgan", "Default set: cgan (ours, measured in docs/recipe.md) or official (the official "
                          "repo's defaults exactly); options given here win.", choices=tuple(RECIPES))
    preset: str = setting("standard", "Size and length of the run: quick (a small net on 64-pixel crops, 2,000 "
                          "steps: minutes on a CPU), standard (the full-size nets and schedule) or official "
                          "(standard with --recipe official); options given here win.", choices=tuple(PRESETS))
    # model
    generator: str = setting("resnet_9blocks", "Generator architecture.", choices=GENERATOR_CHOICES,
                             canonical=generator_name)
    discriminator: str = setting("basic", "Discriminator architecture (basic = 70x70 PatchGAN).",
                                 choices=DISCRIMINATOR_CHOICES, canonical=discriminator_name)
    ngf: int = setting(64, "Generator filters in the first conv layer.", low=1, high=4096)
    ndf: int = setting(64, "Discriminator filters in the first conv layer.", low=1, high=4096)
    n_layers: int = setting(3, "Conv layers of the n_layers discriminator.", low=1, high=16)
    norm: str = setting("instance", "Normalization layers.", choices=NORMS)
    dropout: bool = setting(False, "Dropout in the generators.")
    init: str = setting("normal", "Weight initialization.", choices=INITS)
    init_gain: float = setting(0.02, "Scale of the weight initialization.", low=0, high=10)
    padding: str = setting("reflect", "Padding inside resnet blocks.", choices=PADDINGS)
    residual: bool = setting(True, "Generators output the input plus a learned change, starting as the "
                             "identity.")
    pointwise: bool = setting(True, "Residual generators add a per-pixel colour map of the input (1x1 convs) "
                              "to the change.")
    spatial_filter: int = setting(0, "Residual generators add to the change a filter of each channel of the input "
                                  "of this side, starting at zero, whose taps sum to zero (blur, sharpening, fine "
                                  "local contrast); it learns at --pointwise-lr; 0: none (7 learns blur and "
                                  "sharpening, but costs colour grades about 1 dB).",
                                  choices=(0, 3, 5, 7, 9, 11, 13, 15))
    colour_judge: bool = setting(True, "Discriminators add a per-pixel colour judge (1x1 convs, starting at zero) "
                                 "to their patch scores.")
    input_nc: int = setting(3, "Channels of domain X: 1 (grayscale) or 3 (RGB).", choices=(1, 3))
    output_nc: int = setting(3, "Channels of domain Y: 1 (grayscale) or 3 (RGB).", choices=(1, 3))
    # losses
    gan_loss: str = setting("lsgan", "GAN objective (wgangp applies the gradient penalty, weight 10).",
                            choices=tuple(GAN_LOSSES))
    lambda_x: float = setting(10.0, "Weight of the X cycle loss |F(G(x)) - x|.", low=0, high=1e4)
    lambda_y: float = setting(10.0, "Weight of the Y cycle loss |G(F(y)) - y|.", low=0, high=1e4)
    lambda_identity: float = setting(0.0, "Identity loss weight relative to the cycle weights; 0 turns it off.",
                                     low=0, high=1e4)
    colour_fit: int = setting(600, "Steps fitting each generator's per-pixel colour map to the whole training set's "
                              "colours (sliced Wasserstein) before the first step; 0: none.", low=0, high=100_000)
    colour_match: float = setting(3.0, "Weight of a loss that keeps matching, through G's per-pixel colour map, the "
                                  "colours of recent X pictures to those of recent Y pictures (and back through "
                                  "F's): a sliced Wasserstein distance between pooled pixels; 0: off.", low=0, high=1e4)
    colour_anchor: float = setting(0.0, "Weight of an L1 pull of each colour towards where it starts, in --colour-fit: "
                                   "a colour moves only where the two domains' colours ask for more than this (0.15 "
                                   "left a task with no look nearly untouched, but held hue rotations back); 0: none.",
                                   low=0, high=1e4)
    colour_pool: int = setting(25_600, "Pixels per domain pooled for --colour-match, 64 from each of the last "
                               "pictures (25,600: 400 pictures).", low=64, high=1 << 20)
    ema: float = setting(0.0, "Decay of a moving average of G's and F's weights, used for samples, reports "
                         "and export (e.g. 0.999 for long runs); 0: none.", low=0, high=1, high_open=True)
    pool_size: int = setting(50, "Generated images kept for the discriminators; 0 disables the pool.",
                             low=0, high=10_000)
    # data
    batch_size: int = setting(1, "Images per step (per domain).", low=1, high=65_536)
    load_size: int = setting(286, "Scale images to this size ...", low=1, high=16_384)
    crop_size: int = setting(256, "... then crop to this size (the training size).", low=1, high=16_384)
    preprocess: str = setting("resize_and_crop", "How images are resized and cropped.", choices=tuple(PREPROCESSORS))
    no_flip: bool = setting(False, "Do not flip images horizontally at random.", flag="--no-flip")
    serial_batches: bool = setting(False, "Take images in order instead of at random.", flag="--serial-batches")
    max_dataset_size: int | None = setting(None, "Use at most this many images per domain (built-in: pictures "
                                           "per domain).", low=1)
    direction: str = setting("AtoB", "AtoB: X = trainA; BtoA: X = trainB.", choices=DIRECTIONS)
    domain_x: str = setting("A", "Name of domain X, e.g. horse (metadata only; default: from a folder named "
                            "horse2zebra).")
    domain_y: str = setting("B", "Name of domain Y, e.g. zebra (metadata only).")
    # schedule
    epochs: int = setting(100, "Epochs at the initial learning rate.", low=1, high=1_000_000)
    epochs_decay: int = setting(100, "Epochs of linear decay to zero after --epochs.", low=0, high=1_000_000)
    lr: float = setting(2e-4, "Adam learning rate.", low=0, low_open=True, high=1)
    pointwise_lr: float = setting(30.0, "Learning rate of the per-pixel colour maps (and spatial filters), as a "
                                  "multiple of --lr.",
                                  low=0, low_open=True, high=1e4)
    colour_judge_lr: float = setting(10.0, "Learning rate of the colour judges, as a multiple of --lr-d.",
                                     low=0, low_open=True, high=1e4)
    lr_d: float | None = setting(None, "Adam learning rate of the discriminators (default: --lr).", low=0,
                                 low_open=True, high=1)
    beta1: float = setting(0.5, "Adam beta1 (beta2 is 0.999).", low=0, high=1, high_open=True)
    lr_policy: str = setting("linear", "Learning-rate policy.", choices=tuple(LR_POLICIES))
    lr_decay_epochs: int = setting(50, "Policy step: multiply the rate by 0.1 this often.", low=1, high=1_000_000)
    max_steps: int | None = setting(None, "Stop after this many steps (for short runs).", low=1)
    # outputs
    save_epoch_freq: int = setting(5, "Keep a checkpoint every this many epochs.", low=1)
    save_every: int = setting(1000, "Also save the latest checkpoint every this many steps (0: at epoch ends "
                              "only).", low=0)
    sample_every: int = setting(400, "Write a sample grid of the held-out pictures every this many steps.", low=1)
    eval_every: int | None = setting(None, "Measure the held-out pictures every this many steps (default: "
                                     "--sample-every; 0: never); see docs/evaluation.md.", low=0)
    eval_images: int = setting(16, "Held-out pictures per domain for samples and measures.", low=1, high=1024)
    # speed and scale
    precision: str = setting("auto", "Autocast precision of the forward passes: auto times the run's nets in each "
                             "precision the device computes natively (bf16, fp16 with a grad scaler) and keeps one "
                             "only when it is clearly faster than fp32; losses stay fp32.", choices=PRECISIONS)
    channels_last: bool = setting(False, "Keep the nets in channels-last memory format.")
    compile: bool = setting(False, "torch.compile the nets (slow first steps; see docs/training.md#precision).")
    dist_timeout: int = setting(600, "Under torchrun: seconds a process waits for the others before it stops "
                                "with an error.", low=1, high=30 * 86_400)

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay

    @property
    def colour_maps(self) -> bool:
        """The generators have per-pixel colour maps, which colour_fit and colour_match work through."""
        return self.residual and self.pointwise

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The run `cgan-train` makes with no --data: small nets on 32-pixel pictures for 1200 steps, a length
# chosen where the known-answer accuracy stops rising (docs/ has the run's time and accuracy).
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
    "threads": 1,  # tiny convs gain little from more, and threads that wait for busy cores slow every step
    "sample_every": 200,
}

FIELDS: dict[str, Field] = {f.name: f for f in fields(TrainConfig)}
FIELD_NAMES = tuple(FIELDS)
_HINTS = typing.get_type_hints(TrainConfig)


def value_type(key: str) -> tuple[type, bool]:
    """The type a field holds (bool, int, float or str) and whether it may be None."""
    hint = _HINTS[key]
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def flag(key: str) -> str:
    """The cgan-train flag of field `key`: its own `flag`, else `--name`, or `--name/--no-name` for a bool."""
    dashed = key.replace("_", "-")
    derived = f"--{dashed}/--no-{dashed}" if value_type(key)[0] is bool else f"--{dashed}"
    return FIELDS[key].metadata["flag"] or derived


def _check_keys(values: Mapping[str, Any], source: str) -> None:
    unknown = [k for k in values if k not in FIELD_NAMES]
    if unknown:
        raise ConfigError(f"{source}: unknown config key {unknown[0]!r} "
                          f"(known keys: {', '.join(FIELD_NAMES)})")


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a config JSON (such as a run's config.json) as a dict of known keys (values checked later)."""
    path = Path(path)
    try:
        if path.stat().st_size > CONFIG_FILE_LIMIT:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config file "
                              f"(at most {CONFIG_FILE_LIMIT}); give a run's config.json")
        values = json.loads(path.read_text(encoding="utf-8"))
    except ConfigError:
        raise
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a JSON config file ({e})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a config file (JSON nested too deep)") from None
    except ValueError:  # json raises it for an integer longer than Python converts
        raise ConfigError(f"{path}: not a config file (it holds a number of more than "
                          f"{sys.get_int_max_str_digits()} digits)") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config file holds one JSON object of option names and values")
    _check_keys(values, str(path))
    return values


def domain_names(data: str | None, direction: str) -> tuple[str, str]:
    """Domain names for metadata: `horse2zebra` gives ("horse", "zebra"), anything else ("A", "B")."""
    match = re.fullmatch(r"([A-Za-z]+)2([A-Za-z]+)", Path(data).resolve().name) if data else None
    a, b = match.groups() if match else ("A", "B")
    return (b, a) if direction == "BtoA" else (a, b)


# Settings added after recipes existed, with the value that a run saved before them was trained with.
ADDED_LATER: dict[str, Any] = {"pointwise_lr": 1.0, "colour_judge": False, "colour_match": 0.0, "colour_pool": 4096,
                               "colour_fit": 0, "spatial_filter": 0}


def saved_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """A run's saved config (config.json or a checkpoint's) as make_config should read it: one saved
    before recipes existed was trained with the official defaults, so it reads as `--recipe official`;
    a setting added later reads as the value such a run was trained with (ADDED_LATER)."""
    if not isinstance(values, Mapping):
        return values
    return {"recipe": "official", **ADDED_LATER, **values}


def make_config(file_values: Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None,
                builtin_domains: tuple[str, str] | None = None) -> TrainConfig:
    """Merge defaults, a config file's values and explicit overrides into one checked TrainConfig.

    `builtin_domains` are the built-in dataset's domain names, used when the run has no --data.
    """
    file_values, overrides = dict(file_values or {}), dict(overrides or {})
    _check_keys(file_values, "config")
    _check_keys(overrides, "options")
    file_values, overrides = with_preset(file_values), with_preset(overrides)
    if {"data", "direction"} & overrides.keys():  # names saved for other data do not carry over
        file_values = {k: v for k, v in file_values.items() if k not in ("domain_x", "domain_y")}
    merged = {**file_values, **overrides}
    name = merged.get("recipe", TrainConfig.recipe)
    recipe = RECIPES.get(name, {}) if isinstance(name, str) else {}  # an unknown name or type fails in validate
    base = {**recipe, **({} if merged.get("data") else BUILTIN_DEFAULTS)}
    config = validate(TrainConfig(**{**base, **merged}))
    if "domain_x" not in merged and "domain_y" not in merged:
        domains = domain_names(config.data, config.direction) if config.data else builtin_domains
        if domains:
            config = replace(config, domain_x=domains[0], domain_y=domains[1])
    return config


def with_preset(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` over the settings of the preset they name (an unknown name or type fails in validate)."""
    name = values.get("preset")
    preset = PRESETS.get(name, {}) if isinstance(name, str) else {}
    return {**preset, **values}


_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def shown(value: Any, limit: int = 80) -> str:
    """`repr(value)` for a message, cut short past `limit` characters (also a value holding an
    integer of more digits than Python prints)."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits(), or a list holding one
        return "<a number too long to show>"
    return text if len(text) <= limit else text[:limit - 8] + "...(long)"


def _problem(key: str, value: Any, what: str) -> ConfigError:
    """The one-line error for a value: `key=value: what`, with a long value cut short."""
    return ConfigError(f"{key}={shown(value)}: {what}", key, value, what)


def checked_value(key: str, value: Any) -> Any:
    """`value` as field `key` holds it (ints widen to float; aliases become registry names), after
    checking its type, range and choices; raises ConfigError naming the key."""
    given = value

    def fail(what: str) -> typing.NoReturn:
        raise _problem(key, given, what)

    kind, optional = value_type(key)
    meta = FIELDS[key].metadata
    if value is None:
        if not optional:
            fail(f"must be {_KIND_NAMES[kind]}, not null")
        return None
    if kind is bool:
        if not isinstance(value, bool):
            fail("must be true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("must be a number")
        if isinstance(value, int) and abs(value) > 1e300:  # int -> float would overflow
            fail("is too large")
        value = float(value)
        if not math.isfinite(value):
            fail("must be a finite number")
    elif kind is str:
        if not isinstance(value, str):
            fail("must be a string")
        if "\0" in value:
            fail("must not hold a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            fail("must be valid Unicode text (it holds a lone surrogate)")
    if meta["choices"] is not None and value not in meta["choices"]:
        fail(f"choose one of {', '.join(map(str, meta['choices']))}")
    if kind in (int, float):
        limit = meta["range"]
        problem = limit.problem(value) or (Range(high=INT_LIMIT).problem(value) if kind is int else None)
        if problem:
            fail(problem)
    return meta["canonical"](value) if meta["canonical"] else value


def validate(config: TrainConfig) -> TrainConfig:
    """Check every field against its type, range and choices, then the rules that tie fields together;
    returns the config with floats as floats and canonical registry names."""
    config = replace(config, **{key: checked_value(key, getattr(config, key)) for key in FIELD_NAMES})
    if config.lambda_identity and config.input_nc != config.output_nc:
        raise _problem("lambda_identity", config.lambda_identity,
                       "the identity loss needs input_nc == output_nc; set it to 0")
    for key in ("domain_x", "domain_y"):  # they go into exported models' metadata, which inference checks
        if not is_text(getattr(config, key)):
            raise _problem(key, getattr(config, key), f"must be {TEXT}")
    if config.name and (re.fullmatch(NAME_PATTERN, config.name) is None or config.name in (".", "..")):
        raise _problem("name", config.name, "use at most 100 letters, digits, '_', '-' and '.'")
    for key in (key for key in FIELD_NAMES if FIELDS[key].metadata["path"]):
        problem = folder_problem(getattr(config, key))
        if problem:
            raise _problem(key, getattr(config, key), problem)
    return config


def folder_problem(path: str | None) -> str | None:
    """Why `path` cannot be (or become) a folder: empty, or it or a parent is a file; None when it can."""
    if path is None:
        return None
    if path == "":
        return "give a folder"
    for place in (Path(path), *Path(path).parents):
        if os.path.exists(place):
            return None if os.path.isdir(place) else f"{place} is a file, not a folder"
    return None
