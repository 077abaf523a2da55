"""The built-in known-answer data: structured pictures, the transform T, the dataset and the report."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn

from cgan.train.data import DataError, build_loader, start_epoch
from cgan.train.known_answer import (GAMMA, PERMUTATION, KnownAnswerDataset, format_report, heldout_pairs,
                                     inverse_transform, known_answer_report, mean_psnr, picture, transform)
from cgan.train.synthetic import draw_scene


def scenes(count=16, size=32, start=0):
    return [draw_scene(np.random.default_rng(i), size) for i in range(start, start + count)]


def test_scene_is_deterministic_and_in_range():
    a = draw_scene(np.random.default_rng(3), 32)
    b = draw_scene(np.random.default_rng(3), 32)
    c = draw_scene(np.random.default_rng(4), 32)
    assert a.shape == (32, 32, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def neighbour_correlation(img: np.ndarray) -> float:
    """Correlation of each pixel with its right-hand neighbour (near 0 for noise, near 1 for pictures)."""
    return float(np.corrcoef(img[:, :-1].ravel(), img[:, 1:].ravel())[0, 1])


def test_scenes_have_structure_not_noise():
    correlations = [neighbour_correlation(p) for p in scenes(32)]
    assert min(correlations) > 0.4 and np.mean(correlations) > 0.75  # stripes lower it, never to noise level
    noise = np.random.default_rng(0).random((32, 32, 3))
    assert abs(neighbour_correlation(noise)) < 0.2


def test_scenes_have_several_colours():
    for p in scenes(8):
        pixels = p.reshape(-1, 3)
        hues = {tuple(c) for c in np.round(pixels * 3).astype(int)}  # coarse colour cells
        assert len(hues) >= 3
        assert pixels.std(0).max() > 0.1


def test_transform_round_trips():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    torch.testing.assert_close(inverse_transform(transform(x)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(transform(inverse_transform(x)), x, atol=1e-5, rtol=0)
    assert transform(x[0]).shape == (3, 8, 8)  # works on CHW too


def test_transform_matches_its_definition():
    x = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1) * 2 - 1  # RGB in [0, 1]: 0.2, 0.5, 0.9
    expected = torch.tensor([0.2, 0.5, 0.9])[list(PERMUTATION)] ** GAMMA
    torch.testing.assert_close((transform(x).flatten() + 1) / 2, expected)


def colour_histogram(images: torch.Tensor, bins: int = 6) -> torch.Tensor:
    """Joint RGB histogram (bins^3 cells) of NCHW images in [-1, 1], normalized to sum 1."""
    cells = (((images + 1) / 2).clamp(0, 1 - 1e-6) * bins).long().permute(0, 2, 3, 1).reshape(-1, 3)
    flat = (cells[:, 0] * bins + cells[:, 1]) * bins + cells[:, 2]
    return torch.bincount(flat, minlength=bins**3).float() / len(flat)


def test_only_the_true_channel_order_matches_y():
    """Joint colour distribution of T(X) vs X recoloured with each channel order and T's curve:
    only T's own order fits, so a CycleGAN cannot settle on another recolouring."""
    x = torch.stack([picture(0, 0, i, 32) for i in range(32)])
    target = colour_histogram(transform(torch.stack([picture(0, 1, i, 32) for i in range(32)])))
    distances = {}
    for perm in itertools.permutations(range(3)):
        recoloured = 2 * ((x[:, list(perm)] + 1) / 2) ** GAMMA - 1
        distances[perm] = float((colour_histogram(recoloured) - target).abs().sum())
    best, runner_up = sorted(distances.values())[:2]
    assert distances[PERMUTATION] == best
    assert runner_up > 4 * best


def test_psnr_by_hand():
    a = torch.zeros(2, 3, 4, 4)
    b = a + 0.2  # 0.1 apart on the [0, 1] scale: MSE 0.01 -> 20 dB
    assert mean_psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    assert mean_psnr(a, a) == pytest.approx(100.0)


def test_report_on_perfect_and_do_nothing_mappings():
    perfect = known_answer_report(transform, inverse_transform, size=32, count=8)
    assert perfect["psnr_G"] > 60 and perfect["psnr_F"] > 60
    nothing = known_answer_report(lambda x: x, lambda y: y, size=32, count=8)
    assert nothing["psnr_G"] == pytest.approx(nothing["baseline_G"])
    assert nothing["psnr_F"] == pytest.approx(nothing["baseline_F"])
    assert nothing["baseline_G"] < 15 and nothing["baseline_F"] < 15  # doing nothing scores poorly
    assert perfect["baseline_G"] == pytest.approx(nothing["baseline_G"])
    text = format_report(perfect)
    assert "do-nothing" in text and f"{perfect['baseline_G']:.2f}" in text and len(text.splitlines()) == 3


def test_report_restores_training_mode():
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Dropout(0.5)).train()
    known_answer_report(net, net, size=16, count=2)
    assert net.training


def test_heldout_pictures_never_appear_in_training():
    x, y = heldout_pairs(16, 8)
    ds = KnownAnswerDataset(16, length=8, flip=False, serial_batches=True)
    train_x = torch.stack([ds[i]["x"] for i in range(8)])
    train_y = torch.stack([ds[i]["y"] for i in range(8)])
    for held, train in ((x, train_x), (y, train_y)):
        assert ((held[:, None] - train[None]).abs().flatten(2).amax(2) > 0.1).all()


def test_dataset_items_and_determinism():
    one, two = KnownAnswerDataset(16, length=10, seed=2), KnownAnswerDataset(16, length=10, seed=2)
    item = one[(4, 3)]
    assert set(item) == {"x", "y", "x_path", "y_path"}
    assert item["x"].shape == item["y"].shape == (3, 16, 16)
    two.set_epoch(4)
    other = two[3]
    torch.testing.assert_close(item["x"], other["x"], rtol=0, atol=0)
    torch.testing.assert_close(item["y"], other["y"], rtol=0, atol=0)
    assert item["y_path"] == other["y_path"] and item["x_path"] == "known-answer/x/3"
    assert len({one[(e, 0)]["y_path"] for e in range(20)}) > 3  # Y is drawn anew every epoch
    assert one.sizes == (10, 10) and len(one) == 10


def test_dataset_y_is_t_of_a_picture():
    ds = KnownAnswerDataset(16, length=5, flip=False, serial_batches=True)
    item = ds[2]
    torch.testing.assert_close(inverse_transform(item["y"]), picture(0, 1, 2, 16), atol=1e-5, rtol=0)


def test_dataset_rejects_tiny_sizes():
    with pytest.raises(DataError, match="size >= 8"):
        KnownAnswerDataset(size=4)


def test_loader_over_known_answer_data():
    ds = KnownAnswerDataset(16, length=6, seed=1)
    loader = build_loader(ds, batch_size=4, workers=0, seed=1, drop_last=True)
    start_epoch(loader, 2)
    batches = list(loader)
    assert len(batches) == 1 and batches[0]["x"].shape == (4, 3, 16, 16)
    keys = list(loader.sampler)[:4]
    torch.testing.assert_close(batches[0]["y"], torch.stack([ds[k]["y"] for k in keys]), rtol=0, atol=0)
