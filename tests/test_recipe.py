"""The training recipe: residual (identity-start) generators, the weight average, and --recipe official."""
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from cgan.export.onnx_export import export_generator
from cgan.infer.metadata import INPUT_NAME, ModelInfo
from cgan.train import create_discriminator, create_generator
from cgan.train.checkpoint import checkpoint_state, generator_from_checkpoint, restore_checkpoint
from cgan.train.config import RECIPES, TrainConfig, make_config
from cgan.train.ema import WeightAverage
from cgan.train.networks import DISCRIMINATORS, GENERATORS
from cgan.train.trainer import Trainer

SIDE = {"resnet_9blocks": 16, "resnet_6blocks": 16, "unet_128": 128, "unet_256": 256, "encoder_decoder": 256}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_a_residual_generator_starts_as_the_identity_around_the_official_modules(name):
    torch.manual_seed(0)
    x = torch.rand(1, 3, SIDE[name], SIDE[name]) * 2 - 1
    plain = create_generator(name, ngf=4)
    residual = create_generator(name, ngf=4, residual=True)
    pointwise = create_generator(name, ngf=4, residual=True, pointwise=True)
    assert plain.state_dict().keys() == residual.state_dict().keys()
    extra = pointwise.state_dict().keys() - plain.state_dict().keys()
    assert extra and all(k.startswith("pointwise.") for k in extra)
    with torch.no_grad():
        assert torch.equal(residual(x), x) and torch.equal(pointwise(x), x)
        assert not torch.allclose(plain(x), x, atol=0.1)


@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_a_colour_judge_starts_at_zero_beside_the_official_discriminator(name):
    side = {"imageGAN": 128}.get(name, 64)
    x = torch.rand(2, 3, side, side) * 2 - 1
    torch.manual_seed(0)
    plain = create_discriminator(name, ndf=4)
    torch.manual_seed(0)
    judged = create_discriminator(name, ndf=4, colour_judge=True)
    extra = judged.state_dict().keys() - plain.state_dict().keys()
    assert extra and all(k.startswith("colour_judge.") for k in extra)
    assert plain.state_dict().keys() <= judged.state_dict().keys()
    with torch.no_grad():
        assert torch.equal(judged(x), plain(x))
        torch.nn.init.normal_(judged.colour_judge[-1].weight)  # a judge that has learned something
        scores, plain_scores = judged(x), plain(x)
        per_pixel = judged.colour_judge(x)
    assert scores.shape == plain_scores.shape
    # each patch score gains the mean of its pixels' colour scores
    expected = plain_scores + torch.nn.functional.adaptive_avg_pool2d(per_pixel, scores.shape[-2:])
    assert torch.allclose(scores, expected, atol=1e-6) and not torch.allclose(scores, plain_scores)


@pytest.mark.parametrize("channels", [(1, 3), (3, 1)])
def test_a_residual_generator_between_grey_and_colour_starts_from_the_matched_input(channels):
    net = create_generator("resnet_6blocks", *channels, ngf=4, residual=True, pointwise=True)
    x = torch.rand(2, channels[0], 16, 16) * 2 - 1
    with torch.no_grad():
        out = net(x)
    expected = x.expand(-1, 3, -1, -1) if channels[0] == 1 else x.mean(1, keepdim=True)
    assert out.shape == (2, channels[1], 16, 16) and torch.allclose(out, expected)


