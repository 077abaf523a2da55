"""Tiled inference: tile plans, blending weights, memory budget, overridable instance-norm statistics,
and Translator / cgan-infer running frames in tiles (tiny nets, small images)."""
from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from helpers import LEGACY_MODEL, export_tiny, image, read_video, write_video

from cgan.infer import Translator
from cgan.infer import tiling
from cgan.infer.cli import main as infer_main
from cgan.infer.errors import InferError
from cgan.infer.metadata import ModelInfo, norm_stat_names


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour regions with texture, so that statistics differ from tile to tile."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 24), max(2, w // 24), 3), dtype=np.uint8)
    base = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def psnr8(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


@pytest.mark.parametrize("length,tile,overlap,multiple", [(1000, 300, 40, 4), (2048, 512, 64, 4), (97, 32, 8, 4),
                                                          (64, 64, 16, 4), (513, 128, 0, 4), (300, 256, 64, 8)])
def test_tiles_cover_the_axis_and_weights_sum_to_one(length, tile, overlap, multiple):
    starts, size = tiling.axis_tiles(length, tile, overlap, multiple)
    assert size <= max(tile, length) and starts[0] == 0 and starts[-1] + size == length
    if len(starts) > 1:
        assert size % multiple == 0 and size <= tile
        assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))  # at least `overlap` shared
    total = np.zeros(length)
    for start, weight in zip(starts, tiling.axis_weights(starts, size)):
        total[start:start + size] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_parse_memory_and_default_budget(tmp_path):
    assert tiling.parse_memory("4G") == 4 << 30
    assert tiling.parse_memory("1500M") == 1500 << 20
    assert tiling.parse_memory("2.5GiB") == int(2.5 * (1 << 30))
    for bad in ("lots", "0", "-1G", "4Q"):
        with pytest.raises(InferError, match="max_memory="):
            tiling.parse_memory(bad)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 8000000 kB\nMemAvailable:    4000000 kB\n")
    assert tiling.default_budget(str(meminfo)) == int(4000000 * 1024 * tiling.MEMORY_FRACTION)
    assert tiling.default_budget(str(tmp_path / "missing")) == tiling.FALLBACK_BUDGET


@pytest.mark.parametrize("bad", [(1 << 50) + 1, 10**400, 0, -1, True, 2.5], ids=["beyond_1024T", "400_digits", "zero",
                                                                                  "negative", "bool", "float"])
def test_translator_bounds_an_int_budget_as_the_flag_does(rgb_model, bad):
    with pytest.raises(InferError, match=r"^max_memory=\S+: give a size like 4G") as refused:
        Translator(rgb_model, "cpu", max_memory=bad)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 150
    assert Translator(rgb_model, "cpu", max_memory=1 << 50).budget == tiling.parse_memory("1024T")


def test_auto_tiling_only_beyond_the_budget():
    info = ModelInfo("G", "x", "y", "resnet_9blocks", 64, "instance", 3, 3, 4, 256)
    assert tiling.auto_tiling(1000, 1000, info, 4 << 30, 64) is None
    plan = tiling.auto_tiling(20000, 20000, info, 4 << 30, 64)
    assert plan is not None and plan.tile in tiling.AUTO_TILE_SIDES
    assert 20000 * 20000 * 6 + tiling.inference_bytes(plan.tile, plan.tile, info) <= 4 << 30
    with pytest.raises(InferError, match="max_memory="):  # the image and its output alone exceed it
        tiling.auto_tiling(20000, 20000, info, 1 << 30, 64)


def test_bad_tile_options(rgb_model):
    assert Translator(rgb_model, "cpu", tile=64).tiling.overlap == 16  # the default shrinks for small tiles
    with pytest.raises(InferError, match="tile_overlap="):
        Translator(rgb_model, "cpu", tile=64, tile_overlap=40)
    with pytest.raises(InferError, match="tile=8"):
        Translator(rgb_model, "cpu", tile=8)


def test_tiles_with_whole_image_statistics_match_the_whole_image(rgb_model):
    frame = photo_like(96, 128)
    whole = Translator(rgb_model, "cpu")(frame)
    t = Translator(rgb_model, "cpu", tile=64, tile_overlap=16)
    exact = replace(t.tiling, stats_scale=1.0)  # statistics from the full-resolution frame
    ours = t.run_tiled(tiling.TiledFrame(frame, exact, frame.shape[:2]))
    t.stats_layers = 0
    naive = t.run_tiled(tiling.TiledFrame(frame, replace(exact, overlap=0), frame.shape[:2]))
    assert ours.shape == whole.shape == naive.shape
    assert psnr8(ours, whole) > 30  # what remains: tile borders of a tiny untrained net
    assert psnr8(ours, whole) > psnr8(naive, whole) + 8


