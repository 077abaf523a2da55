import json
import math

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cgan.train.checkpoint import load_checkpoint
from cgan.train.cli import main
from cgan.train.config import ConfigError, TrainConfig, make_config
from cgan.train.evaluation import evaluate, heldout_set, translate
from cgan.train.known_answer import heldout_pairs, transform
from cgan.train.loop import run_training
from cgan.train.report import EVAL_PANELS, eval_curve, to_rgb8
from cgan.train.swd import sliced_wasserstein
from cgan.train.trainer import build_nets
from helpers import assert_one_line_error

TINY = dict(generator="resnet_6blocks", discriminator="pixel", ngf=4, ndf=4, crop_size=16, load_size=16,
            workers=0, device="cpu", max_dataset_size=4)
TILE = 128 + 4  # a 16 px picture enlarged 8x in sample_grid, padded 2 px on each side
LABEL = 18  # the label bar above each tile
BLOCK_W, BLOCK_H = 3 * TILE + 10, 2 * (LABEL + TILE) + 10  # one picture's grid in sample_sheet, 2 per row


def builtin(tmp_path, name, **kw):
    config = make_config({}, {"runs_dir": str(tmp_path), "name": name, **TINY, **kw}, ("shapes", "shapes_T"))
    return run_training(config, name_given=True, echo=lambda line: None, progress=False)


def test_builtin_run_samples_the_same_heldout_pictures_and_records_every_evaluation(tmp_path):
    result = builtin(tmp_path, "run", max_steps=5, sample_every=2, eval_every=2, eval_images=3)
    run = result.path
    grids = {step: cv2.imread(str(run / "samples" / f"step_{step:06d}.png"))[..., ::-1] for step in (2, 4, 5)}
    # each picture's first column (x and y) is the same at every step; G(x) and F(y) change as the nets learn
    assert grids[2].shape == grids[4].shape == (2 * BLOCK_H, 2 * BLOCK_W, 3)
    first_columns = np.s_[:, np.r_[0:TILE, BLOCK_W:BLOCK_W + TILE]]
    assert np.array_equal(grids[2][first_columns], grids[4][first_columns])
    assert not np.array_equal(grids[2][:, TILE:BLOCK_W], grids[4][:, TILE:BLOCK_W])
    # ... and those pictures are the held-out ones, not a training batch
    x, y = heldout_pairs(16, 3)
    for i in range(3):
        top, left = i // 2 * BLOCK_H + LABEL + 2, i % 2 * BLOCK_W + 2
        tile_x = grids[5][top:top + 128:8, left:left + 128:8]
        tile_y = grids[5][top + LABEL + TILE:top + LABEL + TILE + 128:8, left:left + 128:8]
        assert np.array_equal(tile_x, to_rgb8(x[i])) and np.array_equal(tile_y, to_rgb8(y[i]))

    records = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 5]  # every eval_every steps and the last step
    expected = {"psnr_cycle_X", "psnr_cycle_Y", "psnr_idt_X", "psnr_idt_Y", "swd_G", "swd_F", "swd_baseline",
                "psnr_G", "psnr_F", "baseline_G", "baseline_F"}
    for record in records:
        assert set(record) == {"step", *expected}
        assert all(math.isfinite(record[k]) for k in expected)
    assert records[0]["baseline_G"] == records[-1]["baseline_G"]  # the do-nothing line is flat

    curve = cv2.imread(str(run / "eval_curve.png"))
    assert curve is not None and curve.shape[0] == 3 * 300  # the known-answer panel and two held-out panels
    page = (run / "index.html").read_text()
    assert "eval_curve.png" in page and "3 x pictures from built-in held-out pictures" in page


def test_eval_curve_leaves_out_the_known_answer_panel_for_folder_data():
    records = [{"step": s, "psnr_cycle_X": 10.0 + s, "swd_G": 1.0 / s} for s in (1, 2)]
    assert eval_curve(records).shape[0] == (len(EVAL_PANELS) - 1) * 300
    assert eval_curve([{**r, "psnr_G": 12.0} for r in records]).shape[0] == len(EVAL_PANELS) * 300


def test_evaluation_does_not_change_the_training_run(tmp_path):
    # dropout and batch norm: both would change the run if evaluation drew random numbers or updated statistics
    common = dict(max_steps=3, dropout=True, norm="batch")
    on = builtin(tmp_path, "on", sample_every=1, eval_every=1, **common)
    off = builtin(tmp_path, "off", sample_every=100, eval_every=0, **common)
    assert len((on.path / "eval.jsonl").read_text().splitlines()) == 3
    assert not (off.path / "eval.jsonl").exists()
    a, b = (load_checkpoint(r.path / "checkpoints" / "latest.pt")["nets"] for r in (on, off))
    for net in a:
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net


