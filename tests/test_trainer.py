import copy
from dataclasses import replace

import pytest
import torch

from cgan.train.checkpoint import (checkpoint_state, generator_from_checkpoint, load_checkpoint, restore_checkpoint,
                                   save_checkpoint)
from cgan.train.config import TrainConfig
from cgan.train.losses import GAN_LOSSES, generator_loss
from cgan.train.precision import Amp, resolve_precision
from cgan.train.trainer import Trainer


def tiny(**kw) -> TrainConfig:
    base = dict(generator="resnet_6blocks", discriminator="pixel", ngf=4, ndf=4, crop_size=16, load_size=16,
                pool_size=2)
    return TrainConfig(**{**base, **kw})


def batches(n=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        coarse = torch.rand(1, 3, 4, 4, generator=g) * 2 - 1
        x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        out.append({"x": x, "y": (x.flip(1) * 0.8).clamp(-1, 1)})  # Y: X with colours swapped and darker
    return out


def cycle_loss(trainer, batch):
    with torch.no_grad():
        images = trainer.cycle(batch["x"], batch["y"])
        terms = generator_loss(images, torch.ones(1), torch.ones(1), lambda_identity=0)
    return (terms["cycle_X"] + terms["cycle_Y"]).item()


def test_a_few_steps_lower_the_cycle_loss():
    trainer = Trainer(tiny(lr=2e-3, residual=False))  # a residual generator starts with no cycle loss at all
    data = batches()
    before = sum(cycle_loss(trainer, b) for b in data)
    for i in range(20):
        trainer.train_step(data[i % 2])
    after = sum(cycle_loss(trainer, b) for b in data)
    assert after < 0.9 * before
    assert trainer.step == 20 and trainer.batch_in_epoch == 20


@pytest.mark.parametrize("gan", list(GAN_LOSSES))
def test_every_gan_loss_trains_and_logs_every_term(gan):
    # the 70x70 PatchGAN needs 32 px to leave a 2x2 map
    losses = Trainer(tiny(gan_loss=gan, discriminator="basic", crop_size=32, lambda_identity=0.5)).train_step(
        batches(1, size=32)[0])
    expected = {"gan_G", "gan_F", "cycle_X", "cycle_Y", "idt_X", "idt_Y", "G_total", "D_X", "D_Y",
                "D_X_real", "D_X_fake", "D_Y_real", "D_Y_fake"}
    assert expected <= set(losses)
    assert ("D_X_gp" in losses) == (gan == "wgangp")
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


class SpyAmp(Amp):
    """fp32, and after each optimizer step: are D_X's weights as before, and its gradients unset?"""

    def __init__(self, trainer_ref, d_before, calls):
        super().__init__(resolve_precision("fp32", torch.device("cpu")))
        self.trainer_ref, self.d_before, self.calls = trainer_ref, d_before, calls

    def step(self, optimizer):
        super().step(optimizer)
        trainer = self.trainer_ref[0]
        if optimizer is trainer.optimizers["G"]:  # right after the generator update, before the D update
            D_X = trainer.nets["D_X"]
            self.calls.append(all(torch.equal(a, b) for a, b in zip(self.d_before, D_X.parameters())))
            self.calls.append(all(p.grad is None for p in D_X.parameters()))


def test_generator_step_leaves_discriminators_untouched_and_unfrozen():
    trainer_ref, calls = [], []
    d_before = [p.clone() for p in Trainer(tiny(pool_size=0)).nets["D_X"].parameters()]  # same seed, same init
    trainer = Trainer(tiny(pool_size=0), amp=SpyAmp(trainer_ref, d_before, calls))
    trainer_ref.append(trainer)
    trainer.train_step(batches(1)[0])
    assert calls == [True, True]
    assert all(p.requires_grad for p in trainer.nets["D_X"].parameters())
    assert not all(torch.equal(a, b) for a, b in zip(d_before, trainer.nets["D_X"].parameters()))


def test_checkpoint_reloads_into_identical_nets_and_continues_identically(tmp_path):
    config = tiny(lambda_identity=0.5, pool_size=1, ema=0.9)
    a = Trainer(config)
    data = batches(3)
    for b in data:
        a.train_step(b)
    a.end_epoch()
    path = save_checkpoint(tmp_path / "latest.pt", checkpoint_state(a))
    state = load_checkpoint(path, resume=True)  # weights_only load, every section checked
    b = Trainer(tiny(lambda_identity=0.5, pool_size=1, ema=0.9, seed=123))  # different init, overwritten by the load
    restore_checkpoint(b, state)
    for name in a.nets:
        for (ka, va), (kb, vb) in zip(a.nets[name].state_dict().items(), b.nets[name].state_dict().items()):
            assert ka == kb and torch.equal(va, vb), (name, ka)
    assert (b.step, b.epoch, b.batch_in_epoch) == (3, 1, 0)
    # optimizers, schedulers and pools came along: the next steps match exactly (each from the same global
    # random state, which a resumed process restores: colour matching draws its projections from it)
    rng = torch.get_rng_state()
    for batch in data:
        a.train_step(batch)
    torch.set_rng_state(rng)
    for batch in data:
        b.train_step(batch)
    for name in a.nets:
        for pa, pb in zip(a.nets[name].parameters(), b.nets[name].parameters()):
            assert torch.equal(pa, pb), name
    assert a.lr == b.lr
    for name in ("G", "F"):  # the weight averages too
        for pa, pb in zip(a.generator(name).parameters(), b.generator(name).parameters()):
            assert torch.equal(pa, pb), name

    G = generator_from_checkpoint(state, "G")
    F = generator_from_checkpoint(state, "F")
    x = data[0]["x"]
    reference = Trainer(config)
    restore_checkpoint(reference, state)
    with torch.no_grad():
        assert torch.equal(G(x), reference.generator("G")(x))  # export takes the weight average
        assert torch.equal(F(x), reference.generator("F")(x))
    assert {"name", "generator", "ngf", "norm", "dropout", "padding", "input_nc", "output_nc", "crop_size",
            "domain_x", "domain_y"} <= set(state["config"])


def test_state_dict_and_rank_state_carry_a_trainer_over_exactly():
    config = tiny(colour_match=1.0, colour_pool=64, ema=0.9, dropout=True)  # every section, and dropout's draws
    a, data = Trainer(config), batches(3)
    for batch in data[:2]:
        a.train_step(batch)
    state, rank = copy.deepcopy(a.state_dict()), a.rank_state(is_main=True)  # state_dict shares a's tensors
    assert "pools" not in rank and set(a.rank_state(is_main=False)) == {"rng", "pools", "colour_pools"}
    a.train_step(data[2])
    b = Trainer(replace(config, seed=7))  # other weights, pools and draws until the load
    b.load_state_dict(state)
    b.load_rank_state(rank)
    b.train_step(data[2])
    assert (b.step, b.batch_in_epoch) == (a.step, a.batch_in_epoch) == (3, 3)
    for name in a.nets:
        for pa, pb in zip(a.nets[name].parameters(), b.nets[name].parameters()):
            assert torch.equal(pa, pb), name
    for section in ("pools", "colour_pools"):
        for domain in ("X", "Y"):
            assert torch.equal(getattr(a, section)[domain].state_dict()["images"],
                               getattr(b, section)[domain].state_dict()["images"]), (section, domain)


def test_identity_off_skips_identity_forwards():
    trainer = Trainer(tiny(lambda_identity=0))
    losses = trainer.train_step(batches(1)[0])
    assert "idt_X" not in losses and trainer.last_images.idt_x is None
