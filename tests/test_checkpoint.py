"""The checkpoint format: atomic writes, the checks both readers make, old layouts, newer versions."""
import errno
import io
import json

import pytest
import torch
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.train.checkpoint import (FORMAT_VERSION, CheckpointError, checkpoint_state, load_checkpoint,
                                   restore_checkpoint, save_checkpoint)
from cgan.train.config import TrainConfig
from cgan.train.trainer import Trainer
from helpers import assert_one_line_error
from train_runs import train

# The sections resume and torchrun added; a checkpoint written before them has none of these.
LATER_SECTIONS = ("cgan_version", "precision", "scaler", "world_size", "ranks")


def tiny_state(**config) -> dict:
    return checkpoint_state(Trainer(TrainConfig(generator="resnet_6blocks", discriminator="pixel", ngf=4, ndf=4,
                                                crop_size=16, load_size=16, pool_size=2, **config)))


def test_a_failed_write_names_the_file_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {**tiny_state(), "step": 1})

    class FullDisk(io.RawIOBase):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, FullDisk()))
    with pytest.raises(CheckpointError, match=r"latest\.pt: the checkpoint could not be written \(No space left"):
        save_checkpoint(path, {**tiny_state(), "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path, resume=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left


def test_a_full_disk_during_training_ends_in_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    assert train(runs, "--name", "full", "--max-steps", "4").exit_code == 0  # epoch end: checkpoint at step 4
    before = (runs / "full" / "checkpoints" / "latest.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, f):
        real_save(obj, f)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    result = train(runs, "--resume", str(runs / "full"), "--max-steps", "6")
    assert_one_line_error(result, "latest.pt: the checkpoint could not be written (No space left on device)")
    assert (runs / "full" / "checkpoints" / "latest.pt").read_bytes() == before
    assert sorted(p.name for p in (runs / "full" / "checkpoints").iterdir()) == ["latest.pt"]


def test_load_checkpoint_rejects_non_cgan_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not a cgan checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_restores_into_a_trainer_exactly(tmp_path):
    state = tiny_state()
    path = save_checkpoint(tmp_path / "latest.pt", state)
    other = Trainer(TrainConfig(generator="resnet_6blocks", discriminator="pixel", ngf=4, ndf=4, crop_size=16,
                                load_size=16, pool_size=2, seed=5))
    restore_checkpoint(other, load_checkpoint(path, resume=True))
    again = checkpoint_state(other)
    for name, weights in state["nets"].items():
        assert all(torch.equal(weights[k], again["nets"][name][k]) for k in weights), name
    assert again["schedulers"] == state["schedulers"]


def test_an_old_layout_checkpoint_still_resumes_and_exports(trained_run, tmp_path):
    """A checkpoint as cgan-train wrote it before resume and torchrun: trainer sections only."""
    runs = tmp_path / "runs"
    result = train(runs, "--name", "old", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    latest = runs / "old" / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    assert state["version"] == FORMAT_VERSION == 1
    old = {k: v for k, v in state.items() if k not in LATER_SECTIONS}
    save_checkpoint(latest, old)

    resumed = train(runs, "--resume", str(runs / "old"), "--max-steps", "3")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output and "at step 2 (epoch 0, batch 2)" in resumed.output
    assert load_checkpoint(latest, resume=True)["step"] == 3

    save_checkpoint(latest, old)
    exported = CliRunner().invoke(export_main, [str(runs / "old"), "--gen", "G", "--out", str(tmp_path / "m"),
                                                "--no-verify"])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "m" / "G.onnx").is_file()


def test_a_newer_format_version_is_refused_in_one_line(run_copy, tmp_path):
    latest = run_copy / "checkpoints" / "latest.pt"
    save_checkpoint(latest, {**torch.load(latest, weights_only=True), "version": FORMAT_VERSION + 1})
    phrase = f"format version {FORMAT_VERSION + 1} is newer than this cgan reads ({FORMAT_VERSION}); upgrade cgan"
    assert_one_line_error(train(run_copy.parent, "--resume", str(run_copy)), phrase)
    assert_one_line_error(CliRunner().invoke(export_main, [str(run_copy), "--out", str(tmp_path / "m")]), phrase)
    assert not (tmp_path / "m").exists()


def test_a_run_saved_before_recipes_resumes_and_exports_as_the_official_recipe(tmp_path):
    """Its config has no recipe keys: it was trained with plain generators and the identity loss."""
    runs = tmp_path / "runs"
    result = train(runs, "--name", "old", "--max-steps", "2", "--recipe", "official")
    assert result.exit_code == 0, result.output
    latest = runs / "old" / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    recipe_keys = ("recipe", "residual", "pointwise", "ema", "lr_d")
    old = {**{k: v for k, v in state.items() if k != "averages"},
           "config": {k: v for k, v in state["config"].items() if k not in recipe_keys}}
    save_checkpoint(latest, old)
    config_file = runs / "old" / "config.json"
    config_file.write_text(json.dumps(old["config"]))

    resumed = train(runs, "--resume", str(runs / "old"), "--max-steps", "3")
    assert resumed.exit_code == 0, resumed.output
    again = load_checkpoint(latest, resume=True)
    assert again["step"] == 3 and again["config"]["residual"] is False and again["config"]["lambda_identity"] == 0.5
    exported = CliRunner().invoke(export_main, [str(runs / "old"), "--gen", "G", "--out", str(tmp_path / "m"),
                                                "--no-verify"])
    assert exported.exit_code == 0, exported.output


def test_a_run_with_colour_judges_resumes_with_them_and_refuses_to_drop_them(tmp_path):
    runs = tmp_path / "runs"
    assert train(runs, "--name", "judged", "--max-steps", "2").exit_code == 0  # the default: judged
    latest = runs / "judged" / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    assert any(key.startswith("colour_judge.") for key in state["nets"]["D_Y"])
    assert [g["initial_lr"] for g in state["optimizers"]["D"]["param_groups"]] == pytest.approx([2e-4, 2e-4 * 10])

    resumed = train(runs, "--resume", str(runs / "judged"), "--max-steps", "3")
    assert resumed.exit_code == 0, resumed.output
    again = load_checkpoint(latest, resume=True)
    assert again["step"] == 3 and again["config"]["colour_judge"] is True
    refused = train(runs, "--resume", str(runs / "judged"), "--max-steps", "4", "--no-colour-judge")
    assert_one_line_error(refused, "--no-colour-judge (the run has --colour-judge)")
    assert train(runs, "--name", "plain", "--max-steps", "1", "--no-colour-judge").exit_code == 0
    plain = torch.load(runs / "plain" / "checkpoints" / "latest.pt", weights_only=True)
    assert not any("colour_judge" in key for key in plain["nets"]["D_X"])
    assert len(plain["optimizers"]["D"]["param_groups"]) == 1


def test_a_run_saved_before_colour_judges_resumes_without_them(tmp_path):
    """Its config has no colour_judge key and its discriminators no judge: it goes on as it was trained."""
    runs = tmp_path / "runs"
    assert train(runs, "--name", "old", "--max-steps", "2", "--no-colour-judge").exit_code == 0
    latest = runs / "old" / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    old = {**state, "config": {k: v for k, v in state["config"].items()
                               if k not in ("colour_judge", "colour_judge_lr")}}
    save_checkpoint(latest, old)
    (runs / "old" / "config.json").write_text(json.dumps(old["config"]))

    resumed = train(runs, "--resume", str(runs / "old"), "--max-steps", "3")
    assert resumed.exit_code == 0, resumed.output
    again = load_checkpoint(latest, resume=True)
    assert again["step"] == 3 and again["config"]["colour_judge"] is False
    assert not any("colour_judge" in key for key in again["nets"]["D_Y"])


def test_a_run_saved_before_the_colour_map_rate_resumes_with_the_rate_it_was_trained_with(tmp_path):
    """Its config has no pointwise_lr and its generator optimizer one parameter group."""
    runs = tmp_path / "runs"
    assert train(runs, "--name", "old", "--max-steps", "2", "--pointwise-lr", "1").exit_code == 0
    latest = runs / "old" / "checkpoints" / "latest.pt"
    state = torch.load(latest, weights_only=True)
    assert len(state["optimizers"]["G"]["param_groups"]) == 1
    old = {**state, "config": {k: v for k, v in state["config"].items() if k != "pointwise_lr"}}
    save_checkpoint(latest, old)
    (runs / "old" / "config.json").write_text(json.dumps(old["config"]))

    resumed = train(runs, "--resume", str(runs / "old"), "--max-steps", "3")
    assert resumed.exit_code == 0, resumed.output
    again = load_checkpoint(latest, resume=True)
    assert again["step"] == 3 and again["config"]["pointwise_lr"] == 1.0
    fresh = train(runs, "--name", "new", "--max-steps", "1")
    assert fresh.exit_code == 0, fresh.output
    groups = torch.load(runs / "new" / "checkpoints" / "latest.pt", weights_only=True)["optimizers"]["G"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == pytest.approx([2e-4, 2e-4 * 30])
