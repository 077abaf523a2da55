"""cgan.train: the CycleGAN networks, training loop and checkpoints (needs the `train` extra).

A run's state lives in the Trainer (trainer.py: state_dict, rank_state); checkpoint.py writes it as
one versioned file and checks it on the way back; run_dir.py names every file of a run.

The names below are imported on first use, so that `cgan-train` can start (and take a Ctrl-C)
before torch is loaded.
"""
from importlib import import_module

__all__ = ["GENERATORS", "DISCRIMINATORS", "create_generator", "create_discriminator", "side_multiple"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module(".networks", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
