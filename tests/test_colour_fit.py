"""The colour maps' start: fitted to the whole training set's colours before the first step."""
import pytest
import torch
from click.testing import CliRunner

from cgan.train import create_generator
from cgan.train.checkpoint import generator_from_checkpoint, load_checkpoint
from cgan.train.cli import main
from cgan.train.colour_fit import fit_colour_map, fit_colour_maps, training_pixels
from cgan.train.known_answer import KnownAnswerDataset
from cgan.train.losses import sliced_wasserstein

from train_runs import TINY

MIX = torch.tensor([[0.8, 0.3, -0.1], [0.05, 0.7, 0.2], [-0.1, 0.25, 0.85]])


def graded(pixels):
    """A colour grade on [-1, 1] pixels (N, 3): a channel mix, then a gamma on [0, 1]."""
    mixed = ((pixels + 1) / 2 @ MIX.T).clamp(0, 1)
    return mixed.pow(0.8) * 2 - 1


def small_generator():
    return create_generator("resnet_6blocks", 3, 3, ngf=4, residual=True, pointwise=True)


def test_the_fit_learns_a_grade_from_unpaired_pixels_and_moves_only_the_colour_map():
    torch.manual_seed(0)
    source = torch.rand(20000, 3) * 2 - 1
    target = graded(torch.rand(20000, 3) * 2 - 1)  # other pixels through the grade: unpaired
    G = small_generator()
    spatial = {k: v.clone() for k, v in G.state_dict().items() if not k.startswith("pointwise.")}
    before, after = fit_colour_map(G, source, target, steps=300, seed=0)
    assert after < before / 10, (before, after)
    probe = torch.rand(2000, 3) * 2 - 1
    with torch.no_grad():
        error = (G.map_colours(probe) - graded(probe)).abs().mean()
        untouched = (probe - graded(probe)).abs().mean()
    assert error < untouched / 3, (float(error), float(untouched))
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in spatial.items())


def test_training_pixels_come_from_the_whole_set_the_same_for_a_seed_and_stop_when_asked():
    dataset = KnownAnswerDataset(size=16, length=10, seed=0)
    x, y = training_pixels(dataset, seed=3)
    assert x.shape == y.shape == (10 * 256, 3)
    assert x.min() >= -1 and x.max() <= 1 and not torch.equal(x, y)
    again = training_pixels(dataset, seed=3)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    assert not torch.equal(x, training_pixels(dataset, seed=4)[0])

    calls = []

    def stop_on_third():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_colour_maps(small_generator(), small_generator(), dataset, steps=5, seed=0, check_stop=stop_on_third)


def test_both_maps_are_fitted_each_towards_the_other_domain():
    dataset = KnownAnswerDataset(size=16, length=8, seed=0)
    G, F = small_generator(), small_generator()
    line = fit_colour_maps(G, F, dataset, steps=60, seed=0)
    assert line.startswith("colour maps fitted") and "G " in line and "F " in line
    x, y = training_pixels(dataset, seed=0)
    with torch.no_grad():
        for net, source, target in ((G, x, y), (F, y, x)):
            generator = torch.Generator().manual_seed(9)
            start = sliced_wasserstein(source, target, 64, power=2, generator=generator)
            generator = torch.Generator().manual_seed(9)
            now = sliced_wasserstein(net.map_colours(source), target, 64, power=2, generator=generator)
            assert now < start / 2, (float(start), float(now))


def mixture(weights, count, generator):
    """Pixels from a mix of three colour clusters with these weights: two domains drawn with other
    weights differ by content only (as crops of the same photos do), not by a look."""
    centres = torch.tensor([[0.6, -0.2, -0.5], [-0.4, 0.3, 0.5], [0.1, 0.1, 0.0]])
    picks = torch.multinomial(torch.tensor(weights), count, replacement=True, generator=generator)
    return (centres[picks] + 0.25 * torch.randn(count, 3, generator=generator)).clamp(-1, 1)


def test_the_anchor_leaves_chance_differences_of_content_alone_and_still_fits_a_grade():
    generator = torch.Generator().manual_seed(0)
    source = mixture([0.36, 0.34, 0.3], 20000, generator)
    same_look = mixture([0.34, 0.36, 0.3], 20000, generator)  # other content, no look
    graded_look = graded(mixture([0.34, 0.36, 0.3], 20000, generator))
    probe = mixture([1 / 3] * 3, 4000, generator)
    moved = {}
    for anchor in (0.0, 0.15):
        torch.manual_seed(0)
        G = small_generator()
        fit_colour_map(G, source, same_look, steps=300, seed=0, anchor=anchor)
        with torch.no_grad():
            moved[anchor] = float((G.map_colours(probe) - probe).abs().mean())
    assert moved[0.15] < moved[0.0] / 2, moved

    torch.manual_seed(0)
    G = small_generator()
    before, after = fit_colour_map(G, source, graded_look, steps=300, seed=0, anchor=0.15)
    with torch.no_grad():
        error = (G.map_colours(probe) - graded(probe)).abs().mean()
        untouched = (probe - graded(probe)).abs().mean()
    assert after < before / 3 and error < untouched / 2, (before, after, float(error), float(untouched))


def train(runs, *args):
    return CliRunner().invoke(main, [*TINY, "--runs-dir", str(runs), *args])


def test_a_run_fits_once_at_the_start_reproducibly_and_a_resume_does_not_fit_again(tmp_path):
    runs = tmp_path / "runs"
    first = train(runs, "--name", "a", "--max-steps", "2", "--colour-fit", "20")
    assert first.exit_code == 0, first.output
    assert "colour maps fitted" in first.output
    second = train(runs, "--name", "b", "--max-steps", "2", "--colour-fit", "20")
    plain = train(runs, "--name", "c", "--max-steps", "2", "--colour-fit", "0")
    assert "colour maps fitted" not in plain.output
    maps = {name: generator_from_checkpoint(load_checkpoint(runs / name / "checkpoints" / "latest.pt"), "G")
            .pointwise.state_dict() for name in "abc"}
    assert all(torch.equal(maps["a"][k], maps["b"][k]) for k in maps["a"])
    assert not all(torch.equal(maps["a"][k], maps["c"][k]) for k in maps["a"])

    resumed = CliRunner().invoke(main, ["--resume", str(runs / "a"), "--max-steps", "4"])
    assert resumed.exit_code == 0, resumed.output
    assert "colour maps fitted" not in resumed.output
