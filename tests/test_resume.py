"""--resume: a run stopped at step k and resumed equals the uninterrupted run; what may and may not change."""
import json
import random
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cgan.train.checkpoint import load_checkpoint, load_state, save_checkpoint
from cgan.train.cli import main
from cgan.train.config import FIELDS, TrainConfig
from cgan.train.resume import FIXED_ON_RESUME, ResumeError, resume_config, truncate_log
from cgan.train.rng_state import capture_rng, restore_rng
from cgan.train.run_lock import RunLock
from helpers import assert_one_line_error
from train_runs import train as train_tiny

# 4 steps per epoch, lr decays after epoch 1, dropout on (uses the global RNG), image pools on.
TINY = ["--ngf", "4", "--ndf", "4", "--max-dataset-size", "4", "--epochs", "1", "--epochs-decay", "2",
        "--dropout", "--device", "cpu", "--workers", "0", "--sample-every", "1000", "--precision", "fp32"]


def draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_rng_states_survive_a_weights_only_checkpoint(tmp_path):
    state = capture_rng()
    expected = draws()
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    draws()
    restore_rng(load_state(path)["rng"])  # weights_only=True inside
    again = draws()
    assert again[:2] == expected[:2] and torch.equal(again[2], expected[2])


def train(runs, *args):
    result = CliRunner().invoke(main, [*TINY, "--runs-dir", str(runs), *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def deterministic():
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def test_stopped_and_resumed_run_equals_the_uninterrupted_one(tmp_path, deterministic):
    runs = tmp_path / "runs"
    train(runs, "--name", "whole", "--max-steps", "9")
    train(runs, "--name", "parts", "--max-steps", "3")  # stops mid-epoch 0 with pools and Adam state filled
    out = train(runs, "--resume", str(runs / "parts"), "--max-steps", "9")
    assert "resuming" in out and "at step 3 (epoch 0, batch 3); changed: max_steps 3 -> 9" in out

    whole = load_checkpoint(runs / "whole" / "checkpoints" / "latest.pt")
    parts = load_checkpoint(runs / "parts" / "checkpoints" / "latest.pt")
    assert whole["step"] == parts["step"] == 9 and whole["epoch"] == parts["epoch"] == 2
    for name in ("G", "F", "D_X", "D_Y"):
        for key, value in whole["nets"][name].items():
            assert torch.equal(parts["nets"][name][key], value), f"{name}.{key}"  # bitwise
    for which in ("G", "D"):
        for a, b in zip(whole["optimizers"][which]["state"].values(), parts["optimizers"][which]["state"].values()):
            assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
        assert whole["schedulers"][which] == parts["schedulers"][which]
    for pool in ("X", "Y"):
        assert torch.equal(whole["pools"][pool]["images"], parts["pools"][pool]["images"])
    logged = [json.loads(line)["step"] for line in (runs / "parts" / "log.jsonl").read_text().splitlines()]
    assert logged == list(range(1, 10))  # one record per step, none twice


def test_resume_refuses_architecture_changes_and_applies_the_rest(tmp_path):
    runs = tmp_path / "runs"
    train(runs, "--name", "r", "--max-steps", "2")
    refused = CliRunner().invoke(main, ["--resume", "--name", "r", "--runs-dir", str(runs), "--ngf", "8",
                                        "--norm", "batch"])
    assert refused.exit_code == 1
    assert "cannot resume with --ngf 8 (the run has 4), --norm batch (the run has instance)" in refused.output
    out = train(runs, "--resume", "--max-steps", "3", "--epochs", "2")  # bare --resume: the most recent run
    assert "changed: epochs 1 -> 2, max_steps 2 -> 3" in out
    assert json.loads((runs / "r" / "config.json").read_text())["epochs"] == 2
    assert load_checkpoint(runs / "r" / "checkpoints" / "latest.pt")["step"] == 3


def test_rates_changed_on_resume_are_the_ones_that_train(tmp_path):
    """The saved optimizer and scheduler states carry the old rates; the new options win."""
    runs = tmp_path / "runs"
    train(runs, "--name", "r", "--max-steps", "2")
    refused = CliRunner().invoke(main, ["--resume", "--name", "r", "--runs-dir", str(runs), "--pointwise-lr", "1"])
    assert refused.exit_code == 1 and "--pointwise-lr 1.0 (the run has 30.0)" in refused.output
    train(runs, "--resume", "--max-steps", "3", "--lr", "1e-3", "--lr-d", "5e-4", "--beta1", "0.9")
    state = load_checkpoint(runs / "r" / "checkpoints" / "latest.pt", resume=True)
    groups = {name: state["optimizers"][name]["param_groups"] for name in ("G", "D")}
    assert [g["initial_lr"] for g in groups["G"]] == pytest.approx([1e-3, 3e-2])
    assert [g["initial_lr"] for g in groups["D"]] == pytest.approx([5e-4, 5e-3])
    assert state["schedulers"]["G"]["base_lrs"] == pytest.approx([1e-3, 3e-2])
    assert [g["lr"] for g in groups["G"]] == pytest.approx([1e-3, 3e-2])  # epoch 0: no decay yet
    assert all(g["betas"][0] == 0.9 for g in groups["G"] + groups["D"])


def test_resume_of_a_run_in_use_is_refused(tmp_path):
    runs = tmp_path / "runs"
    train(runs, "--name", "busy", "--max-steps", "1")
    with RunLock(runs / "busy"):
        result = CliRunner().invoke(main, ["--resume", str(runs / "busy"), "--max-steps", "2"])
    assert_one_line_error(result, "is in use by another training (pid")


def test_resume_errors_name_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["--resume", str(tmp_path), "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1 and "not a run directory (no config.json)" in result.output
    result = CliRunner().invoke(main, ["--resume", "--runs-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no run with a checkpoint under" in result.output


def test_truncate_log_drops_steps_to_be_redone_and_a_torn_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, 6)) + '{"step": 6, "G_to')
    truncate_log(log, 3)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3]


@pytest.mark.parametrize("args, given", [
    (["--recipe", "official"], "--recipe official (the run has cgan)"),
    (["--seed", "5"], "--seed 5 (the run has 0)"),
    (["--init", "xavier"], "--init xavier (the run has normal)"),
    (["--init-gain", "0.5"], "--init-gain 0.5 (the run has 0.02)"),
    (["--config", "{tmp}/official.json"], "--recipe official (the run has cgan)"),
])
def test_resume_refuses_what_is_chosen_when_a_run_starts(run_copy, tmp_path, args, given):
    """A new recipe, seed or initialization would be recorded in config.json without having happened."""
    (tmp_path / "official.json").write_text(json.dumps({"recipe": "official"}))
    latest = run_copy / "checkpoints" / "latest.pt"
    before = (run_copy / "config.json").read_bytes(), latest.read_bytes()
    result = train_tiny(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3",
                        *(a.format(tmp=tmp_path) for a in args))
    assert_one_line_error(result, f"cannot resume with {given}: the recipe, the seed and the initialization "
                                  "are chosen when a run starts")
    assert ((run_copy / "config.json").read_bytes(), latest.read_bytes()) == before


def test_resume_with_the_run_s_own_recipe_and_seed_goes_on(run_copy):
    result = train_tiny(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3", "--recipe", "cgan",
                        "--seed", "0")
    assert result.exit_code == 0, result.output
    assert "changed: max_steps 2 -> 3" in result.output
    assert json.loads((run_copy / "config.json").read_text())["recipe"] == "cgan"


def test_every_key_fixed_on_resume_is_a_setting():
    assert set(FIXED_ON_RESUME) <= set(FIELDS)


def _another_value(key: str, value):
    """A valid value of setting `key` other than `value`."""
    choices = FIELDS[key].metadata["choices"]
    if choices:
        return next(c for c in choices if c != value)
    return (not value) if isinstance(value, bool) else value + 1 if isinstance(value, int) else (value * 2 or 1.0)


@pytest.mark.parametrize("key", list(FIXED_ON_RESUME))
def test_a_refused_change_is_named_with_the_flags_cgan_train_takes(key):
    saved = TrainConfig().to_dict()
    with pytest.raises(ResumeError) as refused:
        resume_config(saved, {}, {key: _another_value(key, saved[key])})
    refusal = str(refused.value).split(":")[0]  # "cannot resume with --ngf 65 (the run has 64)"
    named = re.findall(r"--[\w-]+", refusal)
    flags = {spelling for param in main.params for spelling in (*param.opts, *param.secondary_opts)}
    assert named and set(named) <= flags, refusal


PLANTED = ['[]', 'null', '"step"', '{"step": "2"}', '{"step": true}', '{"step": -1}', '{"step": 1, "G_total": NaN}',
           '{"step": 1, "G_total": [1]}', '{"step": 1, "lr": ' + "9" * 5000 + "}", '{"step": ' + "1" * 400 + "}",
           "[" * 100_000 + "]" * 100_000, '{"step": 2, "G_to']


def test_log_lines_that_are_not_records_are_dropped_on_resume(run_copy):
    """A run folder's logs may hold anything (planted, or torn by a crash): the resumed run keeps its
    own records, drops the rest, and its report draws."""
    log = run_copy / "log.jsonl"
    kept = log.read_text()
    log.write_text(kept + "\n".join(PLANTED) + "\n")
    (run_copy / "eval.jsonl").write_text("\n".join(PLANTED) + "\n")
    result = train_tiny(run_copy.parent, "--resume", str(run_copy), "--max-steps", "3", "--sample-every", "1")
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert (run_copy / "loss_curve.png").is_file() and (run_copy / "index.html").is_file()
