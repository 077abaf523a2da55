"""The built-in dataset with a known answer, and the accuracy report it makes possible.

Domain X holds synthetic pictures (synthetic.draw_scene); domain Y holds *other* such pictures
passed through a fixed invertible colour transform T, so the two domains are unpaired but the
right translation is known: G should learn T and F should learn T^-1. T rotates the colour
channels (R, G, B) <- (B, R, G) and brightens with a gamma curve; the pictures' colour families
are uneven over the colour wheel, so no simpler recolouring matches the distribution of T(X).

Accuracy is PSNR in dB on images scaled to [0, 1] (MSE per image, then averaged over images),
measured on held-out pictures whose seeds never occur in training.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from cgan.infer.quality import psnr

from .data import DataError, check_seed, item_rng, split_key, to_tensor
from .synthetic import draw_scene

PERMUTATION = (2, 0, 1)  # output channel c of T is input channel PERMUTATION[c]
INVERSE_PERMUTATION = tuple(int(i) for i in np.argsort(PERMUTATION))
GAMMA = 0.6  # T's tone curve on [0, 1]: v -> v ** GAMMA
_SCENE_STREAM = 0x7363656E  # keeps picture seeds apart from the items' random choices
TRAIN_X, TRAIN_Y, HELDOUT_X, HELDOUT_Y = range(4)  # picture streams: disjoint seeds

ImageMap = Callable[[torch.Tensor], torch.Tensor]  # NCHW in [-1, 1] -> NCHW in [-1, 1]: a generator, or T
PSNR_CAP_DB = 100.0  # identical images would give inf; the cap keeps reports finite (and valid JSON)


def transform(x: torch.Tensor) -> torch.Tensor:
    """T: X -> Y on (N)CHW RGB tensors in [-1, 1]."""
    u = ((x[..., PERMUTATION, :, :] + 1) / 2).clamp(0, 1)
    return 2 * u ** GAMMA - 1


def inverse_transform(y: torch.Tensor) -> torch.Tensor:
    """T^-1: Y -> X on (N)CHW RGB tensors in [-1, 1]."""
    u = ((y + 1) / 2).clamp(0, 1) ** (1 / GAMMA)
    return 2 * u[..., INVERSE_PERMUTATION, :, :] - 1


def picture(seed: int, stream: int, index: int, size: int) -> torch.Tensor:
    """Picture number `index` of a stream, as a CHW tensor in [-1, 1] (pure function of its args)."""
    return to_tensor(draw_scene(np.random.default_rng((_SCENE_STREAM, seed, stream, index)), size))


class KnownAnswerDataset(Dataset):
    """`length` X pictures and `length` other pictures through T for Y; items as UnalignedDataset's.

    X in order, Y drawn at random (or in order with serial_batches); random horizontal flips
    (T commutes with them). Every choice comes from item_rng(seed, epoch, index).
    """

    channels = (3, 3)
    domains = ("shapes", "shapes_T")

    def __init__(self, size: int = 64, length: int = 1000, seed: int = 0, flip: bool = True,
                 serial_batches: bool = False):
        if size < 8 or length < 1:
            raise DataError(f"known-answer data needs size >= 8 and length >= 1 (got {size}, {length})")
        self.size, self.length, self.seed = size, length, check_seed(seed)
        self.flip, self.serial_batches = flip, serial_batches
        self.epoch = 0
        self.sizes = (length, length)

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain integer indices."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _flip(self, img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return img.flip(-1) if self.flip and rng.random() < 0.5 else img

    def __getitem__(self, key) -> dict:
        epoch, index = split_key(key, self.epoch)
        rng = item_rng(self.seed, epoch, index)
        ix = index % self.length
        iy = ix if self.serial_batches else int(rng.integers(self.length))
        x = picture(self.seed, TRAIN_X, ix, self.size)
        y = transform(picture(self.seed, TRAIN_Y, iy, self.size))
        return {"x": self._flip(x, rng), "y": self._flip(y, rng),
                "x_path": f"known-answer/x/{ix}", "y_path": f"known-answer/y/{iy}"}


def heldout_pairs(size: int, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) batches of `count` held-out pictures: x from X, y = T(other pictures), NCHW in [-1, 1]."""
    x = torch.stack([picture(seed, HELDOUT_X, i, size) for i in range(count)])
    y = transform(torch.stack([picture(seed, HELDOUT_Y, i, size) for i in range(count)]))
    return x, y


def mean_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of PSNR in dB between NCHW batches in [-1, 1], measured on [0, 1] scale
    (capped at PSNR_CAP_DB for identical images)."""
    pairs = zip(a.detach().float().cpu().numpy(), b.detach().float().cpu().numpy())
    return float(np.mean([psnr(x, y, max_db=PSNR_CAP_DB) for x, y in pairs]))


@torch.no_grad()
def _translate(net: ImageMap, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Run a network (or any callable) over `images` in batches, on the network's device, in eval mode."""
    module = net if isinstance(net, nn.Module) else None
    param = next(module.parameters(), None) if module is not None else None
    device = param.device if param is not None else images.device
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        out = [net(chunk.to(device)).float().cpu() for chunk in images.split(batch_size)]
    finally:
        if module is not None:
            module.train(was_training)
    return torch.cat(out)


def known_answer_report(G: ImageMap, F: ImageMap, size: int = 64, count: int = 64, seed: int = 0,
                        batch_size: int = 16) -> dict:
    """Translation accuracy of G (should be T) and F (should be T^-1) on held-out pictures.

    Returns PSNR(G(x), T(x)) and PSNR(F(y), T^-1(y)) beside the do-nothing baselines
    PSNR(x, T(x)) and PSNR(y, T^-1(y)), in dB on [0, 1]-scaled images.
    """
    x, y = heldout_pairs(size, count, seed)
    scores = known_answer_scores(x, y, _translate(G, x, batch_size), _translate(F, y, batch_size))
    return {**scores, "count": count, "size": size}


def known_answer_scores(x: torch.Tensor, y: torch.Tensor, fake_y: torch.Tensor, fake_x: torch.Tensor) -> dict:
    """PSNR of G(x) = `fake_y` against T(x) and of F(y) = `fake_x` against T^-1(y), with the
    do-nothing baselines PSNR(x, T(x)) and PSNR(y, T^-1(y)); NCHW batches in [-1, 1]."""
    tx, ty = transform(x), inverse_transform(y)
    return {"psnr_G": mean_psnr(fake_y, tx), "psnr_F": mean_psnr(fake_x, ty), "baseline_G": mean_psnr(x, tx),
            "baseline_F": mean_psnr(y, ty)}


def format_report(report: dict) -> str:
    """A few lines for people: each generator's PSNR, the do-nothing baseline and the gain."""
    lines = [f"known-answer accuracy on {report['count']} held-out {report['size']}x{report['size']} pictures "
             f"(PSNR in dB on [0, 1] images, higher is better):"]
    for net, ours, base, what in (("G", "psnr_G", "baseline_G", "X->Y, target T(x)   "),
                                  ("F", "psnr_F", "baseline_F", "Y->X, target T^-1(y)")):
        gain = report[ours] - report[base]
        lines.append(f"  {net}: {what}  {report[ours]:6.2f} dB   do-nothing {report[base]:6.2f} dB   "
                     f"gain {gain:+6.2f} dB")
    return "\n".join(lines)
