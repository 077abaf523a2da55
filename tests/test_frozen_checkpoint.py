"""A run saved by an earlier cgan resumes and exports as it did: tests/data/frozen_run is committed, not rebuilt.

It was made with the code of its time by
    cgan-train --generator resnet_6blocks --ngf 1 --ndf 2 --discriminator pixel --crop-size 16 --load-size 16
      --max-dataset-size 4 --epochs 1 --epochs-decay 2 --dropout --pool-size 2 --colour-match 1 --colour-pool 64
      --ema 0.9 --device cpu --workers 0 --threads 1 --sample-every 1000 --precision fp32 --name frozen --max-steps 3
(keeping config.json, log.jsonl and checkpoints/latest.pt): every checkpoint section is filled (Adam moments,
image and pixel pools, weight averages, RNG states), and the run stops mid-epoch. frozen_run_step7.pt holds
the nets and weight averages of the same command run uninterrupted to --max-steps 7 (across an epoch end and
a learning-rate step).
"""
import json
import shutil
from pathlib import Path

import onnx
import torch
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.infer.metadata import ModelInfo
from cgan.train.checkpoint import load_checkpoint
from cgan.train.cli import main as train_main

DATA = Path(__file__).parent / "data"
FROZEN = DATA / "frozen_run"


def same_arithmetic(expected: dict) -> bool:
    """Whether this machine computes as the one that recorded `expected` (torch build and CPU kernels):
    then resuming must give the very same bits; elsewhere rounding may differ in the last places."""
    return expected["torch"] == torch.__version__ and expected["cpu"] == torch.backends.cpu.get_cpu_capability()


def assert_weights(found: dict, expected: dict, exact: bool, where: str) -> None:
    assert found.keys() == expected.keys(), where
    for key, value in expected.items():
        if exact:
            assert torch.equal(found[key], value), f"{where}.{key}"
        else:
            torch.testing.assert_close(found[key], value, rtol=1e-4, atol=1e-6, msg=f"{where}.{key}")


def test_a_run_saved_by_an_earlier_cgan_resumes_to_the_same_weights(tmp_path):
    run = tmp_path / "runs" / "frozen"
    shutil.copytree(FROZEN, run)
    result = CliRunner().invoke(train_main, ["--resume", str(run), "--max-steps", "7"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "at step 3 (epoch 0, batch 3); changed: max_steps 3 -> 7" in result.output

    expected = torch.load(DATA / "frozen_run_step7.pt", weights_only=True)
    state = load_checkpoint(run / "checkpoints" / "latest.pt", resume=True)
    assert state["step"] == expected["step"] == 7 and state["epoch"] == 1
    exact = same_arithmetic(expected)
    for name, weights in expected["nets"].items():
        assert_weights(state["nets"][name], weights, exact, f"nets.{name}")
    for name, weights in expected["averages"].items():
        assert_weights(state["averages"][name]["net"], weights, exact, f"averages.{name}")
    logged = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert logged == list(range(1, 8))


def test_a_run_saved_by_an_earlier_cgan_exports(tmp_path):
    out = tmp_path / "models"
    result = CliRunner().invoke(export_main, [str(FROZEN), "--gen", "G", "--out", str(out), "--no-verify"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    model = onnx.load(out / "G.onnx")
    info = ModelInfo.from_metadata_props({p.key: p.value for p in model.metadata_props})
    assert (info.generator, info.ngf, info.train_size, info.side_multiple) == ("resnet_6blocks", 1, 16, 4)
    assert sorted(p.name for p in FROZEN.rglob("*")) == ["checkpoints", "config.json", "latest.pt", "log.jsonl"]
