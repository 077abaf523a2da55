"""--colour-match: the colour maps match pooled colour distributions of X and Y (sliced Wasserstein)."""
import json

import pytest
import torch
from click.testing import CliRunner

from cgan.train import create_generator
from cgan.train.checkpoint import load_checkpoint
from cgan.train.cli import main
from cgan.train.config import ConfigError, TrainConfig, make_config, saved_config
from cgan.train.losses import colour_match_terms, sliced_wasserstein
from cgan.train.pool import PixelPool
from cgan.train.trainer import Trainer

from helpers import assert_one_line_error
from train_runs import TINY


def grade(pixels):
    """A colour grade for the tests: channel mixing and a cast, within [-1, 1]."""
    mix = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.6]])
    return (pixels @ mix.T + torch.tensor([0.1, -0.05, 0.2])).clamp(-1, 1)


def test_the_distance_is_zero_for_one_set_in_any_order_and_grows_with_a_shift():
    torch.manual_seed(0)
    a = torch.rand(500, 3) * 2 - 1
    assert sliced_wasserstein(a, a[torch.randperm(500)]) == 0
    near, far = (sliced_wasserstein(a, (a + shift).clamp(-1, 1)) for shift in (0.05, 0.3))
    assert 0 < near < far
    assert sliced_wasserstein(a, a[::2]) < near  # sets of different sizes compare by quantiles


def test_the_colour_maps_learn_a_grade_from_unpaired_pools_and_only_the_colour_maps_get_gradients():
    torch.manual_seed(0)
    G = create_generator("resnet_6blocks", ngf=4, residual=True, pointwise=True)
    F = create_generator("resnet_6blocks", ngf=4, residual=True, pointwise=True)
    x, y = torch.rand(2048, 3) * 2 - 1, grade(torch.rand(2048, 3) * 2 - 1)  # unpaired: other pixels
    terms = colour_match_terms(G, F, x, y, weight=10.0)
    sum(terms.values()).backward()
    touched = {name for net in (G, F) for name, p in net.named_parameters() if p.grad is not None}
    assert touched and all(name.startswith("pointwise.") for name in touched)
    assert all(p.grad is None for net in (G, F) for p in net.model.parameters())

    maps = [p for net in (G, F) for p in net.pointwise.parameters()]
    optimizer = torch.optim.Adam(maps, lr=1e-2)
    start = {k: v.item() for k, v in terms.items()}
    for _ in range(300):
        optimizer.zero_grad()
        terms = colour_match_terms(G, F, x, y, weight=10.0)
        sum(terms.values()).backward()
        optimizer.step()
    assert all(terms[k].item() < 0.3 * start[k] for k in start), (start, terms)
    with torch.no_grad():  # G's map applies the grade to new pixels it never saw
        fresh = torch.rand(1000, 3) * 2 - 1
        assert (G.map_colours(fresh) - grade(fresh)).abs().mean() < 0.5 * (fresh - grade(fresh)).abs().mean()


def test_a_pixel_pool_keeps_the_newest_pixels_of_many_pictures_and_resumes_exactly():
    pool = PixelPool(size=12, per_picture=4, seed=1)
    for value in range(5):  # batches of one picture, every pixel the picture's value
        pixels = pool.add(torch.full((1, 3, 8, 8), float(value)))
    assert pixels.shape == (12, 3) and sorted(set(pixels[:, 0].tolist())) == [2.0, 3.0, 4.0]
    again = PixelPool(size=12, per_picture=4, seed=99)
    again.load_state_dict(pool.state_dict())
    pictures = torch.rand(6, 2, 3, 8, 8)
    for batch in pictures:
        assert torch.equal(pool.add(batch), again.add(batch))


def test_colour_match_is_on_in_the_recipe_off_in_the_official_one_and_a_config_keeps_it(tmp_path):
    config = make_config({}, {"data": str(tmp_path), "colour_match": 2.0, "colour_pool": 1024})
    assert (config.colour_match, config.colour_pool) == (2.0, 1024)
    assert make_config(saved_config(config.to_dict())) == config
    assert make_config({}, {"data": str(tmp_path)}).colour_match > 0
    official = make_config({}, {"data": str(tmp_path), "recipe": "official"})
    assert (official.colour_match, official.colour_fit) == (0, 0)
    saved_before = {k: v for k, v in make_config({}, {"data": str(tmp_path)}).to_dict().items()
                    if k not in ("colour_match", "colour_pool", "colour_fit")}
    assert make_config(saved_config(saved_before)).colour_match == 0  # a run saved before trained without it


def test_without_colour_maps_colour_matching_has_nothing_to_work_through_and_keeps_no_pools():
    config = make_config({}, {"ngf": 4, "ndf": 4, "colour_match": 3.0, "pointwise": False})
    assert not config.colour_maps and Trainer(config).colour_pools == {}


def test_without_colour_match_a_trainer_keeps_no_pixel_pools():
    assert Trainer(make_config({}, {"ngf": 4, "ndf": 4, "colour_match": 0.0})).colour_pools == {}


def train(runs, *args):
    return CliRunner().invoke(main, [*TINY, "--runs-dir", str(runs), "--colour-match", "10", "--colour-pool", "256",
                                     *args])


def test_a_run_with_colour_match_logs_its_terms_and_resumes_exactly(tmp_path):
    runs = tmp_path / "runs"
    torch.use_deterministic_algorithms(True)
    try:
        assert train(runs, "--name", "whole", "--max-steps", "5").exit_code == 0
        assert train(runs, "--name", "parts", "--max-steps", "2").exit_code == 0
        resumed = train(runs, "--resume", str(runs / "parts"), "--max-steps", "5")
    finally:
        torch.use_deterministic_algorithms(False)
    assert resumed.exit_code == 0, resumed.output
    whole, parts = (load_checkpoint(runs / name / "checkpoints" / "latest.pt", resume=True)
                    for name in ("whole", "parts"))
    assert parts["config"]["colour_match"] == 10.0
    for domain in ("X", "Y"):
        assert parts["colour_pools"][domain]["images"].shape == (256, 3, 1, 1)
        assert torch.equal(whole["colour_pools"][domain]["images"], parts["colour_pools"][domain]["images"])
    for key, value in whole["nets"]["G"].items():
        assert torch.equal(parts["nets"]["G"][key], value), key
    record = json.loads((runs / "parts" / "log.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 5 and record["colour_G"] > 0 and record["colour_F"] > 0
    refused = train(runs, "--resume", str(runs / "parts"), "--max-steps", "6", "--colour-pool", "512")
    assert_one_line_error(refused, "--colour-pool 512 (the run has 256)")