def test_translate_restores_train_mode_and_leaves_the_random_streams_alone():
    nets = build_nets(TrainConfig(**{k: v for k, v in TINY.items() if k != "max_dataset_size"}, dropout=True))
    G, F = nets["G"].train(), nets["F"].eval()
    heldout = heldout_set(TrainConfig(crop_size=16, eval_images=2))
    state = torch.get_rng_state()
    first = evaluate(G, F, heldout)
    assert torch.equal(torch.get_rng_state(), state)
    assert G.training and not F.training
    assert evaluate(G, F, heldout) == first  # deterministic: eval mode, fixed patch places
    assert translate(G, F, heldout).x[0].translated.shape == (3, 16, 16)


def test_patch_distance_is_zero_for_identical_sets_and_grows_with_a_colour_shift():
    x, y = heldout_pairs(32, 8)
    pictures = list(x)
    assert sliced_wasserstein(pictures, [p.clone() for p in pictures]) == 0.0
    shifts = [sliced_wasserstein(pictures, [(p + s).clamp(-1, 1) for p in pictures]) for s in (0.05, 0.1, 0.3)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    # the known answer T brings X's pictures much closer to (other) Y pictures than doing nothing
    assert sliced_wasserstein(list(transform(x)), list(y)) < 0.5 * sliced_wasserstein(pictures, list(y))


def test_patch_distance_compares_sets_of_other_sizes_and_refuses_other_channels():
    x, y = heldout_pairs(32, 4)
    mixed = [x[0], x[1, :, :24, :]]  # pictures of different sizes in one set
    assert sliced_wasserstein(mixed, list(y[:3])) > 0
    with pytest.raises(ValueError, match="channels"):
        sliced_wasserstein(list(x), [p[:1] for p in y])


def write_images(folder, count, value, size=(20, 24)):
    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:02d}.png"), np.full((*size, 3), value + i, np.uint8))


def test_folder_heldout_prefers_test_folders_else_spreads_over_the_training_images(tmp_path):
    data = tmp_path / "data"
    write_images(data / "trainA", 9, 10)
    write_images(data / "trainB", 2, 100)
    write_images(data / "testB", 3, 200)
    config = TrainConfig(data=str(data), crop_size=16, load_size=16, eval_images=3)
    heldout = heldout_set(config)
    assert "trainA" in heldout.sources[0] and "also seen in training" in heldout.sources[0]
    assert "testB" in heldout.sources[1] and "not used in training" in heldout.sources[1]
    first_pixel = [round(float((p[0, 0, 0] + 1) * 127.5)) for p in heldout.x + heldout.y]
    assert first_pixel == [10, 14, 18, 200, 201, 202]  # trainA 0, 4, 8 (spread); testB 0, 1, 2
    again = heldout_set(config)
    assert all(torch.equal(a, b) for a, b in zip(heldout.x + heldout.y, again.x + again.y))
    nets = build_nets(TrainConfig(ngf=4, generator="resnet_6blocks"))
    numbers = evaluate(nets["G"], nets["F"], heldout)
    assert "psnr_G" not in numbers and all(math.isfinite(v) for v in numbers.values())


def test_eval_options_are_checked_and_zero_turns_evaluation_off(tmp_path):
    with pytest.raises(ConfigError, match="eval_every=-1: must not be negative"):
        make_config({}, {"eval_every": -1})
    with pytest.raises(ConfigError, match="eval_images=0: must be at least 1"):
        make_config({}, {"eval_images": 0})
    result = CliRunner().invoke(main, ["--runs-dir", str(tmp_path), "--eval-images", "0", "--max-steps", "1"])
    assert_one_line_error(result, "eval_images=0")


def test_domains_with_other_channels_skip_identity_and_the_baseline_distance(tmp_path):
    data = tmp_path / "data"
    write_images(data / "trainA", 2, 10)
    write_images(data / "trainB", 2, 100)
    config = TrainConfig(data=str(data), crop_size=16, load_size=16, input_nc=1, lambda_identity=0,
                         generator="resnet_6blocks", ngf=4)
    heldout = heldout_set(config)
    assert heldout.x[0].shape == (1, 16, 16) and heldout.y[0].shape == (3, 16, 16)
    nets = build_nets(config)
    numbers = evaluate(nets["G"], nets["F"], heldout)
    assert set(numbers) == {"psnr_cycle_X", "psnr_cycle_Y", "swd_G", "swd_F"}
