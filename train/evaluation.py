"""Evaluation while training: fixed held-out pictures, the generators' outputs on them, and numbers
that say whether a run is still improving.

    heldout = heldout_set(config)           # once, at the start: the same pictures at every evaluation
    outputs = translate(G, F, heldout)      # eval mode, no grad, global RNG and train mode left as they were
    numbers = measures(outputs)             # or evaluate(G, F, heldout) for both steps

Folder runs take their pictures from testA/ and testB/ when those hold images, else a few training
images, spread evenly over the sorted files (then they are also seen in training). The built-in
run takes known_answer.heldout_pairs, which never occur in training and have a known answer.
"""
from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn

from .config import TrainConfig
from .data import ImageFolder, domain_folders, to_tensor
from .images import find_images
from .known_answer import heldout_pairs, known_answer_scores, mean_psnr
from .losses import CycleImages
from .networks import side_multiple
from .preprocess import Preprocess
from .rng_state import capture_rng, restore_rng
from .swd import sliced_wasserstein

HELDOUT_STREAM = 0x6576616C  # the fixed crops of held-out folder pictures: apart from the training items' streams
SAMPLE_PICTURES = 4  # held-out pictures per domain shown in each sample grid
EVAL_BATCH = 8  # pictures per forward pass


@dataclass(frozen=True)
class HeldOut:
    """The pictures every evaluation of a run looks at (CHW tensors in [-1, 1] on the CPU)."""

    x: list[torch.Tensor]  # domain X
    y: list[torch.Tensor]  # domain Y
    sources: tuple[str, str]  # where each domain's pictures come from, for the report
    known_answer: bool  # y is T(other pictures): G and F can be scored against T and T^-1

    @cached_property
    def swd_baseline(self) -> float | None:
        """The patch distance between X and Y themselves (what doing nothing scores); None when the
        domains' channels differ."""
        return sliced_wasserstein(self.x, self.y) if self.x[0].shape[0] == self.y[0].shape[0] else None


def eval_interval(config: TrainConfig) -> int:
    """Steps between evaluations: --eval-every, which defaults to --sample-every; 0 turns them off."""
    return config.sample_every if config.eval_every is None else config.eval_every


def spread(total: int, count: int) -> list[int]:
    """`count` indices (at most `total`) spread evenly over range(total), first and last included."""
    return sorted({int(i) for i in np.linspace(0, total - 1, min(total, count)).round()})


def _fixed_crop(folder: ImageFolder, index: int, preprocess: Preprocess, seed: int) -> torch.Tensor:
    """Picture `index` of `folder`, resized and cropped as in training, at a place fixed by (seed, index)."""
    return to_tensor(preprocess(folder.load(index)[0], np.random.default_rng((HELDOUT_STREAM, seed, index))))


def heldout_set(config: TrainConfig) -> HeldOut:
    """Up to `config.eval_images` pictures per domain, chosen and cropped the same way every time.
    Raises DataError when a folder cannot be read."""
    if not config.data:
        x, y = heldout_pairs(config.crop_size, config.eval_images, config.seed)
        return HeldOut(list(x), list(y), ("built-in held-out pictures",) * 2, known_answer=True)
    root = Path(config.data)
    preprocess = Preprocess(config.preprocess, config.load_size, config.crop_size, flip=False,
                            side_multiple=side_multiple(config.generator))
    domains, sources = [], []
    for test, train, channels in zip(domain_folders(root, config.direction, "test"),
                                     domain_folders(root, config.direction, "train"),
                                     (config.input_nc, config.output_nc)):
        if find_images(test):
            folder = ImageFolder(test, root, "test", channels, None)
            sources.append(f"{test} (not used in training)")
        else:
            folder = ImageFolder(train, root, "train", channels, config.max_dataset_size)
            sources.append(f"{train} (also seen in training: add {test.name}/ for unseen pictures)")
        domains.append([_fixed_crop(folder, i, preprocess, config.seed)
                        for i in spread(len(folder), config.eval_images)])
    return HeldOut(domains[0], domains[1], (sources[0], sources[1]), known_answer=False)


class Chain(NamedTuple):
    """One held-out picture through both generators (CHW tensors on the CPU)."""

    real: torch.Tensor  # x (or y)
    translated: torch.Tensor  # G(x) (or F(y))
    back: torch.Tensor  # F(G(x)) (or G(F(y)))
    identity: torch.Tensor | None  # F(x) (or G(y)); None when the domains' channels differ


