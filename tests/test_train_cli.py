import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cgan.train.checkpoint import generator_from_checkpoint, load_checkpoint
from cgan.train.cli import main
from cgan.train.known_answer import known_answer_report
from helpers import assert_one_line_error

TINY = ["--generator", "resnet_6blocks", "--discriminator", "pixel", "--ngf", "4", "--ndf", "4",
        "--crop-size", "16", "--load-size", "16", "--workers", "0", "--device", "cpu"]


def train(*args):
    return CliRunner().invoke(main, [*TINY, *args])


def test_builtin_run_writes_the_whole_run_dir(tmp_path):
    runs = tmp_path / "runs"
    result = train("--runs-dir", str(runs), "--max-dataset-size", "2", "--max-steps", "5", "--sample-every", "2",
                   "--save-epoch-freq", "1")
    assert result.exit_code == 0, result.output
    run = runs / "builtin"
    assert f"run dir {run}" in result.output and "device cpu" in result.output
    assert "known-answer accuracy" in result.output and "do-nothing" in result.output
    assert result.output.rstrip().endswith("next: cgan-export --gen G")

    config = json.loads((run / "config.json").read_text())
    assert config["name"] == "builtin" and config["ngf"] == 4 and config["domain_x"] == "shapes"
    assert config["threads"] == 1 and config["epochs"] == 3  # the built-in run's own defaults
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert {"cycle_X", "gan_G", "D_Y", "lr"} <= set(log[0])
    # 2 pictures per domain: epochs end at steps 2 and 4; the run stops at 5 and saves latest there
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("*.pt"))
    assert ckpts == ["epoch_001.pt", "epoch_002.pt", "latest.pt"]
    latest = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert latest["step"] == 5 and latest["epoch"] == 2 and latest["config"] == config
    assert generator_from_checkpoint(latest, "F")(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_000002.png", "step_000004.png", "step_000005.png"]
    grid = cv2.imread(str(run / "samples" / "step_000002.png"))
    assert grid is not None and grid.shape[1] > grid.shape[0]  # 3 columns, 2 rows
    assert cv2.imread(str(run / "loss_curve.png")) is not None
    page = (run / "index.html").read_text()
    assert "loss_curve.png" in page and "samples/step_000005.png" in page and "do-nothing" in page
    report = json.loads((run / "known_answer.json").read_text())
    G, F = (generator_from_checkpoint(latest, d) for d in ("G", "F"))  # the report is the final nets' accuracy
    assert report == pytest.approx(known_answer_report(G, F, size=16, seed=config["seed"]), rel=1e-5)

    again = train("--runs-dir", str(runs), "--max-dataset-size", "2", "--max-steps", "1")
    assert again.exit_code == 0, again.output
    assert (runs / "builtin_2" / "checkpoints" / "latest.pt").is_file()  # a derived name takes a free suffix


def test_a_given_name_that_exists_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    result = train("--runs-dir", str(tmp_path), "--name", "mine", "--max-steps", "1")
    assert_one_line_error(result, "already exists")
    assert list((tmp_path / "mine").iterdir()) == []


def test_config_round_trip(tmp_path):
    first = train("--runs-dir", str(tmp_path), "--name", "a", "--max-steps", "1", "--max-dataset-size", "2",
                  "--lambda-identity", "0", "--gan-loss", "hinge", "--lr-policy", "cosine")
    assert first.exit_code == 0, first.output
    saved = tmp_path / "a" / "config.json"
    second = CliRunner().invoke(main, ["--config", str(saved), "--name", "b", "--lr", "0.001"])
    assert second.exit_code == 0, second.output
    a, b = (json.loads((tmp_path / n / "config.json").read_text()) for n in ("a", "b"))
    assert b["lr"] == 0.001 and b["name"] == "b"
    assert {k: v for k, v in a.items() if k not in ("name", "lr")} == {k: v for k, v in b.items()
                                                                       if k not in ("name", "lr")}


def test_unknown_config_key_is_named(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"ngf": 8, "learning_rate": 1}))
    result = train("--config", str(bad), "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(result, "unknown config key 'learning_rate'")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_empty_domain_folder_stops_before_training(tmp_path):
    (tmp_path / "data" / "trainA").mkdir(parents=True)
    (tmp_path / "data" / "trainB").mkdir()
    result = train("--data", str(tmp_path / "data"), "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(result, "trainA")


def test_folder_run_names_domains_from_the_folder(tmp_path):
    data = tmp_path / "horse2zebra"
    rng = np.random.default_rng(0)
    for domain, count in (("trainA", 3), ("trainB", 2)):
        (data / domain).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(data / domain / f"{i}.png"), rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    result = train("--data", str(data), "--runs-dir", str(tmp_path / "runs"), "--max-steps", "2",
                   "--direction", "BtoA")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "horse2zebra" / "config.json").read_text())
    assert (config["domain_x"], config["domain_y"]) == ("zebra", "horse")
    assert config["load_size"] == 16 and config["epochs"] == 100  # folder runs keep the official schedule
    assert "X 'zebra' 2 images, Y 'horse' 3 images" in result.output
    assert "known-answer" not in result.output


def test_python_dash_m_shows_the_same_command():
    out = subprocess.run([sys.executable, "-m", "cgan.train", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "cgan-train" in out.stdout and "--lambda-identity" in out.stdout


def test_make_config_precedence_and_domain_names():
    from cgan.train.config import make_config

    saved = make_config({}, {"ngf": 8}, builtin_domains=("shapes", "shapes_T")).to_dict()
    assert (saved["domain_x"], saved["epochs"], saved["ngf"]) == ("shapes", 3, 8)  # built-in defaults
    again = make_config(saved, {"ngf": 12, "data": "datasets/apple2orange"})
    assert (again.ngf, again.epochs) == (12, 3)  # the file's values, then the options
    assert (again.domain_x, again.domain_y) == ("apple", "orange")  # derived for the new data
    assert make_config({}, {"data": "x/summer2winter", "direction": "BtoA"}).domain_x == "winter"
    assert make_config({}, {"data": "x/photos"}).domain_x == "A"
    assert make_config({}, {"data": "x/photos"}).epochs == 100


def test_a_run_says_how_long_it_will_take_after_its_first_steps(tmp_path, monkeypatch):
    from functools import partial

    from cgan.train import loop
    from cgan.train.pace import TIMED_STEPS, WARMUP_STEPS, Pace

    monkeypatch.setattr(loop, "Pace", partial(Pace, timed_s=0))
    result = train("--runs-dir", str(tmp_path / "runs"), "--max-dataset-size", "4", "--max-steps", "20",
                   "--precision", "fp32")  # 24 steps in all: --max-steps ends the run
    assert result.exit_code == 0, result.output
    estimate = [line for line in result.output.splitlines() if " left for " in line]
    assert len(estimate) == 1, result.output
    assert estimate[0].startswith("cgan-train: about ") and estimate[0].endswith(
        f"left for {20 - WARMUP_STEPS - TIMED_STEPS} more steps ({estimate[0].split('(')[1]}")
    assert "--preset quick" not in result.output  # seconds, not hours


def test_the_final_rate_counts_only_this_process_steps(tmp_path):
    runs = tmp_path / "runs"
    first = train("--runs-dir", str(runs), "--max-dataset-size", "2", "--max-steps", "3", "--precision", "fp32")
    assert "cgan-train: done, 3 steps in " in first.output
    resumed = CliRunner().invoke(main, ["--resume", str(runs / "builtin"), "--max-steps", "5"])
    assert resumed.exit_code == 0, resumed.output
    assert "cgan-train: done, 2 steps (this process: steps 4-5) in " in resumed.output
