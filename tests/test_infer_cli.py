"""cgan-infer through CliRunner: each source, outputs, and one clear line for each bad input."""
import shutil
import subprocess
import sys

import cv2
import pytest
from click.testing import CliRunner

from cgan.infer.cli import main
from helpers import assert_one_line_error, cuda_works, fail_on_call, image, read_video, write_video


@pytest.fixture
def work(tmp_path, monkeypatch, model_dir):
    """A project folder holding models/run/{G,F}.onnx, a video and a few images; the cwd of each test."""
    shutil.copytree(model_dir, tmp_path / "models" / "run")
    write_video(tmp_path / "in.mp4", frames=5, size=(36, 24), fps=8.0)
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "photos" / "a.png"), image(17, 23))
    cv2.imwrite(str(tmp_path / "photos" / "sub" / "b.jpg"), image(21, 30))
    (tmp_path / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert "Traceback" not in result.output
    return result


def line_with(result, text):
    lines = [line for line in result.output.splitlines() if text in line]
    assert len(lines) == 1, result.output
    return lines[0]


def test_video_with_the_latest_export(work):
    result = run("--video", "in.mp4")
    assert result.exit_code == 0, result.output
    assert "running models/run/G.onnx (G: x -> y" in result.output and "on CPUExecutionProvider" in result.output
    assert "done: 5 frames, 0 failed" in result.output and "results/in_G.mp4" in result.output
    frames, fps = read_video(work / "results" / "in_G.mp4")
    assert len(frames) == 5 and fps == 8.0 and frames[0].shape == (24, 36, 3)


def test_video_side_by_side_and_no_overwrite(work):
    assert run("--video", "in.mp4", "--side-by-side", "--gen", "F").exit_code == 0
    frames, _ = read_video(work / "results" / "in_F.mp4")
    assert frames[0].shape == (24, 72, 3)
    before = (work / "results" / "in_F.mp4").read_bytes()
    assert_one_line_error(run("--video", "in.mp4", "--gen", "F"), "already exists; pass --overwrite")
    assert (work / "results" / "in_F.mp4").read_bytes() == before
    assert run("--video", "in.mp4", "--gen", "F", "--overwrite").exit_code == 0


def test_one_image_keeps_its_odd_size(work):
    result = run("--image", "photos/a.png", "--out", "a_out.png")
    assert result.exit_code == 0, result.output
    assert cv2.imread("a_out.png").shape == (17, 23, 3)


def test_several_images_and_resizing(work):
    result = run("--image", "photos/a.png", "--image", "photos/sub/b.jpg", "--size", "12")
    assert result.exit_code == 0, result.output
    assert cv2.imread("results/images_G/a.png").shape == (17, 23, 3)
    assert cv2.imread("results/images_G/b.jpg").shape == (21, 30, 3)


def test_folder_mirrors_the_tree_and_reports_bad_files(work):
    (work / "photos" / "sub" / "notes.txt").write_text("not an image")
    (work / "photos" / "broken.png").write_bytes(b"\x89PNG broken")
    shutil.copy(work / "photos" / "a.png", work / "photos" / "a.data")  # a PNG OpenCV reads but cannot name
    result = run("--folder", "photos", "--out", "out", "--batch", "4")
    assert result.exit_code == 1
    line_with(result, "failed: broken.png: not an image")
    line_with(result, "failed: sub/notes.txt: not an image")
    assert "done: 3 images, 2 failed" in result.output
    assert cv2.imread("out/a.png").shape == (17, 23, 3) and cv2.imread("out/sub/b.jpg").shape == (21, 30, 3)
    assert cv2.imread("out/a.data.png").shape == (17, 23, 3)


def test_gray_model_writes_true_grayscale(work, gray_model):
    assert run("--image", "photos/a.png", "--model", str(gray_model), "--out", "g.png").exit_code == 0
    assert cv2.imread("g.png", cv2.IMREAD_UNCHANGED).shape == (17, 23)


def test_stream_over_http(work, http_url):
    result = run("--stream", f"{http_url}/in.mp4")
    assert result.exit_code == 0, result.output
    assert len(read_video(work / "results" / "in_G.mp4")[0]) == 5


def test_ctrl_c_reports_a_partial_video(work, monkeypatch):
    fail_on_call(monkeypatch, 3, KeyboardInterrupt())
    result = run("--video", "in.mp4")
    assert result.exit_code == 130
    assert "done: 2 frames" in result.output and "partial" in result.output
    assert "results/in_G.partial.mp4" in result.output and not (work / "results" / "in_G.mp4").exists()
    assert len(read_video(work / "results" / "in_G.partial.mp4")[0]) == 2


@pytest.mark.skipif(not cuda_works(), reason="ONNX Runtime cannot use a CUDA GPU here")
def test_cuda_device_really_runs_on_the_gpu(work):
    result = run("--video", "in.mp4", "--device", "cuda", "--strict-device")
    assert result.exit_code == 0, result.output
    assert "on CUDAExecutionProvider" in line_with(result, "running ") and "cannot be used" not in result.output
    assert len(read_video(work / "results" / "in_G.mp4")[0]) == 5


@pytest.mark.skipif(cuda_works(), reason="CUDA works here: test_cuda_device_really_runs_on_the_gpu applies")
def test_cuda_fallback_line_and_strict_device(work):
    result = run("--video", "in.mp4", "--device", "cuda")
    assert result.exit_code == 0
    assert "running on CPUExecutionProvider instead" in line_with(result, "--device cuda:0 cannot be used")
    assert sum("cuda" in line.lower() for line in result.output.splitlines()) == 1  # no wall of native logs
    assert_one_line_error(run("--video", "in.mp4", "--device", "cuda", "--strict-device", "--overwrite"),
               "--strict-device is set")


def test_no_native_log_lines_reach_the_terminal(work):
    """ONNX Runtime and OpenCV write from C++ straight to the process's stderr; CliRunner cannot see that."""
    code = "from cgan.infer.cli import main; main()"
    args = ["--video", "in.mp4", "--device", "cuda", "--no-progress", "--out", "sub.mp4"]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("done: 5 frames") and len(out.stdout.splitlines()) == 1
    lines = out.stderr.splitlines()
    if cuda_works():  # the start line alone, on the GPU
        assert len(lines) == 1 and "on CUDAExecutionProvider" in lines[0], lines
    else:  # the fallback note and the start line
        assert len(lines) == 2 and lines[1].startswith("running "), lines
    assert not any("onnxruntime:" in line or "WARN" in line or "Failed to load" in line for line in lines)


def test_show_without_a_display_says_so(work, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = run("--image", "photos/a.png", "--show")
    assert result.exit_code == 0 and "--show: no display" in result.output


def test_show_with_an_unreachable_display_says_so(work, monkeypatch):
    monkeypatch.setenv("DISPLAY", "127.0.0.1:987")  # nothing listens there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = run("--image", "photos/a.png", "--show")
    assert result.exit_code == 0, result.output
    assert "--show: cannot open a window" in line_with(result, "continuing without a preview window")


@pytest.mark.parametrize("args, message", [
    ((), "give exactly one source"),
    (("--video", "in.mp4", "--camera", "0"), "give exactly one source"),
    (("--video", "missing.mp4"), "--video missing.mp4: no such file"),
    (("--video", "garbage.mp4"), "--video garbage.mp4: OpenCV cannot decode it as a video"),
    (("--camera", "97"), "--camera 97: no camera with that index"),
    (("--stream", "http://127.0.0.1:9/none.mp4"), "--stream http://127.0.0.1:9/none.mp4: cannot open it"),
    (("--stream", "nowhere"), "not a URL"),
    (("--folder", "nothing"), "--folder nothing: no such folder"),
    (("--image", "photos/a.png", "--model", "in.mp4"), "in.mp4: not an ONNX model"),
    (("--image", "photos/a.png", "--model", "nothing.onnx"), "no such file or folder"),
    (("--image", "photos/a.png", "--device", "gpu"), "use auto, cpu, cuda[:N] or tensorrt[:N]"),
    (("--image", "photos/a.png", "--size", "big"), "--size big: give a shorter side"),
    (("--video", "in.mp4", "--out", "x.gif"), "use a video extension"),
    (("--image", "photos/sub/b.jpg", "--out", "photos/a.png/b.jpg"), "(photos/a.png: File exists)"),
])
def test_bad_input_is_one_clear_line(work, args, message):
    assert_one_line_error(run(*args), message)


def test_missing_generator_in_the_folder(work):
    (work / "models" / "run" / "F.onnx").unlink()
    assert_one_line_error(run("--image", "photos/a.png", "--gen", "F"), "--gen F: models/run has no F.onnx (found: G.onnx)")


def test_no_export_yet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("a.png", image(8, 8))
    assert_one_line_error(run("--image", "a.png"), "no .onnx file under models/")


def test_image_too_small_for_the_model(work):
    cv2.imwrite("tiny.png", image(2, 3))
    result = run("--image", "tiny.png")
    assert result.exit_code == 1
    line_with(result, "failed: tiny.png: 3x2 is too small for this model")
