"""cgan.train: the CycleGAN networks, training loop and checkpoints (needs the `train` extra)."""
from .networks import (
    DISCRIMINATORS,
    GENERATORS,
    create_discriminator,
    create_generator,
    side_multiple,
)

__all__ = ["GENERATORS", "DISCRIMINATORS", "create_generator", "create_discriminator", "side_multiple"]
