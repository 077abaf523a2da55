"""Temporal consistency (--temporal): cuts pass through exactly, new content is never blended, flicker
is damped, and the stream API gives the pipeline's very frames."""
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cgan.infer import InferError, TemporalStream, Translator, open_source, run_pipeline
from cgan.infer.cli import main
from cgan.infer.sinks import Sink
from cgan.infer.temporal import MotionTracker, TemporalBlender, TemporalSettings
from helpers import assert_one_line_error, image, read_video

W, H = 64, 48


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random BGR texture (blurred noise): flow finds it, like a photo."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 3), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def pan(frames: int, seed: int = 0, step: int = 1, w: int = W, h: int = H) -> list[np.ndarray]:
    """A camera panning right by `step` pixels a frame over one texture."""
    big = texture(h, w + frames * step, seed)
    return [np.ascontiguousarray(big[:, i * step:i * step + w]) for i in range(frames)]


def flickered(frames: list[np.ndarray], seed: int = 1, amount: float = 12.0) -> list[np.ndarray]:
    """A stand-in translation that flickers: each frame plus its own random brightness pattern."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, amount, f.shape), 0, 255).astype(np.uint8) for f in frames]


def filtered(frames, translations, settings=TemporalSettings()):
    tracker, blender = MotionTracker(settings), TemporalBlender(settings)
    motions = [tracker(f) for f in frames]
    return motions, [blender(y, m) for y, m in zip(translations, motions)]


def test_first_frame_and_the_frame_after_a_cut_pass_through_exactly():
    frames = pan(4, seed=0) + pan(3, seed=7)  # a hard cut to another scene at frame 4
    translations = flickered(frames)
    motions, out = filtered(frames, translations)
    assert motions[0] is None and motions[4] is None
    assert all(m is not None for i, m in enumerate(motions) if i not in (0, 4))
    assert np.array_equal(out[0], translations[0]) and np.array_equal(out[4], translations[4])
    assert not np.array_equal(out[5], translations[5])  # blending resumes within the new shot


def test_flicker_is_damped_along_the_motion():
    frames = pan(8, step=1)
    translations = flickered(frames, amount=12.0)
    _, out = filtered(frames, translations)
    # the scene shifted by one column a frame: compare column c of frame t with column c+1 of frame t-1
    def jitter(seq):
        return np.mean([np.abs(seq[t][:, 4:-4].astype(float) - seq[t - 1][:, 5:-3]).mean() for t in range(1, 8)])
    assert jitter(out) < 0.6 * jitter(translations)
    assert np.abs(out[-1].astype(float) - frames[-1]).mean() < np.abs(translations[-1].astype(float) - frames[-1]).mean()


def test_content_entering_the_frame_is_never_blended():
    frames = pan(3, step=2)
    translations = flickered(frames)
    motions, out = filtered(frames, translations)
    assert motions[2] is not None
    entering = motions[2].map_x > W - 1  # columns that were outside frame 1
    assert entering[:, -2:].all() and np.array_equal(out[2][:, -2:], translations[2][:, -2:])


def test_a_changed_region_takes_the_new_translation():
    frames = [texture(H, W, 3)] * 3  # a still camera
    translations = [f.copy() for f in frames]
    translations[2] = translations[2].copy()
    translations[2][10:30, 20:44] = 255 - translations[2][10:30, 20:44]  # the translation changes there
    _, out = filtered(frames, translations)
    assert np.array_equal(out[2][14:26, 24:40], translations[2][14:26, 24:40])
    assert np.array_equal(out[2][:, :12], translations[2][:, :12])  # unchanged, agreeing pixels stay put


def test_grayscale_frames_and_size_changes():
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in pan(3)]
    tracker, blender = MotionTracker(), TemporalBlender()
    outs = [blender(f, tracker(f)) for f in frames]
    assert all(o.shape == (H, W) and o.dtype == np.uint8 for o in outs)
    other = texture(H + 8, W, 1)
    assert tracker(other) is None and np.array_equal(blender(other, None), other)


class MemorySink(Sink):
    """Keeps what the pipeline writes, before any encoding."""

    def __init__(self):
        self.frames = []

    def write(self, name, image):
        self.frames.append(image.copy())

    def finish(self, partial):
        return None


@pytest.fixture
def pan_video(tmp_path):
    path = tmp_path / "pan.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (W, H))
    for frame in pan(6, seed=2):
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize("batch", [1, 3])
def test_stream_api_gives_the_pipelines_frames(rgb_model, pan_video, batch):
    translator = Translator(rgb_model, "cpu")
    sink = MemorySink()
    with open_source("video", str(pan_video)) as source:
        run_pipeline(translator, source, sink, batch=batch, progress=False, temporal=TemporalSettings())
    decoded, _ = read_video(pan_video)
    stream = TemporalStream(translator)
    api = [stream(f) for f in decoded]
    assert len(api) == len(sink.frames) == 6
    if batch == 1:
        assert all(np.array_equal(a, p) for a, p in zip(api, sink.frames))
    else:  # a batched model call may differ in the last float bit, hence by one level after rounding
        assert max(np.abs(a.astype(int) - p).max() for a, p in zip(api, sink.frames)) <= 1
    plain = [translator(f) for f in decoded]
    assert np.array_equal(api[0], plain[0]) and not all(np.array_equal(a, p) for a, p in zip(api, plain))
    stream.reset()
    assert np.array_equal(stream(decoded[3]), plain[3])


def test_cli_temporal_matches_the_api_and_is_the_default_for_video(rgb_model, pan_video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(rgb_model, tmp_path / "G.onnx")
    runner = CliRunner()
    for flag, out in (("--temporal", "t.mp4"), (None, "d.mp4"), ("--no-temporal", "n.mp4")):
        args = ["--video", str(pan_video), "--model", "G.onnx", "--out", out, "--no-progress"]
        result = runner.invoke(main, args + ([flag] if flag else []))
        assert result.exit_code == 0, result.output
    decoded, _ = read_video(pan_video)
    translator = Translator(tmp_path / "G.onnx", "cpu")
    stream = TemporalStream(translator)
    api = [stream(f) for f in decoded]
    temporal, default, plain = (read_video(tmp_path / name)[0] for name in ("t.mp4", "d.mp4", "n.mp4"))
    assert all(np.array_equal(a, b) for a, b in zip(temporal, default))

    def error(xs, ys):
        return max(np.abs(x.astype(float) - y).mean() for x, y in zip(xs, ys))
    codec_loss = error([translator(f) for f in decoded], plain)  # mp4v's loss on this content, 0-255 levels
    assert error(api, temporal) <= 1.5 * codec_loss + 0.5
    assert error(temporal, plain) > 0


def test_temporal_is_refused_for_images(rgb_model, tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), image(24, 36))
    result = CliRunner().invoke(main, ["--image", str(tmp_path / "a.png"), "--model", str(rgb_model), "--temporal",
                                       "--out", str(tmp_path / "o.png"), "--no-progress"])
    assert_one_line_error(result, "--temporal: only for video, camera and stream sources")
    assert not (tmp_path / "o.png").exists()
    with open_source("image", [str(tmp_path / "a.png")]) as source, pytest.raises(InferError, match="^temporal="):
        run_pipeline(Translator(rgb_model, "cpu"), source, MemorySink(), temporal=TemporalSettings())


def test_benchmark_quick_run_writes_its_json(rgb_model, tmp_path):
    pytest.importorskip("skimage")  # the benchmark's photographs
    import json

    from benchmarks.temporal import main as benchmark

    out = tmp_path / "temporal.json"
    result = CliRunner().invoke(benchmark, ["--quick", "--model", str(rgb_model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {r["clip"] for r in data["clips"]} == {"pan", "zoom", "moving object", "hard cut"}
    assert {r["noise"] for r in data["clips"]} == {"none", "camera"}
    assert all(r["warp_frame"] > 0 and r["fps_temporal"] > 0 for r in data["clips"])
    assert data["targets"]["cut_frames_exact"]["met"] is True
    assert "flicker_left_worst" in data["targets"]
    assert all(r["flicker_left"] is None or r["flicker_left"] >= 0 for r in data["clips"])
    assert "| hard cut | camera |" in result.output


def test_flicker_left_counts_only_what_frame_by_frame_adds_above_the_clean_input():
    from benchmarks.temporal import flicker_left

    assert flicker_left(1.0, 1.1, 0.5) is None  # frame by frame adds less than a quarter: nothing to remove
    assert flicker_left(1.0, 3.0, 1.5) == pytest.approx(0.25)  # half a unit kept of two added
    assert flicker_left(1.0, 3.0, 0.8) == 0.0  # steadier than the input itself keeps nothing
    assert flicker_left(1.0, 3.0, 3.0) == pytest.approx(1.0)
