"""What a real-photo task allows, beside what the unpaired recipe reaches: two references.

- The *paired ceiling*: the same generators (train's own builder, optimizer groups, schedule and
  precision, from the same config), the same training crops and steps, trained supervised: L1 of
  G(x) to the true look of x and of F(y) to the picture y came from. What the nets can carry.
- The *unpaired oracle* (parametric colour grades only): the grade's own form with free parameters,
  fitted by matching colour distributions (sliced Wasserstein between the colours of all training
  pixels of X through the fit and those of Y), then scored on the held-out crops; F is the fit's
  numeric inverse. What the unpaired colours can tell: X and Y are crops of different places, so
  their colours differ beyond the grade and even the right form cannot recover it exactly.
Both return the known-answer figures of a run: psnr_G, psnr_F, baseline_G, baseline_F.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as tf

from cgan.train.config import TrainConfig
from cgan.train.data import to_tensor
from cgan.train.device import resolve_device
from cgan.train.known_answer import mean_psnr
from cgan.train.networks import side_multiple
from cgan.train.precision import Amp, float_outputs, resolve_precision
from cgan.train.preprocess import Preprocess
from cgan.train.trainer import Trainer, unwrap

from .colour_grades import Grade
from .photo_task import Look, eight_bit, held_out, training_crops

FIT_STEPS = 300  # Adam steps of one oracle fit
FIT_RESTARTS = 3  # fits per oracle: from doing nothing, then from random grades of the same form
FIT_PIXELS = 4096  # pixels per domain drawn afresh at each fit step
FIT_DIRECTIONS = 32  # random projections per fit step
JUDGE_PIXELS = 32768  # fixed pixels per domain on which the restarts are compared ...
JUDGE_DIRECTIONS = 128  # ... along fixed projections
INVERSE_STEPS = 300  # Adam steps of the per-pixel numeric inverse


def _known_answer(g_out: torch.Tensor, f_out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict:
    return {"psnr_G": mean_psnr(g_out, y), "psnr_F": mean_psnr(f_out, x), "baseline_G": mean_psnr(x, y),
            "baseline_F": mean_psnr(y, x)}


# --- paired ceiling ---------------------------------------------------------------------------------
def paired_pairs(look: Look, data_seed: int = 0) -> dict[str, np.ndarray]:
    """Per generator, its training pairs stacked as N x H x W x 6 (input, then answer) in [0, 1]: G gets
    the X crops and their look, F the Y crops (as trainB holds them) and the crops they came from."""
    x, y_raw = training_crops(data_seed)
    return {"G": np.concatenate([x, eight_bit(look(x))], axis=-1),
            "F": np.concatenate([eight_bit(look(y_raw)), y_raw], axis=-1)}


def paired_ceiling(config: TrainConfig, look: Look, data_seed: int = 0) -> dict:
    """Train G and F supervised for config.max_steps steps as `config` would train them unpaired."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    trainer = Trainer(config, device, Amp(resolve_precision(config.precision, device)), prepare_net=float_outputs)
    pairs = paired_pairs(look, data_seed)
    preprocess = Preprocess(config.preprocess, config.load_size, config.crop_size, not config.no_flip,
                            side_multiple(config.generator))
    rng = np.random.default_rng((config.seed, 0x70616972))
    steps_per_epoch = len(pairs["G"]) // config.batch_size
    start = time.perf_counter()
    trainer.train()
    while trainer.step < config.max_steps:
        batch = {name: torch.stack([to_tensor(np.ascontiguousarray(preprocess(pairs[name][i], rng)))
                                    for i in rng.integers(len(pairs[name]), size=config.batch_size)]).to(device)
                 for name in ("G", "F")}
        with trainer.amp.autocast():
            loss = sum(tf.l1_loss(trainer.nets[name](batch[name][:, :3]), batch[name][:, 3:]) for name in ("G", "F"))
        trainer.optimize(loss, trainer.optimizers["G"])
        for name, average in trainer.averages.items():
            average.update(unwrap(trainer.nets[name]))
        trainer.step += 1
        trainer.batch_in_epoch += 1
        trainer.epoch_loss_sum += float(loss.detach())
        if trainer.batch_in_epoch >= steps_per_epoch:
            trainer.end_epoch()
    seconds = time.perf_counter() - start
    x, y = (torch.from_numpy(a).to(device) for a in held_out(look, data_seed))
    G, F = (trainer.generator(name).eval() for name in ("G", "F"))
    with torch.no_grad():
        return {**_known_answer(G(x), F(y), x, y), "steps": trainer.step, "seconds": seconds}


