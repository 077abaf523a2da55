"""Stop on a NaN or Inf loss instead of training on garbage (and overwriting good checkpoints with it)."""
from __future__ import annotations

from typing import Mapping

import torch

from .errors import TrainError


class NonFiniteLossError(TrainError, FloatingPointError):
    """A loss term became NaN or Inf; the message names the term and the step."""


def nonfinite_terms(losses: Mapping[str, torch.Tensor | float]) -> list[str]:
    """Names of the loss terms that are NaN or Inf, in the dict's order (one device sync for all)."""
    if not losses:
        return []
    values = torch.stack([torch.as_tensor(v, dtype=torch.float32).detach().reshape(()).cpu() for v in losses.values()])
    return [name for name, ok in zip(losses, torch.isfinite(values).tolist()) if not ok]


def check_finite(losses: Mapping[str, torch.Tensor | float], step: int) -> None:
    """Raise NonFiniteLossError naming the first non-finite term and the step."""
    bad = nonfinite_terms(losses)
    if bad:
        value = float(torch.as_tensor(losses[bad[0]]).detach().cpu())
        others = f" (also {', '.join(bad[1:])})" if len(bad) > 1 else ""
        raise NonFiniteLossError(f"loss term {bad[0]} is {value} at step {step}{others}; stopping. "
                                 "The last good checkpoint is kept; try a lower --lr, or --precision fp32")
