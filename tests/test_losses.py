import pytest
import torch
import torch.nn as nn

from cgan.train.losses import GAN_LOSSES, CycleImages, discriminator_loss, generator_loss, gradient_penalty


def images(identity=True):
    g = torch.Generator().manual_seed(0)
    t = lambda: torch.rand(2, 3, 4, 4, generator=g) * 2 - 1  # noqa: E731
    return CycleImages(real_x=t(), real_y=t(), fake_y=t(), rec_x=t(), fake_x=t(), rec_y=t(),
                       idt_y=t() if identity else None, idt_x=t() if identity else None)


def l1(a, b):
    return sum(abs(p - q) for p, q in zip(a.flatten().tolist(), b.flatten().tolist())) / a.numel()


def test_generator_terms_match_hand_computation_lsgan():
    im = images()
    d_fake_y, d_fake_x = torch.tensor([[0.2, 0.6]]), torch.tensor([[[1.5]]])
    terms = generator_loss(im, d_fake_y, d_fake_x, "lsgan", lambda_x=10.0, lambda_y=5.0, lambda_identity=0.5)
    assert terms["gan_G"].item() == pytest.approx(((0.2 - 1) ** 2 + (0.6 - 1) ** 2) / 2)
    assert terms["gan_F"].item() == pytest.approx((1.5 - 1) ** 2)
    assert terms["cycle_X"].item() == pytest.approx(10.0 * l1(im.rec_x, im.real_x), rel=1e-5)
    assert terms["cycle_Y"].item() == pytest.approx(5.0 * l1(im.rec_y, im.real_y), rel=1e-5)
    # lambda_id * (lambda_y |G(y) - y| + lambda_x |F(x) - x|), split by domain
    assert terms["idt_Y"].item() == pytest.approx(0.5 * 5.0 * l1(im.idt_y, im.real_y), rel=1e-5)
    assert terms["idt_X"].item() == pytest.approx(0.5 * 10.0 * l1(im.idt_x, im.real_x), rel=1e-5)
    parts = [v.item() for k, v in terms.items() if k != "total"]
    assert terms["total"].item() == pytest.approx(sum(parts), rel=1e-6)


def test_identity_off_leaves_identity_terms_out():
    terms = generator_loss(images(identity=False), torch.zeros(1), torch.zeros(1), lambda_identity=0)
    assert set(terms) == {"gan_G", "gan_F", "cycle_X", "cycle_Y", "total"}
    with pytest.raises(ValueError, match="identity"):
        generator_loss(images(identity=False), torch.zeros(1), torch.zeros(1), lambda_identity=0.5)


@pytest.mark.parametrize("pred", [0.3, -2.0])
def test_generator_gan_term_per_mode(pred):
    p = torch.full((1, 1, 2, 2), pred)
    expected = {
        "lsgan": (pred - 1) ** 2,
        "vanilla": -torch.log(torch.sigmoid(torch.tensor(pred))).item(),
        "wgangp": -pred,
        "hinge": -pred,
    }
    for name, value in expected.items():
        assert GAN_LOSSES[name].generator(p).item() == pytest.approx(value, rel=1e-5), name


class Constant(nn.Module):
    """A 'discriminator' whose output on an image is the image's mean times `scale`, as a 1x1 map."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return (x.mean(dim=(1, 2, 3)) * self.scale).view(-1, 1, 1, 1)


@pytest.mark.parametrize("gan", ["lsgan", "vanilla", "hinge"])
def test_discriminator_loss_is_half_real_plus_fake(gan):
    real, fake = torch.full((1, 3, 2, 2), 0.5), torch.full((1, 3, 2, 2), -0.25)
    terms = discriminator_loss(Constant(), real, fake, gan)
    r, f = 0.5, -0.25
    hand = {
        "lsgan": ((r - 1) ** 2, f ** 2),
        "vanilla": (-torch.log(torch.sigmoid(torch.tensor(r))).item(),
                    -torch.log(1 - torch.sigmoid(torch.tensor(f))).item()),
        "hinge": (max(0, 1 - r), max(0, 1 + f)),
    }[gan]
    assert terms["real"].item() == pytest.approx(hand[0], rel=1e-5)
    assert terms["fake"].item() == pytest.approx(hand[1], rel=1e-5)
    assert terms["total"].item() == pytest.approx(0.5 * (hand[0] + hand[1]), rel=1e-5)
    assert "gp" not in terms


def test_targets_expand_to_patch_maps():
    pred = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]]]])
    assert GAN_LOSSES["lsgan"].real(pred).item() == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert GAN_LOSSES["lsgan"].fake(pred).item() == pytest.approx((0 + 1 + 4 + 1) / 4)


def test_wgangp_applies_the_gradient_penalty():
    # D(x) = scale * mean(x): its gradient w.r.t. x is scale / numel everywhere, whatever the mix
    real, fake = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
    d = Constant(scale=24.0)
    grad_norm = 24.0 / 12 * (12 ** 0.5)
    assert gradient_penalty(d, real, fake).item() == pytest.approx((grad_norm - 1) ** 2, rel=1e-5)
    terms = discriminator_loss(d, real, fake, "wgangp")
    assert terms["gp"].item() == pytest.approx(10 * (grad_norm - 1) ** 2, rel=1e-5)
    wasserstein = 0.5 * (-d(real).mean() + d(fake).mean()).item()
    assert terms["total"].item() == pytest.approx(wasserstein + terms["gp"].item(), rel=1e-5)
    terms["total"].backward()  # the penalty reaches D's parameters
    assert d.scale.grad is not None and d.scale.grad.abs().item() > 0


def test_discriminator_loss_does_not_reach_the_generator():
    fake = torch.rand(1, 3, 2, 2, requires_grad=True)
    discriminator_loss(Constant(), torch.rand(1, 3, 2, 2), fake, "lsgan")["total"].backward()
    assert fake.grad is None


def test_unknown_gan_loss_names_the_choices():
    with pytest.raises(ValueError, match="lsgan, vanilla, wgangp, hinge"):
        discriminator_loss(Constant(), torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), "nope")