# --- unpaired oracle --------------------------------------------------------------------------------
def sliced_wasserstein2(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Mean over unit `directions` (3 x K) of the squared 1-D Wasserstein-2 distance between the projected
    colours of `a` and `b` (equal-sized N x 3 sets); differentiable in `a`.

    Each projected colour of `a` is pulled towards the colour of `b` of the same rank, which is the
    distance's gradient; the ranks come from numpy, whose sort is several times faster than torch's on CPU."""
    pa = (a @ directions).T  # K x N
    with torch.no_grad():
        order = np.argsort(pa.numpy(), axis=1)
        matched = np.empty_like(order, dtype=np.float32)
        np.put_along_axis(matched, order, np.sort((b @ directions).T.numpy(), axis=1), axis=1)
    return (pa - torch.from_numpy(matched)).pow(2).mean()


def _unit_directions(count: int, generator: torch.Generator) -> torch.Tensor:
    d = torch.randn(3, count, generator=generator)
    return d / d.norm(dim=0, keepdim=True)


def fit_grade(start: Grade, x: torch.Tensor, y: torch.Tensor, seed: int, steps: int = FIT_STEPS) -> Grade:
    """`start`'s form with its parameters moved so that the colours of x (N x 3) through it match those of
    y (M x 3) in sliced Wasserstein distance; Adam with a cosine-decayed rate, fresh pixels and
    projections every step."""
    generator = torch.Generator().manual_seed(seed)
    params = start.tensors(requires_grad=True)
    optimizer = torch.optim.Adam([p for kind in params.values() for p in kind.values()], lr=0.02)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        pick_x = torch.randint(len(x), (FIT_PIXELS,), generator=generator)
        pick_y = torch.randint(len(y), (FIT_PIXELS,), generator=generator)
        loss = sliced_wasserstein2(Grade.apply_tensors(params, x[pick_x]), y[pick_y],
                                   _unit_directions(FIT_DIRECTIONS, generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return Grade({k: {n: v.detach().tolist() for n, v in p.items()} for k, p in params.items()})


def colour_distance(grade: Grade, x: torch.Tensor, y: torch.Tensor) -> float:
    """A fixed sliced Wasserstein distance between x through `grade` and y: what chooses among restarts."""
    generator = torch.Generator().manual_seed(0)
    pick_x = torch.randint(len(x), (JUDGE_PIXELS,), generator=generator)
    pick_y = torch.randint(len(y), (JUDGE_PIXELS,), generator=generator)
    with torch.no_grad():
        return float(sliced_wasserstein2(Grade.apply_tensors(grade.tensors(), x[pick_x]), y[pick_y],
                                         _unit_directions(JUDGE_DIRECTIONS, generator)))


def fit_unpaired(form: Grade, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
                 restarts: int = FIT_RESTARTS, steps: int = FIT_STEPS) -> Grade:
    """The best of `restarts` fits of `form` (its kinds; its values are not looked at) mapping the
    colours x onto y: the first starts from doing nothing, the others from random grades of the form."""
    rng = np.random.default_rng((seed, 0x6F72))
    starts = [form.identity()] + [Grade.draw(list(form.params), rng) for _ in range(restarts - 1)]
    fits = [fit_grade(start, x, y, seed + k, steps) for k, start in enumerate(starts)]
    return min(fits, key=lambda fit: colour_distance(fit, x, y))


def invert(grade: Grade, y: torch.Tensor, steps: int = INVERSE_STEPS) -> torch.Tensor:
    """Per pixel, a colour in [0, 1] that `grade` maps closest to y (..., 3): Adam from y itself."""
    params = grade.tensors()
    x = y.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.02)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        loss = (Grade.apply_tensors(params, x) - y).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def unpaired_oracle(grade: Grade, data_seed: int = 0, seed: int = 0) -> dict:
    """Fit `grade`'s form on the task's training pixels (X: crops, Y: other crops through `grade`) and score
    the fit (G) and its inverse (F) on the held-out crops. Also returns the fitted grade's description."""
    start = time.perf_counter()
    x_crops, y_raw = training_crops(data_seed)
    x, y = (torch.from_numpy(np.asarray(a, np.float32).reshape(-1, 3)) for a in (x_crops, eight_bit(grade(y_raw))))
    fitted = fit_unpaired(grade, x, y, seed)
    hx, hy = (torch.from_numpy(a) for a in held_out(grade, data_seed))
    pixels = [(h.permute(0, 2, 3, 1) + 1) / 2 for h in (hx, hy)]  # NHWC in [0, 1]
    with torch.no_grad():
        g_out = Grade.apply_tensors(fitted.tensors(), pixels[0])
    f_out = invert(fitted, pixels[1])
    nets_view = [(t * 2 - 1).permute(0, 3, 1, 2) for t in (g_out, f_out)]
    return {**_known_answer(*nets_view, hx, hy), "fitted": fitted.describe(), "seconds": time.perf_counter() - start}
