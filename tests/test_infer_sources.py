"""Sources, sinks and the streaming loop: every source kind, video in -> video out, partial and crash rules."""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from cgan.infer import (InferError, Translator, open_sink, open_source, output_path, run_pipeline, tiling,
                        translate_video)
from cgan.infer import cli as infer_cli
from cgan.infer.flags import as_flags
from cgan.infer.sinks import Sink, VideoSink
from cgan.infer.temporal import TemporalSettings
from helpers import fail_on_call, image, read_video, write_video


class FakeCamera:
    """What cgan.infer uses of cv2.VideoCapture: a camera that gives `frames` frames, no fps, then stops."""

    def __init__(self, frames=5, size=(20, 12), opened=True):
        self.left, self.size, self.opened, self.released = frames, size, opened, False

    def isOpened(self):
        return self.opened

    def read(self):
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, image(self.size[1], self.size[0], seed=self.left)

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_WIDTH: self.size[0], cv2.CAP_PROP_FRAME_HEIGHT: self.size[1]}.get(prop, 0.0)

    def release(self):
        self.released = True


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "clip.mp4", frames=7, size=(36, 24), fps=12.0)


def test_images_and_folder_sources(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a" / "one.png"), image(5, 6))
    cv2.imwrite(str(tmp_path / "a" / "b" / "two.jpg"), image(7, 8))
    (tmp_path / "a" / "b" / "notes.txt").write_text("hello")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"")
    with open_source("folder", tmp_path / "a") as src:
        frames = list(src)
    assert [(f.name, f.error != "") for f in frames] == [("b/notes.txt", True), ("b/two.jpg", False),
                                                         ("one.png", False)]
    assert src.total == 3 and not src.is_video and frames[1].image.shape == (7, 8, 3)
    with open_source("image", [tmp_path / "a" / "one.png"]) as src:
        assert [f.name for f in src] == ["one.png"] and src.name == "one"


def test_video_source_knows_fps_size_and_count(video):
    with open_source("video", video) as src:
        assert (src.fps, src.size, src.total, src.live) == (12.0, (36, 24), 7, False)
        assert len(list(src)) == 7


def test_fake_camera_through_the_pipeline(rgb_model, tmp_path):
    camera = FakeCamera(frames=5)
    with open_source("camera", 0, capture_factory=lambda *a: camera) as src:
        assert src.live and src.fps == 30.0 and src.total is None  # no fps reported: 30 assumed
        with open_sink(src, tmp_path / "cam.mp4", overwrite=False) as sink:
            report = run_pipeline(Translator(rgb_model, device="cpu"), src, sink, progress=False)
    assert camera.released and report.done == 5 and not report.partial
    frames, fps = read_video(tmp_path / "cam.mp4")
    assert len(frames) == 5 and fps == 30.0 and frames[0].shape == (12, 20, 3)


def test_ctrl_c_on_a_camera_is_the_normal_stop(rgb_model, tmp_path, monkeypatch):
    fail_on_call(monkeypatch, 4, KeyboardInterrupt())
    with open_source("camera", 0, capture_factory=lambda *a: FakeCamera(frames=50)) as src, \
            open_sink(src, tmp_path / "cam.mp4", overwrite=False) as sink:
        report = run_pipeline(Translator(rgb_model, device="cpu"), src, sink, progress=False)
    assert report.interrupted and not report.partial and report.output == tmp_path / "cam.mp4"
    assert len(read_video(tmp_path / "cam.mp4")[0]) == 3


def test_output_paths(video, tmp_path):
    with open_source("video", video) as src:
        assert output_path(src, "G") == Path("results/clip_G.mp4")
        assert output_path(src, "F", tmp_path) == tmp_path / "clip_F.mp4"  # an existing folder gets the name
        assert output_path(src, "G", tmp_path / "x.mov") == tmp_path / "x.mov"
    with open_source("folder", tmp_path) as src:
        assert output_path(src, "G") == Path(f"results/{tmp_path.name}_G")


def test_camera_that_does_not_open_is_one_clear_error():
    camera = FakeCamera(opened=False)
    with pytest.raises(InferError, match="^cannot open camera=3: no camera with that index"):
        open_source("camera", 3, capture_factory=lambda *a: camera)
    assert camera.released


class Discard(Sink):
    def write(self, name, image):
        pass

    def finish(self, partial):
        return None


def _sink_for(kind, source_args, out, overwrite=False):
    with open_source(kind, *source_args) as source:
        open_sink(source, out, overwrite)


