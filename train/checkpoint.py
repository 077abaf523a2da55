"""The cgan checkpoint: its format, how it is written, checked, read back and restored. Only here.

Where a run's state lives: in the Trainer (train/trainer.py), which gives it as `state_dict()` and,
for what each process keeps of its own, `rank_state()`. This module wraps both in one versioned dict,
writes it and checks it on the way back; RunDir (train/run_dir.py) names the file. A batch becomes a
checkpoint through loop.save -> Session.checkpoint (every rank's rank_state, gathered to rank 0) ->
checkpoint_state -> RunWriter.write_checkpoint -> save_checkpoint.

A checkpoint is one dict saved with `torch.save`. It holds tensors and plain Python values only,
so it loads with `torch.load(weights_only=True)`:

    format          "cgan-checkpoint"
    version         the format version, FORMAT_VERSION (an int); a newer one is refused
    cgan_version    the cgan release that wrote it (information only)
    config          the run's TrainConfig as a plain dict, read back through make_config (run_config);
                    it must hold REQUIRED_CONFIG, from which export rebuilds and describes G and F
    nets            {"G", "F", "D_X", "D_Y"}: the state_dict of each bare module (never a DDP wrapper)
    optimizers      {"G": Adam of G and F, "D": Adam of D_X and D_Y}
    schedulers      {"G", "D"}: their learning-rate schedulers
    pools           {"X", "Y"}: the image pools of rank 0 (stored images and their random generator)
    colour_pools    {"X", "Y"}: rank 0's pools of real pixels for colour_match, in the image pools'
                    format (pixels as 1x1 images); {} when colour_match is 0, absent in older files
    averages        {"G", "F"}: the moving averages of the generators' weights ({"updates", "net"}),
                    when the run keeps them (config ema > 0); export takes these weights
    step, epoch, batch_in_epoch, epoch_loss_sum     where the run stands
    precision       "fp32", "bf16" or "fp16"; scaler: the fp16 grad scaler's state ({} otherwise)
    world_size      processes that trained; ranks: per rank {"rng": RNG states, "pools" and "colour_pools":
                    (ranks > 0)}

Between config and world_size lies `Trainer.state_dict()` (train/trainer.py); each entry of `ranks`
is a `Trainer.rank_state()`. Resume checks each entry against what the config builds.
precision, scaler, world_size and ranks came with resume and torchrun; files without them still resume.

Export reads format, version, config and nets G and F; resume reads every section. Both check what
they read against nets, optimizers and schedulers built from the file's own config on the meta
device (no memory, no random draws), so a damaged or foreign file ends in one CheckpointError that
names the file, never in a traceback from deep inside torch.
"""
from __future__ import annotations

import os
import pickle
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.nn as nn

from cgan.infer.files import atomic_write
from cgan.infer.metadata import cgan_version

from .config import INT_LIMIT, ConfigError, TrainConfig, make_config, saved_config, shown
from .errors import TrainError
from .precision import PRECISIONS
from .rng_state import capture_rng
from .schedulers import create_scheduler
from .trainer import POOLS, POSITION, Trainer, build_nets, build_optimizers

FORMAT = "cgan-checkpoint"
FORMAT_VERSION = 1
GENERATORS = ("G", "F")  # the nets export reads
# The config keys a checkpoint must hold itself: the generators' shape and what export records of the run.
# Every other key reads as saved_config says (a setting newer than the file gets its earlier value).
REQUIRED_CONFIG = ("generator", "ngf", "norm", "dropout", "input_nc", "output_nc", "crop_size", "domain_x",
                   "domain_y")

# What torch.load(weights_only=True) raises on bytes it cannot read: its zip reader, restricted
# unpickler and tensor rebuilders each have their own (tests/test_fuzz_checkpoint.py flips and cuts
# real checkpoints to find them). Anything else from the load is a bug and stays a traceback.
UNREADABLE = (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, TypeError, KeyError, IndexError,
              AttributeError, struct.error, zipfile.BadZipFile, UnicodeDecodeError, OverflowError, RecursionError,
              MemoryError)


class CheckpointError(TrainError, ValueError):
    """A checkpoint file that cannot be read, written or used; the message names it and says what to do."""


