import os

import pytest
import torch

from cgan.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, {"format": "cgan-checkpoint", "step": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"format": "cgan-checkpoint", "step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left


def test_load_checkpoint_rejects_non_cgan_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="not a cgan checkpoint"):
        load_checkpoint(path)
