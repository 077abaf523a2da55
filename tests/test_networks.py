import math

import pytest
import torch

from cgan.train import DISCRIMINATORS, GENERATORS, create_discriminator, create_generator, side_multiple
from cgan.train.networks import ALIASES

# Parameter counts at ngf/ndf=8 from the official listings (tests/data/official_state_dicts/README.md);
# encoder_decoder and imageGAN are not in the official repo: counted from their definitions.
GEN_PARAMS_NGF8 = {"resnet_9blocks": 180_419, "resnet_6blocks": 124_931, "unet_256": 851_763,
                   "unet_128": 655_027}
DISC_PARAMS_NDF8 = {"basic": 44_537, "n_layers": 44_537, "pixel": 193}


def _count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_forward_keeps_shape_and_range(name):
    torch.manual_seed(0)
    net = create_generator(name, ngf=8).eval()
    side = max(side_multiple(name), 16)
    x = torch.rand(2, 3, side, side * 2) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert y.min() >= -1 and y.max() <= 1
    if name in GEN_PARAMS_NGF8:
        assert _count(net) == GEN_PARAMS_NGF8[name]


@pytest.mark.parametrize("name", list(GENERATORS))
@pytest.mark.parametrize("channels", [(1, 1), (1, 3), (3, 1)])
def test_generator_channels(name, channels):
    net = create_generator(name, input_nc=channels[0], output_nc=channels[1], ngf=4, norm="batch").eval()
    side = max(side_multiple(name), 16)
    with torch.no_grad():
        y = net(torch.zeros(1, channels[0], side, side))
    assert y.shape == (1, channels[1], side, side)


@pytest.mark.parametrize("padding", ["reflect", "replicate", "zero"])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_paddings_and_norms(padding, norm):
    net = create_generator("resnet_6blocks", ngf=4, norm=norm, padding=padding, dropout=True).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 12, 20)).shape == (1, 3, 12, 20)


def test_dropout_is_active_only_in_train_mode():
    torch.manual_seed(0)
    net = create_generator("unet_128", ngf=4, dropout=True)
    x = torch.rand(1, 3, 128, 128)
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


def _init_std(init, weight, gain=0.02):
    """The standard deviation each init gives a conv weight (out, in, kh, kw)."""
    fan_in, fan_out = weight[0].numel(), weight.shape[0] * weight[0, 0].numel()
    return {"normal": gain, "xavier": gain * math.sqrt(2 / (fan_in + fan_out)), "kaiming": math.sqrt(2 / fan_in),
            "orthogonal": gain / math.sqrt(fan_in)}[init]  # orthogonal: rows of norm `gain`


@pytest.mark.parametrize("init", ["normal", "xavier", "kaiming", "orthogonal"])
def test_each_init_gives_its_own_weight_scale_and_zero_biases(init):
    torch.manual_seed(0)
    net = create_discriminator("basic", ndf=8, init=init)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(torch.count_nonzero(c.bias) == 0 for c in convs if c.bias is not None)
    weight = max(convs, key=lambda c: c.weight.numel()).weight.detach()  # 32768 weights: a tight estimate
    assert float(weight.std()) == pytest.approx(_init_std(init, weight), rel=0.05)
    assert abs(float(weight.mean())) < 0.05 * _init_std(init, weight)
    if init == "orthogonal":
        rows = weight.flatten(1)
        assert torch.allclose(rows @ rows.T, 0.02**2 * torch.eye(len(rows)), atol=1e-6)


@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_discriminator_forward(name):
    net = create_discriminator(name, ndf=8)
    out = net(torch.rand(2, 3, 256, 256))
    expected = {"basic": (2, 1, 30, 30), "n_layers": (2, 1, 30, 30), "pixel": (2, 1, 256, 256),
                "imageGAN": (2, 1, 1, 1)}[name]
    assert out.shape == expected
    if name in DISC_PARAMS_NDF8:
        assert _count(net) == DISC_PARAMS_NDF8[name]


def test_image_gan_gives_one_score_at_any_multiple_of_128():
    net = create_discriminator("imageGAN", ndf=4)
    assert net(torch.rand(1, 3, 128, 384)).shape == (1, 1, 1, 1)


def test_n_layers_depth_changes_receptive_field():
    shallow = create_discriminator("n_layers", ndf=4, n_layers=2)
    deep = create_discriminator("n_layers", ndf=4, n_layers=4)
    x = torch.rand(1, 3, 64, 64)
    assert shallow(x).shape[-1] > deep(x).shape[-1]


def test_encoder_decoder_structure():
    net = create_generator("encoder_decoder", ngf=8, dropout=True)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64, 64, 64, 64, 64]
    assert [d.out_channels for d in deconvs] == [64, 64, 64, 64, 32, 16, 8, 3]
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3


def test_aliases_and_unknown_names():
    for alias, canonical in ALIASES.items():
        assert canonical in GENERATORS or canonical in DISCRIMINATORS
    assert isinstance(create_generator("unet128", ngf=4), type(create_generator("unet_128", ngf=4)))
    assert side_multiple("unet256") == 256
    with pytest.raises(ValueError, match="resnet_9blocks.*unet_128"):
        create_generator("resnet_99blocks")
    with pytest.raises(ValueError, match="basic.*pixel"):
        create_discriminator("patch")
    with pytest.raises(ValueError, match="instance, batch, none"):
        create_generator("resnet_6blocks", norm="group")


def test_side_multiples_are_what_the_nets_need():
    assert {n: side_multiple(n) for n in GENERATORS} == {
        "resnet_9blocks": 4, "resnet_6blocks": 4, "unet_256": 256, "unet_128": 128, "encoder_decoder": 256}
    net = create_generator("unet_128", ngf=4)
    assert net.side_multiple == 128
