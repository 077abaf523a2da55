"""Data-parallel training under torchrun: who this process is, the process group, the data split, the model wrap.

A plain `cgan-train` is world size 1 and every helper here is then a no-op, so the training loop
reads the same either way. Under `torchrun --nproc_per_node N` each process trains on its share
of every global batch (the data loader's EpochSampler splits it) and DistributedDataParallel
averages the gradients.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, NoReturn

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .errors import TrainError

DEFAULT_TIMEOUT_S = 600  # longest a process waits for the others in one exchange before it gives up


class DistributedError(TrainError, RuntimeError):
    """A launch that cannot work, or a peer process that stopped; the message says which and what to do."""


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0        # this process among all (RANK)
    world_size: int = 1  # processes in the run (WORLD_SIZE)
    local_rank: int = 0  # this process on its machine (LOCAL_RANK): picks the GPU

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes samples and checkpoints."""
        return self.rank == 0

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world_size}"


def dist_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Read the process's place from the variables torchrun sets; none set means a single process."""
    environ = os.environ if environ is None else environ
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    present = [n for n in names if n in environ]
    if not present:
        return DistEnv()
    if len(present) < len(names):
        missing = ", ".join(n for n in names if n not in environ)
        raise DistributedError(f"{', '.join(present)} set but {missing} not: launch with "
                               "`torchrun --nproc_per_node N -m cgan.train ...`")
    try:
        env = DistEnv(*(int(environ[n]) for n in names))
    except ValueError:
        raise DistributedError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
                               f"{', '.join(environ[n] for n in names)}") from None
    if not (0 <= env.rank < env.world_size and env.local_rank >= 0):
        raise DistributedError(f"RANK={env.rank} does not fit WORLD_SIZE={env.world_size}")
    return env


def init_distributed(env: DistEnv, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU); return the device this process trains on.

    Every exchange waits at most `timeout_s` for the other processes, so a rank that dies or hangs
    makes the others fail with an error instead of waiting forever.
    """
    if not env.enabled:
        return device
    if device.type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK={env.local_rank} but this machine has "
                                   f"{torch.cuda.device_count()} CUDA devices: lower --nproc_per_node")
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
        # A failed or timed-out NCCL exchange aborts the process instead of leaving it blocked.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise DistributedError(f"distributed training runs on CUDA or CPU, not {device.type}; use --device cpu or cuda")
    dist.init_process_group(backend, rank=env.rank, world_size=env.world_size, timeout=timedelta(seconds=timeout_s))
    return device


def shutdown_distributed(exc_type: type[BaseException] | None = None, *_) -> None:
    """Leave the process group (an ExitStack exit callback). After a normal end every process first
    waits for the others to get here: the main one writes reports after the last step, and a gloo
    group that one process leaves while another is still busy can hang the leaving (seen once in a
    two-process run on a loaded CPU). After an error nobody waits: a peer may be gone."""
    if not dist.is_initialized():
        return
    if exc_type is None and dist.get_world_size() > 1:
        dist.barrier()
    dist.destroy_process_group()


def rank_seed(seed: int, env: DistEnv) -> int:
    """Seed of this process's global RNGs (dropout, image pool): distinct per rank, fixed by --seed."""
    return seed + env.rank


def peer_failure_message(error: BaseException, env: DistEnv) -> str | None:
    """A clear message when `error` is a failed exchange with the other processes, else None."""
    if not env.enabled or not isinstance(error, RuntimeError):
        return None
    text = str(error)
    markers = ("gloo", "NCCL", "Connection reset", "Connection closed", "Timed out", "timed out", "Broken pipe")
    if not isinstance(error, dist.DistError) and not any(m in text for m in markers):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return (f"{env.describe()}: lost contact with another training process (it stopped, crashed or hung); "
            f"stopping this one too. Look at the other processes' output for the cause. ({first[:200]})")


def exit_at_once(status: int) -> NoReturn:
    """End this process with `status` now, its output flushed, skipping the interpreter's exit.

    After a process has used gloo, its exit now and then ends in "terminate called without an
    active exception" and status -6 instead (seen about once in 100 two-process runs on CPU, on a
    process other than the main one, with or without all processes leaving the group together).
    Call it only where nothing is left to close: the run directory, lock and checkpoints belong to
    the main process, and `run_training` has returned."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def exit_after_peer_failure(message: str) -> NoReturn:
    """Print `message` and end this process with status 1 at once (exit_at_once): after an exchange
    with a lost peer, gloo's background threads make the normal exit abort even more often."""
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)
    exit_at_once(1)


def sync_batchnorm(net: nn.Module, env: DistEnv, device: torch.device) -> tuple[nn.Module, bool]:
    """Batch norm over the global batch (SyncBatchNorm) when several processes train on an accelerator.

    Returns (net, converted). PyTorch's SyncBatchNorm runs on accelerators only, so on CPU each
    process normalizes over its own share of the batch; the caller says so in the start line.
    """
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    if not (env.enabled and has_bn and device.type != "cpu"):
        return net, False
    return nn.SyncBatchNorm.convert_sync_batchnorm(net), True


def wrap(net: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `net` when several processes train (it starts from rank 0's weights)."""
    if not env.enabled:
        return net
    return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def any_rank(*flags: bool, device: torch.device | None = None) -> tuple[bool, ...]:
    """Each flag OR-ed over all processes, so every rank takes the same decision (stop, NaN) at the same step."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return tuple(bool(f) for f in flags)
    t = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def gather_to_main(obj: Any, env: DistEnv) -> list[Any] | None:
    """Every rank's `obj` as a list on rank 0 (None on the others); [obj] in a single process.

    For per-rank training state (RNG states, image pools) that a checkpoint must hold for every rank.
    """
    if not env.enabled:
        return [obj]
    out = [None] * env.world_size if env.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def from_main(obj: Any, env: DistEnv) -> Any:
    """Rank 0's `obj` on every rank, for a choice all must share (such as a precision measured on each)."""
    if not env.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