class Outputs(NamedTuple):
    heldout: HeldOut
    x: list[Chain]  # x -> G(x) -> F(G(x)), and F(x)
    y: list[Chain]  # y -> F(y) -> G(F(y)), and G(y)

    def cycles(self, count: int = SAMPLE_PICTURES) -> list[CycleImages]:
        """The first `count` x and y pictures as one-picture CycleImages, for report.sample_grid."""
        return [CycleImages(cx.real[None], cy.real[None], cx.translated[None], cx.back[None], cy.translated[None],
                            cy.back[None]) for cx, cy in zip(self.x[:count], self.y[:count])]


@contextlib.contextmanager
def _inference(nets: Sequence[nn.Module]) -> Iterator[None]:
    """Eval mode (no dropout, batch-norm statistics untouched) and no grad; afterwards each net's mode
    and the global random generators are as they were, so evaluating never changes the training run."""
    modes, rng = [net.training for net in nets], capture_rng()
    try:
        for net in nets:
            net.eval()
        with torch.no_grad():
            yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)
        restore_rng(rng)


def _apply(net: nn.Module, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """`net` over every picture, batched among pictures of one size, on the net's device."""
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    out: list[torch.Tensor | None] = [None] * len(images)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        by_shape[tuple(image.shape)].append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), EVAL_BATCH):
            chunk = indices[start:start + EVAL_BATCH]
            batch = torch.stack([images[i] for i in chunk]).to(device)
            for i, result in zip(chunk, net(batch).float().cpu()):
                out[i] = result
    return out


def _chains(there: nn.Module, back: nn.Module, images: list[torch.Tensor], identity: bool) -> list[Chain]:
    translated = _apply(there, images)
    returned = _apply(back, translated)
    same = _apply(back, images) if identity else [None] * len(images)
    return [Chain(*parts) for parts in zip(images, translated, returned, same)]


def translate(G: nn.Module, F: nn.Module, heldout: HeldOut) -> Outputs:
    """G and F (bare modules, not DDP wrappers) on the held-out pictures."""
    identity = heldout.x[0].shape[0] == heldout.y[0].shape[0]
    with _inference((G, F)):
        return Outputs(heldout, _chains(G, F, heldout.x, identity), _chains(F, G, heldout.y, identity))


def _mean_psnr(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """known_answer.mean_psnr, averaged over pictures that may differ in size."""
    return float(np.mean([mean_psnr(p[None], q[None]) for p, q in zip(a, b)]))


def measures(outputs: Outputs) -> dict[str, float]:
    """Named numbers of one evaluation (PSNR in dB on [0, 1]-scaled pictures; SWD: lower is closer).

    psnr_cycle_X/Y: x vs F(G(x)), y vs G(F(y)); psnr_idt_X/Y: x vs F(x), y vs G(y) (same channels only);
    swd_G: G(X) vs Y, swd_F: F(Y) vs X, swd_baseline: X vs Y (doing nothing); built-in data adds
    known_answer.known_answer_scores: psnr_G, psnr_F and their do-nothing baselines.
    """
    heldout, cx, cy = outputs
    numbers = {"psnr_cycle_X": _mean_psnr(heldout.x, [c.back for c in cx]),
               "psnr_cycle_Y": _mean_psnr(heldout.y, [c.back for c in cy])}
    if cx[0].identity is not None:
        numbers["psnr_idt_X"] = _mean_psnr(heldout.x, [c.identity for c in cx])
        numbers["psnr_idt_Y"] = _mean_psnr(heldout.y, [c.identity for c in cy])
    numbers["swd_G"] = sliced_wasserstein([c.translated for c in cx], heldout.y)
    numbers["swd_F"] = sliced_wasserstein([c.translated for c in cy], heldout.x)
    if heldout.swd_baseline is not None:
        numbers["swd_baseline"] = heldout.swd_baseline
    if heldout.known_answer:
        numbers.update(known_answer_scores(torch.stack(heldout.x), torch.stack(heldout.y),
                                           torch.stack([c.translated for c in cx]),
                                           torch.stack([c.translated for c in cy])))
    return numbers


def evaluate(G: nn.Module, F: nn.Module, heldout: HeldOut) -> dict[str, float]:
    """The held-out measures of G and F now (see `measures`)."""
    return measures(translate(G, F, heldout))