def _pipeline_with_batch(rgb_model, video, batch):
    with open_source("video", video) as source:
        run_pipeline(Translator(rgb_model, device="cpu"), source, Discard(), batch=batch, progress=False)


# What the Python API says for each mistake, and what cgan-infer says for the same one
SPELLINGS = {
    "missing image": (lambda tmp, model, video: open_source("image", [str(tmp / "no pic.png")]),
                      r"^image='\S+/no pic.png': no such file$", r"--image '\S+/no pic.png': no such file"),
    "missing folder": (lambda tmp, model, video: open_source("folder", tmp / "none"),
                       r"^folder='\S+/none': no such folder$", r"--folder \S+/none: no such folder"),
    "empty folder": (lambda tmp, model, video: open_source("folder", (tmp / "empty").mkdir() or tmp / "empty"),
                     r"^folder='\S+/empty': no files in it$", r"--folder \S+/empty: no files in it"),
    "missing video": (lambda tmp, model, video: open_source("video", tmp / "none.mp4"),
                      r"^video='\S+/none.mp4': no such file$", r"--video \S+/none.mp4: no such file"),
    "camera index": (lambda tmp, model, video: open_source("camera", 5000),
                     r"^camera=5000: use an index from 0", r"--camera 5000: use an index from 0"),
    "stream not a URL": (lambda tmp, model, video: open_source("stream", "no url"),
                         r"^stream='no url': not a URL", r"--stream 'no url': not a URL"),
    "existing output": (lambda tmp, model, video: _sink_for("video", [video], video.with_name("done.mp4")),
                        r"already exists; pass overwrite=True or choose another out=\.\.\.$",
                        r"already exists; pass --overwrite or choose another --out$"),
    "image extension": (lambda tmp, model, video: _sink_for("image", [[str(video.with_name("a.png"))]],
                                                            tmp / "out.txt"),
                        r"^out='\S+/out.txt': give a file name with an image extension",
                        r"--out \S+/out.txt: give a file name with an image extension"),
    "video extension": (lambda tmp, model, video: _sink_for("video", [video], tmp / "out.txt"),
                        r"^out='\S+/out.txt': use a video extension", r"--out \S+/out.txt: use a video extension"),
    "batch": (lambda tmp, model, video: _pipeline_with_batch(model, video, 0), r"^batch=0: use 1 or more$",
              r"--batch 0: use 1 or more"),
    "temporal images": (lambda tmp, model, video: run_pipeline(None, open_source("image", [str(video.with_name(
        "a.png"))]), Discard(), temporal=TemporalSettings()), r"^temporal=\.\.\.: only for video, camera",
                        r"--temporal: only for video, camera"),
}


@pytest.mark.parametrize("mistake", list(SPELLINGS))
def test_sources_sinks_and_the_loop_name_arguments_as_the_api_spells_them_and_the_cli_as_flags(
        mistake, tmp_path, rgb_model, video):
    """The API's messages say `image='...'`, `overwrite=True`, `out=...`; cgan-infer turns them into its flags."""
    cv2.imwrite(str(video.with_name("a.png")), image(8, 8))
    video.with_name("done.mp4").write_bytes(b"keep")
    call, api, cli = SPELLINGS[mistake]
    with pytest.raises(InferError) as refused:
        call(tmp_path, rgb_model, video)
    assert re.search(api, str(refused.value)) and "--" not in str(refused.value), str(refused.value)
    assert re.search(cli, as_flags(str(refused.value), infer_cli.FLAGS)), as_flags(str(refused.value), infer_cli.FLAGS)


def test_a_failed_frame_is_told_through_the_callers_log(rgb_model, tmp_path):
    """cgan-infer passes its log, which writes the API's `size=...` as `--size`."""
    cv2.imwrite(str(tmp_path / "tiny.png"), image(1, 1))  # too small for the model to pad
    lines = []
    with open_source("image", [str(tmp_path / "tiny.png")]) as source:
        report = run_pipeline(Translator(rgb_model, device="cpu"), source, Discard(), progress=False,
                              log=lines.append)
    assert len(report.failed) == 1 and lines == [f"failed: {report.failed[0][0]}: {report.failed[0][1]}"]
    assert "use size=... to enlarge it first" in lines[0] and "--" not in lines[0]


def test_stream_over_http(video, http_url):
    with open_source("stream", f"{http_url}/{video.name}") as src:
        assert src.live and src.name == "clip"
        assert len(list(src)) == 7


def test_stream_file_url(video):
    with open_source("stream", video.resolve().as_uri()) as src:
        assert not src.live and src.total == 7


