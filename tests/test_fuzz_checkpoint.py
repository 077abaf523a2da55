"""Property tests: a real checkpoint cut short or with bits flipped is read by both readers (export
and resume) without any exception but CheckpointError (ExportError for export's own checks); flips of no
bit (mask 0) leave it intact, and it must then load."""
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cgan.export.errors import ExportError
from cgan.export.loading import run_generators
from cgan.train.checkpoint import CheckpointError, checkpoint_state, load_checkpoint, restore_checkpoint
from cgan.train.config import TrainConfig, make_config
from cgan.train.rng_state import capture_rng, restore_rng
from cgan.train.trainer import Trainer

FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


CONFIG = TrainConfig(generator="resnet_6blocks", discriminator="pixel", ngf=2, ndf=2, crop_size=8, load_size=8,
                     pool_size=1, lambda_identity=0)
TRAINERS: dict[TrainConfig, Trainer] = {}  # resume restores into one per config (building one costs more)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> bytes:
    """A small real checkpoint after one step: Adam state, a filled pool, RNG states."""
    trainer = Trainer(CONFIG)
    trainer.train_step({k: torch.rand(1, 3, 8, 8) * 2 - 1 for k in ("x", "y")})
    path = tmp_path_factory.mktemp("fuzz") / "original.pt"
    torch.save(checkpoint_state(trainer), path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> Path:
    """Where each example's damaged checkpoint is written."""
    return tmp_path_factory.mktemp("fuzz") / "latest.pt"


def read_for_export(path: Path) -> None:
    run_generators(path, ["G", "F"])


def read_for_resume(path: Path) -> None:
    state = load_checkpoint(path, resume=True)
    rng = capture_rng()
    try:
        config = make_config(state["config"])
        restore_checkpoint(TRAINERS.get(config) or TRAINERS.setdefault(config, Trainer(config)), state)
    finally:
        restore_rng(rng)


READERS = {"export": read_for_export, "resume": read_for_resume}


@pytest.mark.parametrize("reader", list(READERS))
@FUZZ
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_checkpoint_cut_short_is_refused(original, damaged, reader, cut):
    damaged.write_bytes(original[: int(cut * len(original))])
    with pytest.raises(CheckpointError, match=str(damaged)):
        READERS[reader](damaged)


@pytest.mark.parametrize("reader", list(READERS))
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
       near_ends=st.booleans())
@example(flips=[(0.5, 0)], near_ends=False)
def test_a_checkpoint_with_flipped_bits_loads_or_is_refused_in_one_line(original, damaged, reader, flips, near_ends):
    data = bytearray(original)
    for where, mask in flips:
        # half the examples hit the first and last 2 KiB: the pickled structure and the zip directory
        at = int(where * 4096) if near_ends else int(where * len(data))
        if near_ends and at >= 2048:
            at = len(data) - 4096 + at
        data[at] ^= mask
    damaged.write_bytes(bytes(data))
    try:
        READERS[reader](damaged)
    except (CheckpointError, ExportError) as e:
        assert str(damaged) in str(e) and "\n" not in str(e)
        assert any(mask for _, mask in flips), e  # an intact checkpoint loads
