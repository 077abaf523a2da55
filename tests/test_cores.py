"""Default torch threads and loader workers fit the cores that are free."""
import warnings

import cv2
import numpy as np
import pytest
import torch

from cgan.train.config import make_config
from cgan.train.cores import Cores, cores_now, default_threads, loader_workers, machine_load
from cgan.train.loop import run_training


def test_machine_load_reads_the_first_figure_and_never_fails():
    assert machine_load("1.73 0.90 0.40 3/200 123\n") == 1.73
    assert machine_load("") == 0.0 and machine_load("nonsense") == 0.0


@pytest.mark.parametrize("load, allowed, machine, free", [
    ("0.10", 2, 2, 2),   # an idle machine: every core
    ("1.30", 2, 2, 1),   # one core busy elsewhere
    ("9.00", 2, 2, 1),   # overloaded: still one thread, never zero
    ("6.00", 4, 16, 4),  # the load is on cores outside this process's mask
    ("14.0", 4, 16, 2),  # ... until it spills onto ours
])
def test_free_cores_subtract_the_load_from_the_cores_allowed(monkeypatch, load, allowed, machine, free):
    monkeypatch.setattr("os.cpu_count", lambda: machine)
    cores = cores_now(load, allowed=allowed, environ={})
    assert cores.free == free
    assert cores.describe(free).startswith(f"threads {free} ({allowed} cores, ")


def test_processes_under_torchrun_share_the_free_cores():
    assert Cores(allowed=8, busy=0.0, processes=4).free == 2
    assert cores_now("0.0", allowed=8, environ={"LOCAL_WORLD_SIZE": "4"}).processes == 4


def test_omp_num_threads_is_honoured_when_set():
    cores = Cores(allowed=8, busy=0.0)
    assert default_threads(cores, environ={}) == 8
    assert default_threads(cores, environ={"OMP_NUM_THREADS": "3"}) == 3
    assert default_threads(cores, environ={"OMP_NUM_THREADS": "many"}) == 8


def test_workers_are_capped_by_the_cores():
    assert loader_workers(4, Cores(allowed=2, busy=0.0)) == 2
    assert loader_workers(1, Cores(allowed=2, busy=0.0)) == 1
    assert loader_workers(0, Cores(allowed=2, busy=2.0)) == 0


def test_a_folder_run_on_defaults_gives_no_worker_warning_and_says_its_threads(tmp_path, monkeypatch):
    monkeypatch.setattr("cgan.train.cores.allowed_cores", lambda: 2)
    rng = np.random.default_rng(0)
    for domain in ("trainA", "trainB"):
        (tmp_path / "data" / domain).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "data" / domain / f"{i}.png"), rng.integers(0, 255, (20, 20, 3), np.uint8))
    config = make_config({}, {"data": str(tmp_path / "data"), "runs_dir": str(tmp_path / "runs"), "ngf": 4, "ndf": 4,
                              "discriminator": "pixel", "load_size": 16, "crop_size": 16, "max_steps": 2,
                              "device": "cpu", "precision": "fp32"})
    assert config.workers == 4 and config.threads == 0  # the defaults
    lines, threads = [], torch.get_num_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_training(config, echo=lines.append, progress=False)
    assert not [w for w in caught if "worker" in str(w.message)], [str(w.message) for w in caught]
    assert "2 loader workers (4 asked, 2 cores)" in lines[0] and "threads " in lines[0]
    assert torch.get_num_threads() == threads  # restored for the caller