def test_a_frame_whose_statistics_pass_runs_whole_gets_the_whole_image_output(rgb_model):
    """Its statistics pass at full resolution already computes the exact translation: no tiles."""
    notes = []
    frame = photo_like(70, 130)
    t = Translator(rgb_model, "cpu", tile=48, log=notes.append)
    assert not isinstance(t.prepare(frame), tiling.TiledFrame)
    np.testing.assert_array_equal(t(frame), Translator(rgb_model, "cpu")(frame))
    t(frame)
    assert len(notes) == 1 and "run whole" in notes[0]
    assert isinstance(Translator(rgb_model, "cpu", tile=48, max_memory="500k").prepare(frame), tiling.TiledFrame)


def test_on_the_cpu_a_frame_within_the_budget_runs_whole_beyond_the_statistics_pass_size(rgb_model, monkeypatch):
    """--tile on a frame too large for a full-resolution statistics pass but within the memory budget:
    statistics pass plus tiles would cost more than the exact whole-frame run."""
    monkeypatch.setattr(tiling, "STATS_MAX_PIXELS", 40 * 40)  # the statistics pass would downscale the frame
    frame = photo_like(70, 130)
    notes = []
    t = Translator(rgb_model, "cpu", tile=48, log=notes.append)
    assert tiling.stats_size(70, 130, 1.0, t._stats_pixels()) != (70, 130)
    assert not isinstance(t.prepare(frame), tiling.TiledFrame)
    np.testing.assert_array_equal(t(frame), Translator(rgb_model, "cpu")(frame))
    assert len(notes) == 1 and "fit the memory budget" in notes[0]
    fits = tiling.inference_bytes(70, 130, t.spec.info)  # a budget just too small for the whole frame tiles it
    assert isinstance(Translator(rgb_model, "cpu", tile=48, max_memory=fits - 1).prepare(frame), tiling.TiledFrame)
    assert not isinstance(Translator(rgb_model, "cpu", tile=48, max_memory=fits).prepare(frame), tiling.TiledFrame)
    # On a GPU the host-memory budget says nothing of device memory: the tiles asked for stay.
    t.session = replace(t.session, provider="CUDAExecutionProvider")
    assert isinstance(t.prepare(frame), tiling.TiledFrame)
    assert not isinstance(t.prepare(frame[:30, :50]), tiling.TiledFrame)  # the statistics pass covers it whole


def test_translator_tiles_large_frames_and_keeps_their_size(rgb_model, gray_model):
    notes = []
    t = Translator(rgb_model, "cpu", tile=48, tile_stats_scale=0.5, log=notes.append)
    frame = photo_like(70, 130)
    assert isinstance(t.prepare(frame), tiling.TiledFrame)
    assert t(frame).shape == frame.shape
    assert t([frame, frame[:40, :40]])[1].shape == (40, 40, 3)  # a small one runs whole
    g = Translator(gray_model, "cpu", tile=32, tile_stats_scale=0.5)(photo_like(50, 70)[:, :, 0])
    assert g.shape == (50, 70)
    assert notes == []  # the model has whole-image statistics: nothing to warn about


def test_auto_tiling_under_a_small_budget_says_so_once(rgb_model):
    notes = []
    t = Translator(rgb_model, "cpu", max_memory="3M", log=notes.append)
    frame = photo_like(200, 300)
    assert isinstance(t.prepare(frame), tiling.TiledFrame)
    assert t(frame).shape == frame.shape and t(frame).shape == frame.shape
    assert len(notes) == 1 and "memory budget" in notes[0]


def test_tiles_of_a_plain_model_open_the_statistics_graph_once_on_the_first_tiled_frame(rgb_model):
    t = Translator(rgb_model, "cpu", tile=32, max_memory="500k")
    assert t.stats_layers == 17 and "tile_session" not in vars(t)  # frames that run whole never pay for it
    frame = photo_like(60, 80)
    t(frame[:24, :24])
    assert "tile_session" not in vars(t)
    t(frame)
    session = vars(t)["tile_session"]
    assert session is not t.session
    assert {o.name for o in session.session.get_outputs()} >= {norm_stat_names(16)["mean"], "translated"}
    t(frame)
    assert t.tile_session is session