def test_video_in_video_out_keeps_fps_size_and_count(rgb_model, video, tmp_path):
    report = translate_video(rgb_model, video, tmp_path / "out.mp4", batch=3)
    assert report.done == 7 and report.output == tmp_path / "out.mp4" and not report.failed
    frames, fps = read_video(tmp_path / "out.mp4")
    assert len(frames) == 7 and fps == 12.0 and frames[0].shape == (24, 36, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_odd_video_sizes_lose_one_row_or_column_not_scale(rgb_model, tmp_path):
    src = write_video(tmp_path / "odd.avi", frames=3, size=(35, 23), fourcc="MJPG")
    translate_video(rgb_model, src, tmp_path / "odd_out.mp4")
    frames, _ = read_video(tmp_path / "odd_out.mp4")
    assert len(frames) == 3 and frames[0].shape == (22, 34, 3)


def test_existing_outputs_are_not_overwritten(rgb_model, video, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(InferError, match="already exists; pass overwrite=True or choose another out=..."):
        translate_video(rgb_model, video, out)
    assert out.read_bytes() == b"keep me"
    translate_video(rgb_model, video, out, overwrite=True)
    assert len(read_video(out)[0]) == 7


def test_ctrl_c_finalizes_a_playable_partial_video(rgb_model, video, tmp_path, monkeypatch):
    fail_on_call(monkeypatch, 4, KeyboardInterrupt())
    report = translate_video(rgb_model, video, tmp_path / "out.mp4")
    assert report.interrupted and report.partial and report.done == 3
    assert report.output == tmp_path / "out.partial.mp4" and not (tmp_path / "out.mp4").exists()
    frames, fps = read_video(report.output)
    assert len(frames) == 3 and fps == 12.0
    assert "partial" in report.summary()


def test_a_crash_leaves_no_file_that_looks_complete(rgb_model, video, tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    fail_on_call(monkeypatch, 3, RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        translate_video(rgb_model, video, out_dir / "out.mp4")
    assert list(out_dir.iterdir()) == []


def test_video_sink_refuses_unknown_containers(tmp_path):
    with pytest.raises(InferError, match="video extension"):
        VideoSink(tmp_path / "out.gif", 10.0, overwrite=False)


def test_batched_folder_equals_unbatched(rgb_model, tmp_path, monkeypatch):
    sizes, real = [], Translator.infer
    monkeypatch.setattr(Translator, "infer", lambda self, b: sizes.append(len(b)) or real(self, b))
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (h, w) in enumerate([(16, 20), (13, 17), (24, 20), (24, 20), (16, 20)]):
        cv2.imwrite(str(folder / f"{i}.png"), image(h, w, seed=i))
    translator = Translator(rgb_model, device="cpu")
    results = {}
    for batch in (1, 3):
        sizes.clear()
        with open_source("folder", folder) as src, open_sink(src, tmp_path / f"b{batch}", False) as sink:
            report = run_pipeline(translator, src, sink, batch=batch, progress=False)
        # 13x17 pads to 16x20, so it joins the first batch; a batch ends where the padded size changes
        assert report.done == 5 and sizes == ([1] * 5 if batch == 1 else [2, 2, 1])
        results[batch] = [cv2.imread(str(tmp_path / f"b{batch}" / f"{i}.png")) for i in range(5)]
    for a, b in zip(results[1], results[3]):
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_batch_never_asks_more_memory_than_the_budget(rgb_model, tmp_path, monkeypatch):
    """--batch 8 of frames that each fit the budget but not eight together: calls of what fits."""
    sizes, real = [], Translator.infer
    monkeypatch.setattr(Translator, "infer", lambda self, b: sizes.append(len(b)) or real(self, b))
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(7):
        cv2.imwrite(str(folder / f"{i}.png"), image(24, 32, seed=i))
    one = tiling.inference_bytes(24, 32, Translator(rgb_model, device="cpu").spec.info)
    translator = Translator(rgb_model, device="cpu", max_memory=3 * one)  # three frames per call
    assert translator.frames_per_call((3, 24, 32)) == 3
    with open_source("folder", folder) as src, open_sink(src, tmp_path / "out", False) as sink:
        report = run_pipeline(translator, src, sink, batch=8, progress=False)
    assert report.done == 7 and sizes == [3, 3, 1]
    sizes.clear()
    frames = [image(24, 32, seed=i) for i in range(7)]
    outputs = translator(frames)  # the API splits a list the same way
    assert sizes == [3, 3, 1]
    for frame, out in zip(frames, outputs):
        assert np.abs(out.astype(int) - translator(frame).astype(int)).max() <= 1  # batched sums may round apart