def test_the_residual_is_in_the_exported_graph(tmp_path):
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4, residual=True, pointwise=True).eval()
    with torch.no_grad():  # move off the identity so the test can tell the graph apart from a copy
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    info = ModelInfo(direction="G", source_domain="A", target_domain="B", generator="resnet_6blocks", ngf=4,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=4, train_size=16,
                     checkpoint_sha256="ab" * 32)
    export_generator(net, tmp_path / "G.onnx", info)
    x = (np.random.default_rng(0).random((1, 3, 20, 24), dtype=np.float32) * 2 - 1)
    got = ort.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {INPUT_NAME: x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 1e-4 and np.abs(want - x).max() > 0.01


def blur_taps(side: int) -> torch.Tensor:
    """A binomial blur of `side` taps per channel, less the identity: what a spatial filter holds to blur."""
    row = torch.tensor([float(math.comb(side - 1, k)) for k in range(side)])
    kernel = row[:, None] * row[None, :] / row.sum() ** 2
    kernel[side // 2, side // 2] -= 1
    return kernel.expand(3, 1, side, side).clone()


@pytest.mark.parametrize("channels", [(3, 3), (1, 3), (3, 1)])
def test_a_spatial_filter_starts_at_zero_changes_detail_and_leaves_flat_colours_alone(channels):
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", *channels, ngf=4, residual=True, pointwise=True, spatial_filter=5)
    extra = net.state_dict().keys() - create_generator("resnet_6blocks", *channels, ngf=4, residual=True,
                                                       pointwise=True).state_dict().keys()
    assert extra == {"spatial_filter.weight"}
    x = torch.rand(2, channels[0], 16, 16) * 2 - 1
    flat = torch.full((1, channels[0], 16, 16), 0.3)
    with torch.no_grad():
        start = net(x)
        torch.nn.init.normal_(net.spatial_filter.weight)  # any taps: their mean is taken out
        assert torch.allclose(net(flat), net.model(flat) * 2 + net.pointwise(flat) + match(flat, channels[1]),
                              atol=1e-6)
    assert torch.allclose(start, match(x, channels[1]))


def match(x, channels):
    return x.expand(-1, 3, -1, -1) if x.shape[1] < channels else x.mean(1, keepdim=True) if x.shape[1] > channels else x


def test_a_spatial_filter_holding_a_blur_blurs_and_is_in_the_exported_graph(tmp_path):
    net = create_generator("resnet_6blocks", ngf=4, residual=True, pointwise=True, spatial_filter=5).eval()
    with torch.no_grad():
        net.spatial_filter.weight.copy_(blur_taps(5))
    x = torch.rand(1, 3, 24, 24) * 2 - 1
    with torch.no_grad():
        out = net(x)
    fine = lambda im: (im[..., 1:, :] - im[..., :-1, :]).abs().mean()  # noqa: E731
    assert fine(out) < 0.6 * fine(x) and torch.allclose(out.mean(), x.mean(), atol=0.02)
    info = ModelInfo(direction="G", source_domain="A", target_domain="B", generator="resnet_6blocks", ngf=4,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=4, train_size=16,
                     checkpoint_sha256="ab" * 32)
    export_generator(net, tmp_path / "G.onnx", info)
    got = ort.InferenceSession(str(tmp_path / "G.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {INPUT_NAME: x.numpy()})[0]
    assert np.abs(got - out.numpy()).max() < 1e-4


def test_the_weight_average_moves_towards_the_weights_with_a_warming_decay():
    net = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    average = WeightAverage(net, decay=0.99)
    torch.nn.init.ones_(net.weight)
    average.update(net)  # first decay: min(0.99, 2 / 11)
    assert torch.allclose(average.net.weight, torch.full((1, 2), 1 - 2 / 11))
    for _ in range(2000):
        average.update(net)
    assert torch.allclose(average.net.weight, torch.ones(1, 2), atol=1e-6)
    assert not average.net.weight.requires_grad


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, "y": torch.rand(1, 3, 32, 32, generator=g) * 2 - 1}


def test_samples_and_exports_use_the_average_and_checkpoints_keep_it():
    config = make_config({}, {"ngf": 4, "ndf": 4, "crop_size": 32, "ema": 0.9})
    trainer = Trainer(config)
    for k in range(3):
        trainer.train_step(_batch(k))
    raw, shown = trainer.nets["G"].state_dict(), trainer.generator("G").state_dict()
    assert any(not torch.equal(raw[k], shown[k]) for k in raw)
    state = checkpoint_state(trainer)
    exported = generator_from_checkpoint(state, "G").state_dict()
    assert all(torch.equal(exported[k], shown[k]) for k in shown)
    again = Trainer(config)
    restore_checkpoint(again, state)
    assert all(torch.equal(again.generator("F").state_dict()[k], v) for k, v in trainer.generator("F").state_dict().items())


def test_recipe_official_restores_the_official_defaults_and_options_still_win(tmp_path):
    ours = make_config({}, {"data": str(tmp_path)})
    official = make_config({}, {"data": str(tmp_path), "recipe": "official"})
    assert RECIPES["official"] and all(getattr(official, k) == v for k, v in RECIPES["official"].items())
    assert any(getattr(ours, k) != v for k, v in RECIPES["official"].items())
    official_defaults = {"generator": "resnet_9blocks", "ngf": 64, "lr": 2e-4, "beta1": 0.5, "pool_size": 50,
                         "lambda_x": 10.0, "lambda_identity": 0.5, "gan_loss": "lsgan", "load_size": 286,
                         "crop_size": 256, "batch_size": 1, "residual": False, "pointwise": False,
                         "colour_judge": False, "ema": 0.0}
    assert {k: getattr(official, k) for k in official_defaults} == official_defaults
    assert make_config({}, {"data": str(tmp_path), "recipe": "official", "ema": 0.5}).ema == 0.5
    assert make_config({"recipe": "official"}, {"data": str(tmp_path)}).residual is False
    assert TrainConfig().recipe == "cgan"