def test_a_file_exported_with_statistics_inside_still_tiles_on_its_own_graph():
    """Files written before exports were plain graphs carry the statistics tensors; they are used as they are."""
    sess = ort.InferenceSession(str(LEGACY_MODEL), providers=["CPUExecutionProvider"])
    assert len(sess.get_outputs()) == 1 + 2 * 17 and len(sess.get_overridable_initializers()) == 1 + 2 * 17
    frame = photo_like(96, 128)
    whole = Translator(LEGACY_MODEL, "cpu")(frame)
    notes = []
    t = Translator(LEGACY_MODEL, "cpu", tile=64, tile_overlap=16, log=notes.append)
    assert t.spec.info.norm_stats == 17 and t.stats_layers == 17 and t.tile_session is t.session
    exact = replace(t.tiling, stats_scale=1.0)
    ours = t.run_tiled(tiling.TiledFrame(frame, exact, frame.shape[:2]))
    t.stats_layers = 0
    naive = t.run_tiled(tiling.TiledFrame(frame, replace(exact, overlap=0), frame.shape[:2]))
    assert psnr8(ours, whole) > 28 and psnr8(ours, whole) > psnr8(naive, whole) + 6
    assert notes == []


def test_a_model_whose_statistics_graph_cannot_be_derived_tiles_with_a_warning(tmp_path):
    """A graph that already uses one of the statistics graph's tensor names: tiles keep their own statistics."""
    model = onnx.load(str(export_tiny(tmp_path / "G.onnx")))
    first_norm = next(n for n in model.graph.node if n.op_type == "InstanceNormalization")
    taken = norm_stat_names(0)["mean"]
    for node in model.graph.node:
        node.input[:] = [taken if name == first_norm.output[0] else name for name in node.input]
    first_norm.output[0] = taken
    onnx.save(model, str(tmp_path / "clash.onnx"))
    notes = []
    t = Translator(tmp_path / "clash.onnx", "cpu", tile=32, max_memory="500k", log=notes.append)
    frame = photo_like(60, 80)
    assert t(frame).shape == frame.shape
    t(frame)
    assert t.stats_layers == 0 and t.tile_session is t.session
    assert len(notes) == 1  # said once
    assert "cannot use the whole image's instance-norm statistics" in notes[0] and repr(taken) in notes[0]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_variants_tile_with_whole_image_statistics(tmp_path, precision):
    path = export_tiny(tmp_path / f"G.{precision}.onnx", precision=precision)
    t = Translator(path, "cpu", tile=32, tile_stats_scale=0.5)
    assert t.spec.info.precision == precision and t.stats_layers == 17 and t.spec.info.norm_stats is None
    frame = photo_like(48, 72)
    assert isinstance(t.prepare(frame), tiling.TiledFrame)
    exact = replace(t.tiling, stats_scale=1.0)  # statistics from the full-resolution frame
    ours = t.run_tiled(tiling.TiledFrame(frame, exact, frame.shape[:2]))
    t.stats_layers = 0
    naive = t.run_tiled(tiling.TiledFrame(frame, replace(exact, overlap=0), frame.shape[:2]))
    whole = Translator(path, "cpu")(frame)
    assert psnr8(ours, whole) > psnr8(naive, whole) + 6
    assert t(frame).shape == frame.shape


def test_cli_tiles_a_folder_with_a_large_image_and_batches_the_rest(rgb_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "big.png"), photo_like(200, 300))
    for i in range(3):
        cv2.imwrite(str(folder / f"small{i}.png"), image(24, 32, seed=i))
    out = tmp_path / "out"
    result = CliRunner().invoke(infer_main, ["--folder", str(folder), "--model", str(rgb_model), "--out", str(out),
                                             "--batch", "2", "--max-memory", "3M", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "memory budget" in result.output and "done: 4 images, 0 failed" in result.output
    assert cv2.imread(str(out / "big.png")).shape == (200, 300, 3)
    assert cv2.imread(str(out / "small0.png")).shape == (24, 32, 3)


def test_cli_tile_option_matches_the_api(rgb_model, tmp_path):
    frame = photo_like(60, 100)
    cv2.imwrite(str(tmp_path / "a.png"), frame)
    result = CliRunner().invoke(infer_main, ["--image", str(tmp_path / "a.png"), "--model", str(rgb_model),
                                             "--out", str(tmp_path / "b.png"), "--tile", "48", "--tile-overlap", "8",
                                             "--max-memory", "500k", "--no-progress"])
    assert result.exit_code == 0, result.output
    api = Translator(rgb_model, "cpu", tile=48, tile_overlap=8, max_memory="500k")
    assert isinstance(api.prepare(frame), tiling.TiledFrame)  # the budget keeps the statistics pass downscaled
    expected = api(frame)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "b.png")), expected)


def test_cli_tiles_every_frame_of_a_video(rgb_model, tmp_path):
    video = write_video(tmp_path / "in.mp4", frames=3, size=(64, 48))
    result = CliRunner().invoke(infer_main, ["--video", str(video), "--model", str(rgb_model), "--out",
                                             str(tmp_path / "out.mp4"), "--tile", "32", "--max-memory", "300k",
                                             "--no-progress"])
    assert result.exit_code == 0, result.output
    frames, _ = read_video(tmp_path / "out.mp4")
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)
