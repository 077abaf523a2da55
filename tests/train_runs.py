"""Tiny real training runs for the checkpoint tests: made once per session, copied per test."""
import shutil

import pytest
from click.testing import CliRunner

from cgan.train.cli import main as train_main

# 4 steps per epoch; 2 steps leave Adam state, filled pools and a mid-epoch position in the checkpoint.
TINY = ["--ngf", "4", "--ndf", "4", "--discriminator", "pixel", "--crop-size", "16", "--load-size", "16",
        "--max-dataset-size", "4", "--device", "cpu", "--workers", "0", "--sample-every", "1000",
        "--precision", "fp32", "--pool-size", "2"]


def train(runs, *args):
    return CliRunner().invoke(train_main, [*TINY, "--runs-dir", str(runs), *args])


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A run folder of 2 steps (checkpoints/latest.pt): copy it before changing anything."""
    runs = tmp_path_factory.mktemp("trained") / "runs"
    result = train(runs, "--name", "tiny", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    return runs / "tiny"


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A fresh copy of the trained run under tmp_path/runs/tiny."""
    path = tmp_path / "runs" / "tiny"
    shutil.copytree(trained_run, path)
    return path
