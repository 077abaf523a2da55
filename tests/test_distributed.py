"""Data-parallel training: launch environment, data split, DDP == one process on the global batch, dead ranks."""
import copy
import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
import torch
import torch.nn as nn

from cgan.train.checkpoint import load_checkpoint
from cgan.train.config import make_config
from cgan.train.data import build_loader, start_epoch
from cgan.train.distributed import (DistEnv, DistributedError, any_rank, dist_env, gather_to_main,
                                    peer_failure_message, rank_seed, sync_batchnorm, wrap)
from cgan.train.known_answer import KnownAnswerDataset
from cgan.train.session import start_session
from cgan.train.trainer import Trainer

# Tiny CycleGAN, image pool off (its random choices are per process), no dropout.
# Pools are per process (pool_size 0; colour matching, whose pixel pools are per process too, off), so that
# two processes on halves of a batch can equal one process on all of it.
TINY = dict(generator="resnet_6blocks", ngf=4, ndf=4, crop_size=32, load_size=32, pool_size=0, colour_match=0.0,
            workers=0, seed=3, device="cpu", precision="fp32")
STEPS = 3
# The runs are compared in float64. They differ only in the order gradients are summed, but Adam's
# first step is lr * sign(gradient), so in float32 that rounding noise (~1e-7) flips the step of
# elements whose gradient is near zero, and the GAN's dynamics then spread it (measured: 1 element
# off by 2*lr after one step, most weights off by ~1e-4 after three). In float64 the noise is ~1e-16.
ATOL = 1e-9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world_size: int, port: int) -> dict:
    return {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}