# --- writing -----------------------------------------------------------------------------------
def checkpoint_state(trainer: Trainer, ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole checkpoint of `trainer`; `ranks` holds every process's `trainer.rank_state` (default: this one's)."""
    ranks = ranks if ranks is not None else [trainer.rank_state(is_main=True)]
    return {"format": FORMAT, "version": FORMAT_VERSION, "cgan_version": cgan_version(),
            "config": trainer.config.to_dict(), **trainer.state_dict(), "world_size": len(ranks), "ranks": ranks}


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` to a temp file beside `path`, flush it to disk, then move it into place.

    A crash at any moment leaves either the previous file or the complete new one; a failed write
    (a full disk) raises CheckpointError and leaves the previous file and no temp file.
    """
    try:
        with atomic_write(path) as f:
            torch.save(state, f)
    except OSError as e:
        reason = e.strerror or str(e) or type(e).__name__
        raise CheckpointError(f"{path}: the checkpoint could not be written ({reason}); the previous one is "
                              "kept. Free disk space (or fix the folder), then resume the run") from None
    return Path(path)


# --- reading -----------------------------------------------------------------------------------
def load_state(path: str | os.PathLike) -> Any:
    """`torch.load` with `weights_only=True`: never runs code from the file; unreadable bytes raise CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about old pickle protocols before it fails on them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from None
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "Unsupported class" in str(e):
            raise CheckpointError(f"{path}: refused to load: it holds Python objects, not only tensors and "
                                  "plain values, and cgan loads no code from files") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (damaged or another kind of "
                              "file); use another checkpoint") from None
    except UNREADABLE as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}; damaged, "
                              "cut short or another kind of file); use another checkpoint") from None


def load_checkpoint(path: str | os.PathLike, resume: bool = False) -> dict[str, Any]:
    """Load a cgan checkpoint and check it: what export needs, or with `resume`, every section."""
    state = load_state(path)
    check = _Check(path)
    config = check.header(state)
    check.generators(state, config)
    if resume:
        check.training(state, config)
    return state


def run_config(state: dict[str, Any]) -> TrainConfig:
    """The config a loaded checkpoint's run trained with (make_config of its saved values: saved_config says
    how a run saved before a setting existed reads); raises ConfigError."""
    return make_config(saved_config(state["config"]))


def generator_from_checkpoint(state: dict[str, Any], which: str) -> nn.Module:
    """Rebuild generator `which` ("G": X->Y or "F": Y->X) from a loaded cgan checkpoint, in eval mode."""
    if which not in GENERATORS:
        raise ValueError(f"unknown generator {which!r}; choose G or F")
    net = build_nets(run_config(state), [which])[which]
    averages = state.get("averages") or {}
    net.load_state_dict(averages[which]["net"] if which in averages else state["nets"][which])
    return net.eval()


# --- restoring ---------------------------------------------------------------------------------
def restore_checkpoint(trainer: Trainer, state: dict[str, Any], rank: int = 0, world_size: int = 1) -> list[str]:
    """Put a checkpoint (checked by `load_checkpoint(..., resume=True)`) back into `trainer`: its state,
    and this rank's RNG states and pools.

    Returns notes for the start line: with another number of processes than the run had, ranks
    keep their fresh seeds and pools.
    """
    trainer.load_state_dict(state)
    ranks = state.get("ranks")
    if not ranks:
        return []
    if len(ranks) != world_size:
        return [f"resumed with {world_size} processes where the run had {len(ranks)}: random streams start afresh"]
    trainer.load_rank_state(ranks[rank])
    return []


# --- checking ----------------------------------------------------------------------------------
class _Check:
    """Checks a loaded checkpoint against what this cgan would build from its config; the first
    problem raises CheckpointError naming the file, the entry and what to do."""

    def __init__(self, path: str | os.PathLike):
        self.path = path

    def fail(self, where: str, what: str) -> NoReturn:
        raise CheckpointError(f"{self.path}: not a usable cgan checkpoint ({where} {what}); it is damaged or was "
                              "not written by cgan-train: use another checkpoint (e.g. an epoch_NNN.pt)")

    def header(self, state: Any) -> TrainConfig:
        """The format, its version and the saved config; returns the config."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"{self.path}: not a cgan checkpoint (for an official pytorch-CycleGAN file, "
                                  "use `cgan-export --checkpoint FILE --generator NAME`)")
        version = state.get("version")
        if _is_int(version) and version > FORMAT_VERSION:
            raise CheckpointError(f"{self.path}: checkpoint format version {shown(version)} is newer than this cgan "
                                  f"reads ({FORMAT_VERSION}); upgrade cgan to use it")
        if version != FORMAT_VERSION or not _is_int(version):
            self.fail("version", f"is {shown(version)}, format version {FORMAT_VERSION} expected")
        saved = self.dict_at(state, "config")
        missing = next((key for key in REQUIRED_CONFIG if key not in saved), None)
        if missing:
            self.fail(f"config.{missing}", "is missing")
        try:
            return run_config(state)
        except ConfigError as e:
            if e.key is None:
                self.fail("config", f"is not valid: {e}")
            self.fail(f"config.{e.key}", f"= {shown(e.value)} is not a valid value ({e.problem})")

    def generators(self, state: dict[str, Any], config: TrainConfig) -> None:
        """The weights export reads: G and F, or their weight averages where the run kept them."""
        nets = self.dict_at(state, "nets")
        averages = state.get("averages", {})
        if not isinstance(averages, dict):
            self.fail("averages", "is not a dict")
        with torch.device("meta"):
            built = build_nets(config, GENERATORS)
        for which, net in built.items():
            found = {which: nets.get(which)}
            if which in averages:
                average = averages[which]
                if not (isinstance(average, dict) and _is_int(average.get("updates")) and average["updates"] >= 0):
                    self.fail(f"averages.{which}", "is not a weight average")
                found[f"average of {which}"] = average.get("net")
            for name, weights in found.items():
                problem = _mismatch(weights, net.state_dict())
                if problem:
                    raise CheckpointError(f"{self.path}: generator {name} cannot be rebuilt from it ({problem}); "
                                          "the file does not fit its own config: use another checkpoint")

    def training(self, state: dict[str, Any], config: TrainConfig) -> None:
        """Every section resume reads, against a trainer built on the meta device from the saved config."""
        with torch.device("meta"):
            nets = build_nets(config)
            optimizers = build_optimizers(nets, config)
            schedulers = {name: create_scheduler(opt, config) for name, opt in optimizers.items()}
        for name, net in nets.items():
            problem = _mismatch(self.dict_at(state, "nets").get(name), net.state_dict())
            if problem:
                self.fail(f"nets.{name}:", problem)
        for name, opt in optimizers.items():
            self.optimizer_state(f"optimizers.{name}", self.dict_at(state, "optimizers").get(name), opt)
        for name, scheduler in schedulers.items():
            self.same_structure(f"schedulers.{name}", self.dict_at(state, "schedulers").get(name),
                                scheduler.state_dict())
        channels = {"X": config.input_nc, "Y": config.output_nc}
        pool_sections = POOLS if config.colour_match and config.colour_maps else ("pools",)
        for section in pool_sections:
            for domain in channels:
                self.pool_state(f"{section}.{domain}", self.dict_at(state, section).get(domain), channels[domain])
        for key in POSITION:
            if not (_is_int(state.get(key)) and 0 <= state[key] <= INT_LIMIT):
                self.fail(key, f"= {shown(state.get(key))} is not a count")
        if not _is_number(state.get("epoch_loss_sum")):
            self.fail("epoch_loss_sum", "is not a number")
        if "precision" in state and not (isinstance(state["precision"], str) and state["precision"] in PRECISIONS):
            self.fail("precision", f"= {shown(state['precision'])} is not a precision")
        scaler = state.get("scaler", {})
        if not (isinstance(scaler, dict) and all(isinstance(k, str) and _is_number(v) for k, v in scaler.items())):
            self.fail("scaler", "is not a grad scaler's state")
        ranks = state.get("ranks")
        if ranks is None:
            return
        if not isinstance(ranks, list) or not ranks or state.get("world_size") != len(ranks):
            self.fail("ranks", "does not match world_size")
        for i, rank in enumerate(ranks):
            if not isinstance(rank, dict):
                self.fail(f"ranks[{i}]", "is not a dict")
            self.rng_states(f"ranks[{i}].rng", rank.get("rng"))
            for section in (s for s in pool_sections if s in rank):
                for domain in channels:
                    self.pool_state(f"ranks[{i}].{section}.{domain}", self.dict_at(rank, section).get(domain),
                                    channels[domain])

    def rng_states(self, where: str, found: Any) -> None:
        """What `capture_rng` saved, with values that `restore_rng` accepts."""
        if not isinstance(found, dict) or not {"python", "numpy", "torch"} <= set(found) <= {"python", "numpy",
                                                                                             "torch", "cuda"}:
            self.fail(where, "is not a set of RNG states")
        expected = capture_rng()
        expected["python"][2] = None  # Python's cached gauss: None or a float (`same_structure` takes either)
        self.same_structure(f"{where}.python", found["python"], expected["python"])
        self.same_structure(f"{where}.numpy", found["numpy"], expected["numpy"])
        self.same_structure(f"{where}.torch", found["torch"], expected["torch"])
        words = [*found["python"][1], *found["numpy"][1]]
        if not all(_is_int(w) and 0 <= w < 2**32 for w in words) or not 0 <= found["python"][1][-1] <= 624 \
                or not (_is_int(found["numpy"][2]) and 0 <= found["numpy"][2] <= 624):
            self.fail(where, "holds values out of range")
        cuda = found.get("cuda", [])
        if not (isinstance(cuda, list) and all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in cuda)):
            self.fail(f"{where}.cuda", "is not a list of CUDA RNG states")

    def dict_at(self, state: dict[str, Any], name: str) -> dict[str, Any]:
        """state[name], which must be a dict."""
        value = state.get(name)
        if not isinstance(value, dict):
            self.fail(name, "is missing")
        return value

    def optimizer_state(self, where: str, found: Any, optimizer: torch.optim.Optimizer) -> None:
        expected = optimizer.state_dict()
        if not isinstance(found, dict) or set(found) != {"state", "param_groups"}:
            self.fail(where, "is not an optimizer's state")
        self.same_structure(f"{where}.param_groups", found["param_groups"], expected["param_groups"])
        shapes = {i: p.shape for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"])}
        if not isinstance(found["state"], dict):
            self.fail(f"{where}.state", "is not a dict")
        for index, entry in found["state"].items():
            if index not in shapes or not isinstance(entry, dict):
                self.fail(f"{where}.state", f"has an entry {shown(index)} for no parameter")
            for key, value in entry.items():
                if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                    self.fail(f"{where}.state[{index}].{key}", "is not a float tensor")
                if value.dim() and value.shape != shapes[index]:
                    self.fail(f"{where}.state[{index}].{key}", f"has shape {list(value.shape)}, "
                              f"{list(shapes[index])} expected")

    def pool_state(self, where: str, found: Any, channels: int) -> None:
        if not isinstance(found, dict) or set(found) != {"size", "images", "rng"}:
            self.fail(where, "is not an image pool's state")
        size, images, rng = found["size"], found["images"], found["rng"]
        if not (_is_int(size) and 0 <= size <= INT_LIMIT):
            self.fail(f"{where}.size", "is not a count")
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.float32 and (
                images.numel() == 0 or images.dim() == 4 and images.shape[0] <= size and images.shape[1] == channels)):
            self.fail(f"{where}.images", f"are not up to {size} float32 images of {channels} channels")
        self.same_structure(f"{where}.rng", rng, torch.Generator().get_state())

    def same_structure(self, where: str, found: Any, expected: Any) -> None:
        """`found` has the structure of `expected`: the same dict keys and list lengths, tensors of the
        same shape and dtype, numbers where numbers are, strings where strings are."""
        if isinstance(expected, torch.Tensor):
            if not (isinstance(found, torch.Tensor) and found.shape == expected.shape and found.dtype == expected.dtype):
                self.fail(where, f"is not a {expected.dtype} tensor of shape {list(expected.shape)}")
        elif isinstance(expected, dict):
            if not isinstance(found, dict) or set(found) != set(expected):
                self.fail(where, f"does not hold the entries {sorted(map(str, expected))}")
            for key in expected:
                self.same_structure(f"{where}.{key}", found[key], expected[key])
        elif isinstance(expected, (list, tuple)):
            if not isinstance(found, (list, tuple)) or len(found) != len(expected):
                self.fail(where, f"is not a list of {len(expected)}")
            for i, (a, b) in enumerate(zip(found, expected)):
                self.same_structure(f"{where}[{i}]", a, b)
        elif isinstance(expected, (bool, str)):
            if type(found) is not type(expected):
                self.fail(where, f"is not a {type(expected).__name__}")
        elif _is_number(expected):
            if not _is_number(found):
                self.fail(where, "is not a number")
        elif expected is None and not (found is None or _is_number(found)):
            self.fail(where, "is neither empty nor a number")


def _mismatch(found: Any, expected: dict[str, torch.Tensor]) -> str | None:
    """The first way `found` is not a state_dict fitting `expected` (keys, shapes, dtypes), or None."""
    if not isinstance(found, dict):
        return "its weights are missing"
    for key, value in expected.items():
        if key not in found:
            return f"weight {key!r} is missing"
        tensor = found[key]
        if not isinstance(tensor, torch.Tensor):
            return f"weight {key!r} is not a tensor"
        if tensor.shape != value.shape or tensor.dtype != value.dtype:
            return f"weight {key!r} is {tensor.dtype} {list(tensor.shape)}, {value.dtype} {list(value.shape)} expected"
    extra = next((k for k in found if k not in expected), None)
    return f"unexpected weight {extra!r}" if extra is not None else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
