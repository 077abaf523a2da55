"""Hostile run folders for `cgan-train --resume` and `cgan-export`: damaged and foreign checkpoints,
planted symbolic links, racing resumes, a stop signal during start-up. Each case is a real file;
each ends in one line, a non-zero exit and nothing written."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.train import resume as resume_module
from cgan.train.checkpoint import save_checkpoint
from cgan.train.run_lock import RunLock, RunLockedError
from cgan.train.session import Session
from helpers import assert_one_line_error
from train_runs import TINY, train


class Foreign:
    """Any class: pickling it puts a global into the file, which weights-only loading refuses."""


def _flip_bits(data: bytes) -> bytes:
    out = bytearray(data)
    for at in (30, 200, len(out) // 2, len(out) - 30):
        out[at] ^= 0x5A
    return bytes(out)


def _torch_bytes(obj) -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"cgan-hostile-{os.getpid()}.pt"
    torch.save(obj, path)
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def _edit(change):
    """A case that loads the real checkpoint, changes it, and saves it again (still a valid torch file)."""
    def make(original: bytes, path: Path) -> None:
        state = torch.load(path, weights_only=True)
        change(state)
        save_checkpoint(path, state)
    return make


def _replace(data):
    return lambda original, path: path.write_bytes(data(original) if callable(data) else data)


def _set(*keys_value):
    *keys, value = keys_value

    def change(state):
        for key in keys[:-1]:
            state = state[key]
        state[keys[-1]] = value(state[keys[-1]]) if callable(value) else value
    return change


def _delete(*keys):
    def change(state):
        for key in keys[:-1]:
            state = state[key]
        del state[keys[-1]]
    return change


def _first_weight(nets):
    return next(k for k, v in nets.items() if v.dim() == 4)


# name: (how the file is made, phrase of the one-line error, whether export reads the damaged part)
CASES = {
    "text": (_replace(b"step: 3\nnot a checkpoint\n"), "not a readable PyTorch checkpoint", True),
    "empty": (_replace(b""), "not a readable PyTorch checkpoint", True),
    "one_byte": (_replace(b"\x80"), "not a readable PyTorch checkpoint", True),
    "truncated": (_replace(lambda data: data[: len(data) // 2]), "not a readable PyTorch checkpoint", True),
    "tail_cut": (_replace(lambda data: data[:-100]), "not a readable PyTorch checkpoint", True),
    "bit_flips": (_replace(_flip_bits), "latest.pt", True),
    "pickled_object": (_replace(lambda data: _torch_bytes({"format": "cgan-checkpoint", "x": Foreign()})),
                       "refused to load: it holds Python objects", True),
    "a_list": (_replace(lambda data: _torch_bytes([1, 2, 3])), "not a cgan checkpoint", True),
    "no_nets": (_edit(_delete("nets")), "nets is missing", True),
    "no_config": (_edit(_delete("config")), "config is missing", True),
    "version_text": (_edit(_set("version", "1")), "version is '1'", True),
    "ngf_fraction": (_edit(_set("config", "ngf", 8.5)), "config.ngf = 8.5 is not a valid value", True),
    "ngf_too_large": (_edit(_set("config", "ngf", 5000)), "config.ngf = 5000 is not a valid value", True),
    "ngf_600_digits": (_edit(_set("config", "ngf", 10**600)), "config.ngf = 1000000000", True),
    "version_600_digits": (_edit(_set("version", 10**600)), "format version 1000000000", True),
    "generator_path": (_edit(_set("config", "generator", "../../x")), "config.generator = '../../x'", True),
    "norm_number": (_edit(_set("config", "norm", 5)), "config.norm = 5", True),
    "channels_2": (_edit(_set("config", "input_nc", 2)), "config.input_nc = 2", True),
    "G_is_a_list": (_edit(_set("nets", "G", [1, 2])), "generator G cannot be rebuilt from it", True),
    "G_weight_shape": (_edit(lambda s: s["nets"]["G"].update(
        {_first_weight(s["nets"]["G"]): torch.zeros(2, 2)})), "generator G cannot be rebuilt from it", True),
    "G_weight_text": (_edit(lambda s: s["nets"]["G"].update({_first_weight(s["nets"]["G"]): "w"})),
                      "is not a tensor", True),
    "D_weight_shape": (_edit(lambda s: s["nets"]["D_X"].update(
        {_first_weight(s["nets"]["D_X"]): torch.zeros(1)})), "nets.D_X:", False),
    "no_optimizers": (_edit(_delete("optimizers")), "optimizers is missing", False),
    "adam_moment_shape": (_edit(lambda s: s["optimizers"]["G"]["state"][0].update(exp_avg=torch.zeros(7))),
                          "optimizers.G.state[0].exp_avg has shape [7]", False),
    "adam_groups_text": (_edit(_set("optimizers", "D", "param_groups", "x")), "optimizers.D.param_groups", False),
    "scheduler_extra_key": (_edit(lambda s: s["schedulers"]["G"].update(step=1)), "schedulers.G", False),
    "step_text": (_edit(_set("step", "3")), "step = '3' is not a count", False),
    "epoch_negative": (_edit(_set("epoch", -1)), "epoch = -1 is not a count", False),
    "step_600_digits": (_edit(_set("step", 10**600)), "0...(long) is not a count", False),
    "pool_channels": (_edit(_set("pools", "X", "images", torch.zeros(1, 2, 16, 16))), "pools.X.images", False),
    "pool_rng_short": (_edit(_set("pools", "Y", "rng", torch.zeros(3, dtype=torch.uint8))), "pools.Y.rng", False),
    "rng_out_of_range": (_edit(lambda s: s["ranks"][0]["rng"]["python"][1].__setitem__(0, -5)),
                         "ranks[0].rng holds values out of range", False),
    "ranks_not_world": (_edit(_set("world_size", 3)), "ranks does not match world_size", False),
    "scaler_text": (_edit(_set("scaler", {"scale": "big"})), "scaler", False),
    "bad_saved_lr": (_edit(_set("config", "lr", -1.0)), "config.lr = -1.0 is not a valid value (must be positive)",
                     True),
}


def snapshot(folder: Path) -> dict:
    """Every file under `folder` (but the lock, which records its holder) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "train.lock"}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_checkpoint_is_refused_by_resume_in_one_line(run_copy, case):
    make, phrase, _ = CASES[case]
    latest = run_copy / "checkpoints" / "latest.pt"
    make(latest.read_bytes(), latest)
    before = snapshot(run_copy)
    result = train(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3")
    assert_one_line_error(result, str(latest), phrase)
    assert "weights_only" not in result.output
    assert snapshot(run_copy) == before  # nothing written


@pytest.mark.parametrize("case", [name for name, (_, _, export_reads) in CASES.items() if export_reads])
def test_a_damaged_checkpoint_is_refused_by_export_in_one_line(run_copy, tmp_path, case):
    make, phrase, _ = CASES[case]
    latest = run_copy / "checkpoints" / "latest.pt"
    make(latest.read_bytes(), latest)
    out = tmp_path / "models"
    result = CliRunner().invoke(export_main, [str(run_copy), "--out", str(out)])
    assert_one_line_error(result, str(latest), phrase)
    assert "weights_only" not in result.output
    assert not out.exists()


def test_export_reads_only_what_it_needs(run_copy, tmp_path):
    """A checkpoint whose training sections are damaged still exports its generators."""
    latest = run_copy / "checkpoints" / "latest.pt"
    _edit(_delete("optimizers"))(b"", latest)
    result = CliRunner().invoke(export_main, [str(run_copy), "--gen", "G", "--out", str(tmp_path / "m"),
                                              "--no-verify"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "G.onnx").is_file()


# --- symbolic links --------------------------------------------------------------------------------------
REFUSED_LINKS = ("train.lock", "log.jsonl", "checkpoints", "samples", "tensorboard")
REPLACED_LINKS = ("config.json", "index.html", "loss_curve.png", "known_answer.json", "samples/step_000003.png")


@pytest.mark.parametrize("name", REFUSED_LINKS + REPLACED_LINKS)
def test_resume_never_writes_through_a_planted_symlink(run_copy, tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me\n")
    link = run_copy / name
    target = outside if name in ("checkpoints", "samples", "tensorboard") else outside / "precious.txt"
    if link.is_dir():
        os.rename(link, tmp_path / "moved")
        if name == "checkpoints":  # the folder is linked away: its real content is elsewhere now
            for f in (tmp_path / "moved").iterdir():
                os.rename(f, outside / f.name)
    elif link.exists():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    outside_before = snapshot(outside)

    result = train(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3", "--sample-every", "1")
    assert snapshot(outside) == outside_before  # the file (or folder) the link points at is untouched
    if name in REFUSED_LINKS:
        assert_one_line_error(result, str(link), "symbolic link")
    else:
        assert result.exit_code == 0, result.output
        assert not link.is_symlink() and link.is_file()  # the link itself was replaced


# --- racing resumes ---------------------------------------------------------------------------------
def test_a_second_resume_waits_for_no_checkpoint_of_a_run_in_training(run_copy, monkeypatch):
    """The lock comes first: a resume of a run in training is refused before it reads the checkpoint,
    so it can never continue from a stale one and overwrite the later steps of the first."""
    read = []
    monkeypatch.setattr(resume_module, "load_checkpoint", lambda *a, **k: read.append(a) or {})
    before = snapshot(run_copy)
    with RunLock(run_copy):  # the first training holds the run
        result = train(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3")
    assert_one_line_error(result, "is in use by another training (pid")
    assert read == [] and snapshot(run_copy) == before


def test_a_resume_racing_a_running_resume_is_refused_and_changes_nothing(run_copy):
    """A resume runs; a second resume of the same run meanwhile is refused; the first one's steps stand."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = run_copy / "log.jsonl"
    logged = len(log.read_text().splitlines())
    first = subprocess.Popen([sys.executable, "-m", "cgan.train", "--resume", str(run_copy), "--max-steps", "100000"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while len(log.read_text().splitlines()) < logged + 2:  # the first resume is training
            assert first.poll() is None and time.monotonic() < deadline, "the first resume did not start"
            time.sleep(0.2)
        second = train(run_copy.parent, "--resume", str(run_copy), "--max-steps", "100000")
        assert_one_line_error(second, "is in use by another training (pid")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, err
    step = int(out.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert step > 2 and torch.load(run_copy / "checkpoints" / "latest.pt", weights_only=True)["step"] == step


# --- stop signals during start-up -------------------------------------------------------------------
def test_sigterm_during_start_up_leaves_no_run_folder(tmp_path, monkeypatch):
    real = Session.build_trainer

    def signalled_while_building(self, config):
        trainer = real(self, config)
        os.kill(os.getpid(), signal.SIGTERM)  # after the run folder and config.json, before the first step
        return trainer

    monkeypatch.setattr(Session, "build_trainer", signalled_while_building)
    runs = tmp_path / "runs"
    result = train(runs, "--name", "early", "--max-steps", "3")
    assert_one_line_error(result, "stopped by SIGTERM before the first step")
    assert not (runs / "early").exists()


def test_an_error_before_the_first_step_removes_the_new_run_folder(tmp_path, monkeypatch):
    def interrupted(self, config):
        raise KeyboardInterrupt  # a second Ctrl-C while the nets are built

    monkeypatch.setattr(Session, "build_trainer", interrupted)
    runs = tmp_path / "runs"
    result = train(runs, "--name", "early", "--max-steps", "3")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert list(runs.iterdir()) == []


# Starts cgan-train as `python -m cgan.train` does, after saying that the interpreter is up.
LAUNCH = "import runpy, sys; print('up', flush=True); sys.argv[0] = 'cgan-train'; " \
         "runpy.run_module('cgan.train', run_name='__main__')"


@pytest.mark.parametrize("delay", [0.3, 3.0])
def test_ctrl_c_in_the_first_moments_is_clean(tmp_path, delay):
    """Ctrl-C while torch loads, while the run starts or in its first steps: no traceback, and never a
    run folder holding only a config.json."""
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *TINY, "--runs-dir", str(runs), "--name", "c",
                             "--max-steps", "100000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 1, 130), err
    run = runs / "c"
    assert not run.exists() or (run / "checkpoints" / "latest.pt").is_file()


# --- a lock file written by something else ---------------------------------------------------------------
@pytest.mark.parametrize("content", ["[" * 4000, '{"pid": ' + "9" * 5000 + "}", "{pid}", "\xff\xfe",
                                     json.dumps({"pid": 10**30, "host": socket.gethostname()}),
                                     json.dumps({"pid": -1, "host": socket.gethostname()})],
                         ids=["nested", "too_many_digits", "not_json", "not_utf8", "huge_pid", "negative_pid"])
def test_a_free_run_whatever_its_lock_file_holds_is_taken(tmp_path, content):
    (tmp_path / "train.lock").write_text(content, errors="surrogateescape")
    with RunLock(tmp_path):
        assert json.loads((tmp_path / "train.lock").read_text())["pid"] == os.getpid()


def test_a_held_lock_naming_a_long_holder_is_refused_in_a_short_line(tmp_path):
    with RunLock(tmp_path):
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "x" * 5000}
        (tmp_path / "train.lock").write_text(json.dumps(holder))
        with pytest.raises(RunLockedError, match="is in use by another training") as refused:
            RunLock(tmp_path).acquire()
    assert len(str(refused.value)) < 400