def test_dist_env_from_torchrun_variables():
    assert dist_env({}) == DistEnv() and not DistEnv().enabled and DistEnv().is_main
    env = dist_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (env.rank, env.world_size, env.local_rank, env.enabled, env.is_main) == (3, 4, 1, True, False)
    with pytest.raises(DistributedError, match="RANK set but WORLD_SIZE, LOCAL_RANK not: launch with `torchrun"):
        dist_env({"RANK": "0"})
    with pytest.raises(DistributedError, match="must be integers"):
        dist_env({"RANK": "a", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(DistributedError, match="RANK=2 does not fit WORLD_SIZE=2"):
        dist_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    assert rank_seed(7, env) == 10 and rank_seed(7, DistEnv()) == 7


def test_single_process_helpers_are_no_ops():
    env = DistEnv()
    assert any_rank(True, False) == (True, False)
    assert gather_to_main({"k": 1}, env) == [{"k": 1}]
    net = nn.Conv2d(3, 3, 1)
    assert wrap(net, env, torch.device("cpu")) is net


def test_peer_failure_message_only_for_lost_peers():
    two = DistEnv(1, 2, 1)
    lost = RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:9941: Connection reset by peer")
    assert peer_failure_message(lost, two).startswith("rank 1 of 2: lost contact with another training process")
    assert peer_failure_message(lost, DistEnv()) is None  # single process: not a peer problem
    assert peer_failure_message(RuntimeError("shape mismatch"), two) is None


@pytest.mark.parametrize("world_size, batch", [(2, 1), (2, 3), (3, 2)])
def test_ranks_share_each_global_batch_like_one_process(world_size, batch):
    """Global batch t of W ranks (batch B each) holds the samples of batch t of one process with batch W*B."""
    dataset = KnownAnswerDataset(size=8, length=12, seed=1)
    single = build_loader(dataset, world_size * batch, workers=0, seed=5)
    ranks = [build_loader(dataset, batch, workers=0, seed=5, rank=r, world_size=world_size) for r in range(world_size)]
    for epoch in (0, 1):
        start_epoch(single, epoch)
        for loader in ranks:
            start_epoch(loader, epoch)
        whole = list(single.sampler)
        per_rank = [list(loader.sampler) for loader in ranks]
        assert len({len(keys) for keys in per_rank}) == 1  # every rank takes the same number of steps
        for t in range(len(whole) // (world_size * batch)):
            together = sorted(k for keys in per_rank for k in keys[t * batch:(t + 1) * batch])
            assert together == sorted(whole[t * world_size * batch:(t + 1) * world_size * batch])
    start_epoch(single, 0)
    order0 = [i for _, i in single.sampler]
    start_epoch(single, 1)
    assert order0 != [i for _, i in single.sampler]  # reshuffled every epoch


def test_sync_batchnorm_only_where_it_runs():
    bn_net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    two = DistEnv(0, 2, 0)
    net, converted = sync_batchnorm(bn_net, two, torch.device("cuda", 0))
    assert converted and isinstance(net[1], nn.SyncBatchNorm)
    assert sync_batchnorm(bn_net, two, torch.device("cpu")) == (bn_net, False)  # SyncBatchNorm is GPU-only
    assert sync_batchnorm(bn_net, DistEnv(), torch.device("cuda", 0)) == (bn_net, False)
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4))
    assert sync_batchnorm(plain, two, torch.device("cuda", 0)) == (plain, False)


WORKER = textwrap.dedent("""
    import json, sys, torch
    from cgan.train.checkpoint import checkpoint_state
    from cgan.train.config import make_config
    from cgan.train.data import build_loader, start_epoch
    from cgan.train.distributed import exit_at_once, shutdown_distributed
    from cgan.train.known_answer import KnownAnswerDataset
    from cgan.train.session import start_session
    from cgan.train.trainer import Trainer
    torch.set_num_threads(1)
    config = make_config(overrides=json.loads(sys.argv[1]))
    session = start_session(config)  # joins the process group from RANK, WORLD_SIZE, ...
    env = session.env
    # float64 nets, then as cgan-train prepares them: DDP-wrapped
    trainer = Trainer(config, session.device, prepare_net=lambda net: session.prepare_net(net.double()),
                      rank=env.rank)
    assert type(trainer.nets["G"]).__name__ == "DistributedDataParallel"
    dataset = KnownAnswerDataset(size=config.crop_size, length=8, seed=config.seed)
    loader = build_loader(dataset, config.batch_size, workers=0, seed=config.seed, rank=env.rank,
                          world_size=env.world_size)
    start_epoch(loader, 0)
    for _, batch in zip(range(int(sys.argv[2])), loader):
        trainer.train_step({k: v.double() for k, v in batch.items() if k in ("x", "y")})
    if env.is_main:
        torch.save(checkpoint_state(trainer)["nets"], sys.argv[3])
    shutdown_distributed()
    exit_at_once(0)  # as cgan-train's processes do: a normal exit after gloo aborts now and then
""")


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    port = free_port()
    out = tmp_path / "ddp.pt"
    per_rank = make_config(overrides={**TINY, "batch_size": 1})
    args = [sys.executable, "-c", WORKER, json.dumps({**TINY, "batch_size": 1}), str(STEPS), str(out)]
    procs = [subprocess.Popen(args, env=rank_env(r, 2, port), stderr=subprocess.PIPE, text=True) for r in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors

    config = replace(per_rank, batch_size=2)
    session = start_session(config)
    single = Trainer(config, prepare_net=lambda net: session.prepare_net(net.double()))
    loader = build_loader(KnownAnswerDataset(size=32, length=8, seed=per_rank.seed), 2, workers=0,
                          seed=per_rank.seed)
    start_epoch(loader, 0)
    initial = {k: v.clone() for k, v in single.nets["G"].state_dict().items()}
    for _, batch in zip(range(STEPS), loader):
        single.train_step({k: v.double() for k, v in batch.items() if k in ("x", "y")})

    ddp = torch.load(out, weights_only=True)
    probe = torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1
    for name, net in single.nets.items():
        noise_only = cancelled_biases(net)
        assert noise_only  # the check below does skip something, and only those
        for key, value in net.state_dict().items():
            if key not in noise_only:
                torch.testing.assert_close(ddp[name][key], value, rtol=0, atol=ATOL, msg=f"{name}.{key}")
        twin = copy.deepcopy(net)
        twin.load_state_dict(ddp[name])
        with torch.no_grad():
            torch.testing.assert_close(twin(probe), net(probe), rtol=0, atol=ATOL)
    assert any(not torch.equal(initial[k], v) for k, v in single.nets["G"].state_dict().items())


def cancelled_biases(net: nn.Module) -> set[str]:
    """Biases of convs followed directly by InstanceNorm: the norm subtracts them again, so their true
    gradient is 0 and Adam turns the rounding noise of that 0 into lr-sized steps that change no output."""
    keys = set()
    for prefix, module in net.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (i, conv), (_, norm) in zip(children, children[1:]):
                if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.bias is not None \
                        and isinstance(norm, nn.InstanceNorm2d):
                    keys.add(f"{prefix}.{i}.bias" if prefix else f"{i}.bias")
    return keys


PEER = textwrap.dedent("""
    import os, sys, time, torch
    from cgan.train.distributed import (any_rank, dist_env, exit_after_peer_failure, init_distributed,
                                        peer_failure_message)
    env = dist_env()
    init_distributed(env, torch.device("cpu"), timeout_s=float(sys.argv[2]))
    any_rank(False)
    if env.rank == 1:
        if sys.argv[1] == "die":
            os._exit(3)
        time.sleep(600)  # hangs
    start = time.monotonic()  # rank 1 is gone or stuck from here on
    try:
        for _ in range(10_000):
            any_rank(False)
            time.sleep(0.01)
    except RuntimeError as e:
        print(f"stopped after {time.monotonic() - start:.1f}s", file=sys.stderr)
        exit_after_peer_failure(peer_failure_message(e, env))  # as cgan-train does
""")


@pytest.mark.parametrize("how", ["die", "hang"])
def test_a_dead_or_hung_rank_stops_the_others_within_bounded_time(how):
    port = free_port()
    args = [sys.executable, "-c", PEER, how, "5"]
    procs = [subprocess.Popen(args, env=rank_env(r, 2, port), stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        _, err = procs[0].communicate(timeout=240)  # never waits forever
        assert procs[0].returncode == 1, err
        assert "rank 0 of 2: lost contact with another training process" in err
        waited = float(err.split("stopped after ")[1].split("s")[0])
        assert waited < 5 + 25  # the 5 s exchange timeout, plus slack for a loaded machine
    finally:
        for p in procs:
            p.kill()
            p.communicate()


def test_two_process_cli_run_under_torchrun_writes_one_run_dir(tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "cgan.train", "--runs-dir", str(runs), "--ngf", "4", "--ndf", "4", "--max-dataset-size", "4",
           "--max-steps", "3", "--device", "cpu", "--workers", "0", "--precision", "fp32"]
    done = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in runs.iterdir()] == ["builtin"]  # rank 0 alone claims and writes
    assert "2 processes x batch 1 per process = global batch 2" in done.stdout
    assert done.stdout.count("cgan-train: done, 3 steps") == 1
    state = load_checkpoint(runs / "builtin" / "checkpoints" / "latest.pt")
    assert state["step"] == 3 and state["world_size"] == 2 and len(state["ranks"]) == 2
    assert "pools" in state["ranks"][1]  # rank 1's own image pools, for an exact resume
