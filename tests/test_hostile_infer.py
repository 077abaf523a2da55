"""Hostile and broken input to cgan-infer, the Translator API and cgan-export: every case is a real file
or model made here. Each must end in one line naming the user's file (or a clean result), never a
traceback, never a write outside the requested output, never a silent loss."""
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cgan.infer import InferError, Translator
from cgan.infer import files as files_module
from cgan.infer import sinks as sinks_module
from cgan.infer.cli import main
from cgan.infer.files import TEMP_PREFIX, atomic_write, create_temp, sweep_stale_temps
from cgan.infer.image_files import MAX_DECODE_PIXELS, read_image, UnreadableImage
from cgan.infer.metadata import ModelInfo
from cgan.infer.naming import unique_names
from cgan.infer.runtime import ModelRunError, run_failure
from helpers import (assert_one_line_error, fail_on_call, identity_info, identity_model, image, png_header_only,
                     read_video, write_video)


def cli(*args):
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert "Traceback" not in result.output, result.output
    return result


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """cwd with an identity model (valid metadata), a short video and a folder of images."""
    identity_model(tmp_path / "id.onnx", identity_info())
    write_video(tmp_path / "in.mp4", frames=4, size=(32, 24), fps=8.0)
    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "a.png"), image(12, 16))
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- Model metadata is untrusted ---------------------------------------------------------------------

ESCAPING_DIRECTIONS = ["../../evil", "/tmp/evil", "G/../../evil", "..", "G\x00", "G\nF"]


@pytest.mark.parametrize("direction", ESCAPING_DIRECTIONS)
def test_a_crafted_direction_never_becomes_a_path(work, direction):
    identity_model(work / "evil.onnx", identity_info(direction=direction))
    before = set(work.parent.iterdir())
    assert_one_line_error(cli("--video", "in.mp4", "--model", "evil.onnx"), "metadata 'direction'")
    assert set(work.parent.iterdir()) == before and not (work / "results").exists()


BAD_METADATA = [
    ("value_range", [1, 1]), ("value_range", "wide"), ("value_range", [0, 1e300]), ("value_range", [0]),
    ("value_range", [0, 10**400]),
    ("side_multiple", 0), ("side_multiple", -4), ("side_multiple", 10**9), ("side_multiple", True),
    ("side_multiple", 4.5), ("input_channels", 2), ("input_channels", "3"), ("output_channels", 4),
    ("color_order", "XYZ"), ("layout", "NHWC"), ("dtype", "float64"), ("precision", "fp64"),
    ("source_domain", "\x1b[31mred"), ("target_domain", "z" * 5000), ("generator", 7), ("ngf", -1),
    ("train_size", 0), ("format_version", "1"), ("input_name", None),
]


@pytest.mark.parametrize("key,value", BAD_METADATA, ids=[f"{k}={str(v)[:12]!r}" for k, v in BAD_METADATA])
def test_metadata_values_out_of_bounds_are_refused_in_one_line(work, key, value):
    identity_model(work / "bad.onnx", identity_info(**{key: value}))
    line = assert_one_line_error(cli("--image", "photos/a.png", "--model", "bad.onnx"), f"metadata '{key}'")
    assert "bad.onnx" in line and "\x1b" not in line
    assert not (work / "results").exists()


@pytest.mark.parametrize("text,reason", [
    ('{"direction": NaN}', "NaN"), (json.dumps(identity_info()).replace("-1.0", "-Infinity"), "Infinity"),
    ("[1, 2]", "not a JSON object"), ("{not json", "not valid JSON"), ("[" * 100000, "not valid JSON"),
    (json.dumps({"direction": "G"}), "incomplete"),
])
def test_metadata_that_is_not_strict_json_is_refused(work, text, reason):
    identity_model(work / "bad.onnx", text)
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "bad.onnx"), reason)


def test_metadata_is_written_as_strict_json():
    info = ModelInfo(**{**identity_info(), "value_range": (float("nan"), 1.0)})
    with pytest.raises(ValueError):
        info.to_metadata_props()


def test_a_plain_model_with_an_odd_file_name_names_outputs_safely(work):
    identity_model(work / "a b;$(x)..onnx", None)
    result = cli("--image", "photos/a.png", "--model", "a b;$(x)..onnx")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (work / "results").iterdir()] == ["a_a_b___x__.png"]


def test_a_graph_fixed_at_a_huge_size_is_refused(work):
    identity_model(work / "huge.onnx", identity_info(), static_hw=(100000, 100000))
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "huge.onnx"), "huge.onnx: its graph takes only")


# --- Output names are unique -------------------------------------------------------------------------

def test_unique_names_is_injective_deterministic_and_keeps_unique_names():
    names = ["k.jpg", "K.jpg", "k-2.jpg", "sub/a.png", "SUB/A.png", "b.png"]
    out = unique_names(names)
    assert out == unique_names(names)
    assert len({n.casefold() for n in out}) == len(names)
    assert out[0] == "k.jpg" and out[2] == "k-2.jpg" and out[3] == "sub/a.png" and out[5] == "b.png"


@pytest.mark.parametrize("names", [("k.jpg", "k.JPG"), ("a.png", "A.png"), ("x.gif", "x.gif.png"),
                                   ("café.png", "cafe\u0301.png")])
def test_inputs_mapping_to_one_output_name_get_distinct_outputs(work, names):
    folder = work / "clash"
    folder.mkdir()
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / "tmp.png"), image(12, 16, seed=i))
        (folder / "tmp.png").rename(folder / name)
    if len(list(folder.iterdir())) < len(names):
        pytest.skip("this file system folds these names into one")
    result = cli("--folder", "clash", "--model", "id.onnx", "--out", "out")
    assert result.exit_code == 0 and f"done: {len(names)} images" in result.output, result.output
    outputs = sorted((work / "out").iterdir())
    assert len({p.name.casefold() for p in outputs}) == len(names) == len(outputs)
    decoded = [cv2.imread(str(p)) for p in outputs]
    assert not np.array_equal(decoded[0], decoded[1])  # neither overwrote the other


def test_two_images_with_one_name_in_different_folders_both_come_out(work):
    for d, seed in (("x", 1), ("y", 2)):
        (work / d).mkdir()
        cv2.imwrite(str(work / d / "p.png"), image(12, 16, seed=seed))
    result = cli("--image", "x/p.png", "--image", "y/p.png", "--model", "id.onnx", "--out", "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (work / "out").iterdir()) == ["p-2.png", "p.png"]


# --- The user's own files are never written over, nor among ------------------------------------------

def _tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root` with its bytes (files) or target (symlinks), to compare before and after."""
    return {p.relative_to(root).as_posix(): os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else ""
            for p in root.rglob("*")}


def _sub_sub(work):  # an input whose mirrored output would be another input: photos/sub/sub/a.png -> photos/sub/a.png
    (work / "photos" / "sub" / "sub").mkdir(parents=True)
    for folder in ("photos/sub", "photos/sub/sub"):
        cv2.imwrite(str(work / folder / "a.png"), image(12, 16, seed=len(folder)))


def _two_images(work):
    cv2.imwrite(str(work / "photos" / "b.png"), image(12, 16, seed=5))


OVER_INPUTS = {  # name: (set-up, cwd below work, arguments)
    "folder onto itself": (None, ".", ["--folder", "photos", "--out", "photos"]),
    "folder into itself": (None, ".", ["--folder", "photos", "--out", "photos/translated"]),
    "folder through ..": (None, ".", ["--folder", "photos", "--out", "elsewhere/../photos/x"]),
    "folder through a symlink": (lambda w: (w / "link").symlink_to(w / "photos"), ".",
                                 ["--folder", "photos", "--out", "link/x"]),
    "input folder through a symlink": (lambda w: (w / "link").symlink_to(w / "photos"), ".",
                                       ["--folder", "link", "--out", "photos"]),
    "outputs landing in the input": (_sub_sub, ".", ["--folder", "photos/sub", "--out", "photos"]),
    "default output inside": (None, "photos", ["--folder", "."]),
    "image onto itself": (None, ".", ["--image", "photos/a.png", "--out", "photos/a.png"]),
    "image through ..": (None, ".", ["--image", "photos/a.png", "--out", "photos/../photos/a.png"]),
    "image onto a hard link": (lambda w: os.link(w / "photos" / "a.png", w / "hard.png"), ".",
                               ["--image", "photos/a.png", "--out", "hard.png"]),
    "image onto a symlink to it": (lambda w: (w / "soft.png").symlink_to(w / "photos" / "a.png"), ".",
                                   ["--image", "photos/a.png", "--out", "soft.png"]),
    "images into their folder": (_two_images, ".", ["--image", "photos/a.png", "--image", "photos/b.png",
                                                    "--out", "photos"]),
    "video onto itself": (None, ".", ["--video", "in.mp4", "--out", "in.mp4"]),
    "video through a symlinked input": (lambda w: (w / "v.mp4").symlink_to(w / "in.mp4"), ".",
                                        ["--video", "v.mp4", "--out", "in.mp4"]),
    "file stream onto itself": (None, ".", ["--stream", "file://{work}/in.mp4", "--out", "in.mp4"]),
}


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", OVER_INPUTS)
def test_an_output_over_or_among_the_inputs_is_refused(work, monkeypatch, case, overwrite):
    setup, cwd, args = OVER_INPUTS[case]
    if setup:
        setup(work)
    before = _tree(work)
    monkeypatch.chdir(work / cwd)
    args = [a.format(work=work) for a in args] + ["--model", str(work / "id.onnx")] + ["--overwrite"] * overwrite
    assert_one_line_error(cli(*args), "never writes over or among its inputs")
    assert _tree(work) == before  # nothing changed, nothing added


def test_an_output_beside_the_inputs_is_still_written(work):
    result = cli("--image", "photos/a.png", "--out", "photos", "--model", "id.onnx")  # photos/a_G.png
    assert result.exit_code == 0 and (work / "photos" / "a_G.png").is_file(), result.output
    (work / "photos" / "sub").mkdir()
    result = cli("--folder", "photos/sub/..", "--out", "out", "--model", "id.onnx")  # .. in the input only
    assert result.exit_code == 0 and (work / "out" / "a.png").is_file(), result.output


def test_a_stopped_video_never_finishes_over_an_input_named_like_the_partial(work, monkeypatch):
    os.replace(work / "in.mp4", work / "x.partial.mp4")
    before = _tree(work)
    fail_on_call(monkeypatch, 2, KeyboardInterrupt())
    result = cli("--video", "x.partial.mp4", "--out", "x.mp4", "--overwrite", "--no-temporal", "--model", "id.onnx")
    assert result.exit_code == 130 and "x.partial-2.mp4" in result.output, result.output
    assert (work / "x.partial.mp4").read_bytes() == before["x.partial.mp4"]


# --- Symlinks and existing outputs -------------------------------------------------------------------

def test_a_symlink_at_the_output_is_not_followed(work):
    victim = work / "victim.png"
    victim.write_bytes(b"keep me")
    (work / "out.png").symlink_to(victim)
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "out.png"), "already exists")
    assert victim.read_bytes() == b"keep me"
    assert cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "out.png", "--overwrite").exit_code == 0
    assert victim.read_bytes() == b"keep me" and not (work / "out.png").is_symlink()


def test_a_dangling_symlink_at_the_output_counts_as_existing(work):
    (work / "out.png").symlink_to(work / "nowhere" / "x.png")
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "out.png"), "already exists")
    assert not (work / "nowhere").exists()


def test_a_symlinked_video_output_is_replaced_not_written_through(work):
    victim = work / "victim.mp4"
    victim.write_bytes(b"keep me")
    (work / "out.mp4").symlink_to(victim)
    assert_one_line_error(cli("--video", "in.mp4", "--model", "id.onnx", "--out", "out.mp4"), "already exists")
    assert cli("--video", "in.mp4", "--model", "id.onnx", "--out", "out.mp4", "--overwrite").exit_code == 0
    assert victim.read_bytes() == b"keep me" and len(read_video(work / "out.mp4")[0]) == 4


def test_a_symlinked_folder_below_the_output_is_not_written_through(work):
    (work / "photos" / "sub").mkdir()
    cv2.imwrite(str(work / "photos" / "sub" / "b.png"), image(12, 16))
    outside = work / "outside"
    outside.mkdir()
    (work / "out").mkdir()
    (work / "out" / "sub").symlink_to(outside)
    result = cli("--folder", "photos", "--model", "id.onnx", "--out", "out")
    assert_one_line_error(result, "is a symlink")
    assert list(outside.iterdir()) == []


def test_existing_outputs_are_kept_and_nothing_is_written(work):
    cli("--folder", "photos", "--model", "id.onnx", "--out", "out")
    before = (work / "out" / "a.png").read_bytes()
    cv2.imwrite(str(work / "photos" / "new.png"), image(12, 16))
    assert_one_line_error(cli("--folder", "photos", "--model", "id.onnx", "--out", "out"), "already exists")
    assert (work / "out" / "a.png").read_bytes() == before and not (work / "out" / "new.png").exists()


def test_an_output_appearing_during_the_run_is_not_overwritten(tmp_path):
    target = tmp_path / "x.png"
    with pytest.raises(FileExistsError):
        with atomic_write(target, overwrite=False) as f:
            f.write(b"new")
            target.write_bytes(b"someone else's")
    assert target.read_bytes() == b"someone else's" and temp_files(tmp_path) == []


# --- A write is whole before it is called done --------------------------------------------------------

class TruncatingWriter:
    """cv2.VideoWriter as on a full disk: frames are accepted, but the file ends up cut short."""

    real = cv2.VideoWriter

    def __init__(self, path, *args):
        self.path, self.writer = path, self.real(path, *args)

    def isOpened(self):
        return self.writer.isOpened()

    def write(self, frame):
        self.writer.write(frame)

    def release(self):
        self.writer.release()
        data = Path(self.path).read_bytes()
        Path(self.path).write_bytes(data[: len(data) // 2])


def test_a_video_cut_short_by_a_full_disk_is_a_failure_not_done(work, monkeypatch):
    monkeypatch.setattr(sinks_module.cv2, "VideoWriter", TruncatingWriter)
    line = assert_one_line_error(cli("--video", "in.mp4", "--model", "id.onnx", "--out", "out.mp4"), "out.mp4")
    assert "read back" in line and "done:" not in line
    assert not (work / "out.mp4").exists() and temp_files(work) == []


def test_an_image_write_failing_midway_names_the_users_file(work, monkeypatch):
    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.name))

    real_open = open

    def open_full(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if TEMP_PREFIX in str(file) and "w" in mode:
            f.write = full_disk.__get__(f)
        return f

    monkeypatch.setattr(files_module, "open", open_full, raising=False)
    line = assert_one_line_error(cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "o.png"), "No space left")
    assert "o.png" in line and TEMP_PREFIX not in line
    assert not (work / "o.png").exists() and temp_files(work) == []


def test_an_image_that_does_not_read_back_is_not_published(work, monkeypatch):
    real = cv2.imencode
    monkeypatch.setattr(sinks_module.cv2, "imencode", lambda ext, img: (True, real(ext, img)[1][:40]))
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "o.png"), "does not read back")
    assert not (work / "o.png").exists() and temp_files(work) == []


# --- Modes, temp files -------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_outputs_follow_the_umask(work, mask):
    old = os.umask(mask)
    try:
        assert cli("--image", "photos/a.png", "--model", "id.onnx", "--out", "o.png").exit_code == 0
        assert cli("--video", "in.mp4", "--model", "id.onnx", "--out", "o.mp4").exit_code == 0
    finally:
        os.umask(old)
    for name in ("o.png", "o.mp4"):
        assert stat.S_IMODE((work / name).stat().st_mode) == 0o666 & ~mask


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_files_of_a_killed_writer_are_swept_on_the_next_write(tmp_path):
    stale = tmp_path / f"{TEMP_PREFIX}{_dead_pid()}-0123abcd-x.mp4"
    alive = tmp_path / f"{TEMP_PREFIX}{os.getppid()}-0123abcd-y.mp4"
    other = tmp_path / ".x.mp4.incomplete"
    for p in (stale, alive, other):
        p.write_bytes(b"half")
    files_module._swept.discard(tmp_path)
    with atomic_write(tmp_path / "z.png") as f:
        f.write(b"z")
    assert not stale.exists() and alive.exists() and other.exists()


def test_a_sweep_never_follows_or_removes_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / f"{TEMP_PREFIX}{_dead_pid()}-0123abcd-v").symlink_to(victim)
    assert sweep_stale_temps(tmp_path) == [] and victim.read_bytes() == b"keep"


def test_a_temp_file_is_never_created_through_a_planted_symlink(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    names = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(files_module.secrets, "token_hex", lambda n: next(names))
    (tmp_path / f"{TEMP_PREFIX}{os.getpid()}-aaaaaaaa-o.png").symlink_to(victim)
    temp = create_temp(tmp_path / "o.png")
    assert temp.name.endswith("bbbbbbbb-o.png") and victim.read_bytes() == b"keep"


def test_an_output_with_a_name_near_the_length_limit_is_written(tmp_path):
    target = tmp_path / ("n" * 250 + ".png")
    with atomic_write(target) as f:
        f.write(b"x")
    assert target.read_bytes() == b"x" and temp_files(tmp_path) == []


# --- Signals ----------------------------------------------------------------------------------------

def _infer_process(work: Path, model: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code = "import sys; from cgan.infer.entry import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "--model", str(model), "--device", "cpu", "--no-progress",
                             *args], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_video_like_ctrl_c(tmp_path, rgb_model, sig):
    write_video(tmp_path / "long.mp4", frames=150, size=(192, 128), fps=10.0)
    process = _infer_process(tmp_path, rgb_model, "--video", "long.mp4", "--out", "out.mp4")
    deadline = time.monotonic() + 60
    while not temp_files(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the writer opens on the first translated frame
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "partial: stopped early" in out
    frames, _ = read_video(tmp_path / "out.partial.mp4")
    assert 0 < len(frames) < 150
    assert not (tmp_path / "out.mp4").exists() and temp_files(tmp_path) == []


def test_the_temp_file_of_a_killed_run_is_removed_by_the_next_run(tmp_path, rgb_model):
    write_video(tmp_path / "long.mp4", frames=150, size=(192, 128), fps=10.0)
    process = _infer_process(tmp_path, rgb_model, "--video", "long.mp4", "--out", "out.mp4")
    deadline = time.monotonic() + 60
    while not temp_files(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.communicate(timeout=60)
    left = temp_files(tmp_path)
    assert len(left) == 1 and not (tmp_path / "out.mp4").exists()
    write_video(tmp_path / "short.mp4", frames=2, size=(32, 24))
    rerun = _infer_process(tmp_path, rgb_model, "--video", "short.mp4", "--out", "other.mp4")
    assert rerun.wait(timeout=120) == 0
    assert temp_files(tmp_path) == [] and (tmp_path / "other.mp4").exists()


@pytest.mark.parametrize("delay", [0.6, 1.2])
def test_a_stop_in_the_first_moments_is_clean(work, delay):
    """Ctrl-C while OpenCV and ONNX Runtime are still being imported, or while the model loads."""
    process = _infer_process(work, work / "id.onnx", "--video", "in.mp4", "--out", "out.mp4")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    # 130: our handler stopped it; -SIGINT: the signal came before Python itself had started (a busy
    # machine), which ends the process before it writes anything
    assert process.returncode in (0, 130, -signal.SIGINT) and temp_files(work) == []
    # The signal may land before the loop (nothing written), inside it (a playable .partial video, the
    # summary saying so) or, on a fast machine, after the last frame (the whole output)
    written = sorted(path.name for path in work.glob("out*.mp4"))
    if written == ["out.mp4"]:
        assert "-> out.mp4" in out and len(read_video(work / "out.mp4")[0]) == 4, out
    elif written:
        assert written == ["out.partial.mp4"] and "[partial: stopped early]" in out, out
        assert process.returncode == 130 and 0 < len(read_video(work / "out.partial.mp4")[0]) < 4
    else:
        assert process.returncode != 0 and "-> " not in out, out


def test_ctrl_c_in_an_apps_run_returns_a_partial_report_and_gives_its_handler_back(work, monkeypatch):
    from cgan.infer import translate_video

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # an app that changed nothing
    real, calls = Translator.infer, []

    def infer(self, batch):  # Ctrl-C while the second frame is in the model
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, batch)

    monkeypatch.setattr(Translator, "infer", infer)
    write_video(work / "clip.mp4", frames=12, size=(32, 24))
    report = translate_video(Translator(work / "id.onnx", "cpu"), work / "clip.mp4", work / "o.mp4")
    assert report.interrupted and report.partial and 2 <= report.done < 12
    assert report.output == work / "o.partial.mp4" and temp_files(work) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


SIGNALLED_RUNS = 200


def test_ctrl_c_at_random_moments_never_hangs_and_leaves_no_trace(work):
    """200 real cgan-infer --video runs, each given its first SIGINT at a random moment of its life (and
    up to two more), plus fresh processes stopped while Python starts and imports: every run must end
    within seconds with exit 0 (all written) or 130, no traceback, no temp file, and a whole or
    playable .partial video or nothing (tests/stop_signals.py)."""
    write_video(work / "clip.mp4", frames=30, size=(48, 32), fps=10.0)
    harness = Path(__file__).with_name("stop_signals.py")
    done = subprocess.run([sys.executable, str(harness), str(work / "runs"), str(work / "id.onnx"),
                           str(work / "clip.mp4"), "--frames", "30", "--runs", str(SIGNALLED_RUNS),
                           "--startup", "8"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["failures"] == [], "\n".join(report["failures"][:3])
    assert report["runs_signalled"]["fork"] >= SIGNALLED_RUNS and report["signals"] >= SIGNALLED_RUNS, report
    stopped = sum(n for outcome, n in report["outcomes"].items() if "exit 130 partial" in outcome)
    assert stopped >= SIGNALLED_RUNS // 10, report  # many stops land inside the frame loop, not only before it


# --- Native log lines never reach the terminal; messages name the user's file -------------------------

def test_a_truncated_mp4_gives_one_line_and_no_ffmpeg_noise(work):
    data = (work / "in.mp4").read_bytes()
    (work / "cut.mp4").write_bytes(data[: len(data) // 2])
    process = _infer_process(work, work / "id.onnx", "--video", "cut.mp4")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "moov atom" not in err and "[ WARN" not in err and "Traceback" not in err
    assert [line for line in err.splitlines() if "cut.mp4" in line] == [
        "Error: cannot open --video cut.mp4: OpenCV cannot decode it as a video"]


def test_a_corrupt_png_in_a_folder_prints_no_libpng_noise(work):
    data = (work / "photos" / "a.png").read_bytes()
    (work / "photos" / "b.png").write_bytes(data[:30] + bytes([data[30] ^ 0xFF]) + data[31:])
    process = _infer_process(work, work / "id.onnx", "--folder", "photos", "--out", "out")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "done: 1 image, 1 failed" in out
    assert not any(line.startswith("libpng") for line in err.splitlines()), err
    assert any(line.startswith("failed: b.png: not an image OpenCV can read (libpng") for line in err.splitlines())


# --- A folder run goes on after a bad image ---------------------------------------------------------

def test_a_folder_run_skips_bad_files_with_one_line_each_and_fails_at_the_end(work):
    photos = work / "photos"
    (photos / "empty.png").write_bytes(b"")
    (photos / "notes.txt").write_text("not an image")
    (photos / "cut.jpg").write_bytes(cv2.imencode(".jpg", image(40, 40))[1].tobytes()[:200])
    (photos / "huge.png").write_bytes(png_header_only(20000, 20000))
    result = cli("--folder", "photos", "--model", "id.onnx", "--out", "out")
    assert result.exit_code == 1, result.output
    assert "done: 1 image, 4 failed" in result.output
    for name, reason in [("empty.png", "empty"), ("notes.txt", "not an image"), ("cut.jpg", "not an image"),
                         ("huge.png", "20000x20000 is too large to decode")]:
        assert len([line for line in result.output.splitlines()
                    if line.startswith(f"failed: {name}: ") and reason in line]) == 1, result.output
    assert [p.name for p in (work / "out").iterdir()] == ["a.png"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_image_is_skipped_with_its_reason(work):
    locked = work / "photos" / "locked.png"
    locked.write_bytes((work / "photos" / "a.png").read_bytes())
    locked.chmod(0)
    result = cli("--folder", "photos", "--model", "id.onnx", "--out", "out")
    assert result.exit_code == 1 and "failed: locked.png: cannot read it (Permission denied)" in result.output


@pytest.mark.parametrize("encode", [lambda: png_header_only(30000, 30000),
                                    lambda: _jpeg_claiming(40000, 40000)], ids=["png", "jpeg"])
def test_a_header_claiming_a_huge_image_is_refused_before_decoding(tmp_path, encode):
    path = tmp_path / "huge"
    path.write_bytes(encode())
    with pytest.raises(UnreadableImage, match="too large to decode"):
        read_image(path)
    assert 30000 * 30000 > MAX_DECODE_PIXELS


def _jpeg_claiming(w: int, h: int) -> bytes:
    data = bytearray(cv2.imencode(".jpg", image(8, 8))[1].tobytes())
    i = 2
    while not (0xC0 <= data[i + 1] <= 0xC2):
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(data)


def test_a_video_ending_before_its_frame_count_is_a_reported_failure(work, monkeypatch):
    from cgan.infer import sources

    class Short:
        """A capture whose container says 4 frames but whose data gives out after 2."""

        real = cv2.VideoCapture

        def __init__(self, *args):
            self.capture, self.reads = self.real(*args), 0

        def read(self):
            self.reads += 1
            return self.capture.read() if self.reads <= 2 else (False, None)

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(sources.cv2, "VideoCapture", Short)
    result = cli("--video", "in.mp4", "--model", "id.onnx", "--out", "o.mp4")
    assert result.exit_code == 1 and "the video ends after 2 of its 4 frames" in result.output


# --- The model's output is checked against the contract ----------------------------------------------

def graph_model(path: Path, nodes: list, metadata: dict | None, *, channels: int = 3,
                extra_outputs: tuple[tuple[str, list], ...] = ()) -> Path:
    """An ONNX model from `nodes` (onnx.helper nodes taking "image", giving "translated" and `extra_outputs`)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "crafted", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", channels, "h", "w"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
         for name, shape in (("translated", None), *extra_outputs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, {"cgan": json.dumps(metadata)})
    onnx.save(model, str(path))
    return path


def _node(op, inputs, output="translated", **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, [output], **attrs)


BROKEN_CONTRACTS = {  # name: (nodes, metadata changes, input channels); channels break only what metadata says
    "half the size": ([_node("AveragePool", ["image"], kernel_shape=[2, 2], strides=[2, 2])], {}, 3),
    "one channel for three": ([_node("ReduceMean", ["image"], axes=[1], keepdims=1)], {}, 3),
    "three channels for one": ([_node("Concat", ["image", "image", "image"], axis=1)],
                               {"input_channels": 1, "output_channels": 1}, 1),
    "a row more": ([_node("Pad", ["image", "pads"]), _node("Constant", [], "pads", value_ints=[0, 0, 0, 0, 0, 0, 1, 0])],
                   {}, 3),
    "a 1 x 1 output": ([_node("GlobalAveragePool", ["image"])], {}, 3),
}


@pytest.mark.parametrize("case, metadata", [(case, True) for case in BROKEN_CONTRACTS]
                         + [(case, False) for case in BROKEN_CONTRACTS if "channel" not in case])
def test_a_model_breaking_the_output_contract_is_refused_at_load(work, case, metadata):
    nodes, changes, channels = BROKEN_CONTRACTS[case]
    info = identity_info(**changes) if metadata else None
    model = graph_model(work / "broken.onnx", nodes, info, channels=channels)
    with pytest.raises(InferError, match="broken.onnx: the model gives"):
        Translator(model, "cpu")
    for source in (["--image", "photos/a.png", "--out", "o.png"], ["--video", "in.mp4", "--out", "o.mp4"]):
        line = assert_one_line_error(cli(*source, "--model", "broken.onnx"), "broken.onnx")
        assert "the model gives" in line and "same height and width" in line
    assert not list(work.glob("o*")) and temp_files(work) == []


def test_a_model_breaking_the_contract_only_on_some_calls_is_caught_on_that_call(work, monkeypatch):
    """Fine for one frame (the dry run), but the batch collapses to one: checked on every call."""
    graph_model(work / "batch.onnx", [_node("ReduceMean", ["image"], axes=[0], keepdims=1)], identity_info())
    assert Translator(work / "batch.onnx", "cpu")(image(12, 16)).shape == (12, 16, 3)
    cv2.imwrite(str(work / "photos" / "b.png"), image(12, 16, seed=3))
    line = assert_one_line_error(cli("--folder", "photos", "--batch", "2", "--model", "batch.onnx", "--out", "out"),
                      "batch.onnx: the model gives 1 x 3 x 12 x 16 for a 2 x 3 x 12 x 16 input")
    assert "Traceback" not in line and not (work / "out").exists()


NAMING = {  # metadata names -> what the line says
    "input names the output": ({"input_name": "translated"}, "names the input 'translated', which is not an input"),
    "output names the input": ({"output_name": "image"}, "names the output 'image', which is not an output"),
    "names nothing": ({"output_name": "nope"}, "names the output 'nope', which is not an output"),
    "output names statistics": ({"output_name": "norm0_mean", "norm_stats": 1},
                                "'norm0_mean', which is an instance-norm statistics output"),
    "statistics, undeclared": ({"output_name": "norm0_mean"}, "the model gives 1 x 3 x 1 x 1"),
}


@pytest.mark.parametrize("case", NAMING)
def test_metadata_naming_the_wrong_tensors_is_refused_in_one_line(work, case):
    changes, text = NAMING[case]
    graph_model(work / "named.onnx", [_node("Identity", ["image"]), _node("GlobalAveragePool", ["image"], "norm0_mean")],
                identity_info(**changes), extra_outputs=(("norm0_mean", ["n", 3, 1, 1]),))
    line = assert_one_line_error(cli("--image", "photos/a.png", "--model", "named.onnx", "--out", "o.png"), text)
    assert "named.onnx" in line and not (work / "o.png").exists()


# --- A source whose frame size changes mid-stream ------------------------------------------------------

class Resizing:
    """A capture whose frames take other sizes part-way, as a stream after a scene cut."""

    real = cv2.VideoCapture
    changes: dict[int, tuple[int, int]] = {}  # frame index -> (width, height)

    def __init__(self, *args):
        self.capture, self.reads = self.real(*args), 0

    def read(self):
        ok, frame = self.capture.read()
        change = self.changes.get(self.reads)
        self.reads += 1
        if ok and change:
            frame = cv2.resize(frame, change)
        return ok, frame

    def __getattr__(self, name):
        return getattr(self.capture, name)


@pytest.mark.parametrize("changes", [{2: (48, 40), 3: (48, 40)}, {1: (16, 12), 2: (7, 5), 3: (33, 25)},
                                     {0: (20, 16)}], ids=["larger", "smaller and odd", "first"])
@pytest.mark.parametrize("temporal", ["--temporal", "--no-temporal"])
def test_frames_changing_size_are_kept_resized_to_the_files_size(work, monkeypatch, changes, temporal):
    from cgan.infer import sources

    monkeypatch.setattr(Resizing, "changes", changes)
    monkeypatch.setattr(sources.cv2, "VideoCapture", Resizing)
    result = cli("--video", "in.mp4", "--model", "id.onnx", "--out", "o.mp4", temporal)
    assert result.exit_code == 0 and "done: 4 frames, 0 failed" in result.output, result.output
    notes = [line for line in result.output.splitlines() if "the frames change size" in line]
    assert 1 <= len(notes) <= len(set(changes.values())) + 1 and all("resized to the video's" in n for n in notes)
    monkeypatch.undo()  # read the output back with OpenCV's own capture
    frames, _ = read_video(work / "o.mp4")
    assert len(frames) == 4 and {f.shape for f in frames} == {frames[0].shape}


# --- OpenCV's writers on tiny frames ---------------------------------------------------------------------

@pytest.mark.parametrize("ext", sorted({codec: ext for ext, codec in sinks_module.VIDEO_CODECS.items()}.values()))
@pytest.mark.parametrize("size", [(8, 6), (4, 4), (2, 8), (3, 17)], ids=str)
def test_tiny_frames_never_crash_a_video_writer(work, ext, size):
    """In a real process: an MJPG writer given frames below its size aborts the whole process."""
    write_video(work / "tiny.mp4", frames=3, size=size)
    process = _infer_process(work, work / "id.onnx", "--video", "tiny.mp4", "--out", f"o{ext}", "--no-temporal")
    out, err = process.communicate(timeout=60)
    assert process.returncode in (0, 1) and "Traceback" not in err, (process.returncode, err)
    if process.returncode == 0:
        assert len(read_video(work / f"o{ext}")[0]) == 3
    else:
        assert [line for line in err.splitlines() if f"o{ext}" in line] == [
            line for line in err.splitlines() if "too small for a" in line] != []
        assert not (work / f"o{ext}").exists()
    assert temp_files(work) == []


# --- Smaller cases -----------------------------------------------------------------------------------

def test_gen_with_a_model_file_is_an_error(work):
    assert_one_line_error(cli("--image", "photos/a.png", "--model", "id.onnx", "--gen", "F"), "--gen F: picks a generator")


@pytest.mark.parametrize("index", ["99999999999", "5000"])
def test_a_camera_index_out_of_range_is_one_line(work, index):
    assert_one_line_error(cli("--camera", index, "--model", "id.onnx"), f"--camera {index}")


def test_out_of_memory_is_not_called_a_small_frame():
    line = run_failure(RuntimeError("Failed to allocate memory for requested buffer of size 123"), (1, 3, 64, 80))
    assert "out of memory" in line and "small" not in line
    assert "size=... can enlarge" in run_failure(RuntimeError("Invalid input shape"), (1, 3, 2, 2))


def test_a_model_asking_for_absurd_memory_is_not_blamed_on_the_frame():
    request = "Failed to allocate memory for requested buffer of size {}"
    shape = (1, 3, 64, 80)  # 61,440 bytes as float32
    plausible = run_failure(RuntimeError(request.format(256 * 64 * 80 * 4)), shape)
    assert "size=... to shrink" in plausible and "crafted" not in plausible
    absurd = run_failure(RuntimeError(request.format(120 << 30)), shape)
    assert "120.0 GiB" in absurd and "crafted" in absurd and "size=" not in absurd


def test_a_memory_error_in_the_model_is_a_model_run_error(work, monkeypatch):
    t = Translator(work / "id.onnx", "cpu")
    monkeypatch.setattr(t.session.session, "run", lambda *a: (_ for _ in ()).throw(MemoryError()), raising=False)
    with pytest.raises(ModelRunError, match="ran out of memory"):
        t(image(12, 16))


# --- The Python API raises InferError for anything that is not an image --------------------------------

NOT_IMAGES = [None, "photo.png", b"bytes", 3, [], (), [None], [image(8, 8), None], [image(8, 8), "x"],
              np.zeros((0, 5, 3), np.uint8), np.zeros((5, 0), np.uint8), np.zeros((0, 8, 8, 3), np.uint8),
              np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 2), np.uint8),
              np.zeros((1, 1, 8, 8, 3), np.uint8), np.zeros(8, np.uint8), np.array(5, np.uint8),
              np.array([[None]], dtype=object), np.zeros((8, 8, 3), np.int64), {"image": 1}]


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    return Translator(identity_model(tmp_path_factory.mktemp("id") / "id.onnx", identity_info()), "cpu")


@pytest.mark.parametrize("value", NOT_IMAGES, ids=[f"{type(v).__name__}-{getattr(v, 'shape', v)!s:.20}"
                                                   for v in NOT_IMAGES])
def test_the_api_raises_infer_error_for_non_images(translator, value):
    with pytest.raises(InferError):
        translator(value)


# --- Temporal video on small and thin frames ----------------------------------------------------------

@pytest.mark.parametrize("size", [(8, 8), (12, 8), (1000, 16), (16, 1000), (640, 10)], ids=str)
def test_temporal_video_on_small_or_thin_frames_falls_back_with_one_line(work, size):
    write_video(work / "small.mp4", frames=4, size=size)
    result = cli("--video", "small.mp4", "--model", "id.onnx", "--out", "o.mp4")
    assert result.exit_code == 0 and "done: 4 frames" in result.output, result.output
    assert len([line for line in result.output.splitlines() if "too small for optical flow" in line]) <= 1
    assert len(read_video(work / "o.mp4")[0]) == 4


FRAMES = {"5x5": image(5, 5), "8x8": image(8, 8), "1000x16": image(16, 1000), "16x1000": image(1000, 16),
          "grey HxWx1": image(12, 16)[:, :, :1].copy(), "grey HxW": image(12, 16)[:, :, 0].copy(), "1x1": image(1, 1)}


@pytest.mark.parametrize("name", FRAMES)
def test_temporal_stream_takes_what_translator_takes(translator, name):
    from cgan.infer import TemporalStream

    frame = FRAMES[name]
    stream = TemporalStream(translator)
    for shift in range(3):  # a still frame, then moving ones
        moved = np.roll(frame, shift, axis=1)
        out = stream(moved)
        assert out.shape == translator(moved).shape == moved.shape and out.dtype == np.uint8


@pytest.mark.parametrize("value", NOT_IMAGES, ids=[f"{type(v).__name__}-{getattr(v, 'shape', v)!s:.20}"
                                                   for v in NOT_IMAGES])
def test_temporal_stream_raises_infer_error_for_non_images(translator, value):
    from cgan.infer import TemporalStream

    stream = TemporalStream(translator)
    stream(image(12, 16))
    with pytest.raises(InferError):
        stream(value)


# --- Export refuses non-finite weights and outputs ----------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_export_refuses_non_finite_weights(tmp_path, bad):
    import torch

    from cgan.export.errors import ExportError
    from cgan.export.onnx_export import export_generator
    from cgan.train import create_generator

    net = create_generator("resnet_6blocks", 3, 3, ngf=4)
    with torch.no_grad():
        next(net.parameters()).view(-1)[0] = bad
    info = ModelInfo(**{**identity_info(), "generator": "resnet_6blocks", "ngf": 4, "norm": "instance",
                        "side_multiple": net.side_multiple, "value_range": (-1.0, 1.0)})
    with pytest.raises(ExportError, match="NaN or Inf"):
        export_generator(net, tmp_path / "G.onnx", info)
    assert list(tmp_path.iterdir()) == []


def test_export_parity_refuses_nan_outputs():
    from cgan.export.errors import ExportError
    from cgan.export.verify import compare_runs

    x = [np.zeros((1, 3, 4, 4), np.float32)]
    with pytest.raises(ExportError, match="NaN or Inf"):
        compare_runs(lambda v: v * np.nan, lambda v: v, x)


def test_an_export_that_does_not_load_back_is_not_published(tmp_path):
    from cgan.export import onnx_export
    from cgan.export.errors import ExportError

    data = identity_model(tmp_path / "src.onnx", identity_info()).read_bytes()

    class CutShort:
        """A model whose bytes end early, as a full disk leaves them."""

        def SerializeToString(self):
            return data[: len(data) // 2]

    with pytest.raises(ExportError, match="does not load back"):
        onnx_export.write_model(CutShort(), tmp_path / "out" / "G.onnx", overwrite=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_an_export_follows_the_umask_and_not_a_symlink(tmp_path):
    import onnx

    from cgan.export import onnx_export
    from cgan.export.errors import ExportError

    model = onnx.load(str(identity_model(tmp_path / "src.onnx", identity_info())))
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "G.onnx").symlink_to(victim)
    with pytest.raises(ExportError, match="already exists"):
        onnx_export.prepare_destination(tmp_path / "G.onnx", overwrite=False)
    old = os.umask(0o022)
    try:
        onnx_export.write_model(model, tmp_path / "G.onnx", overwrite=True)
    finally:
        os.umask(old)
    assert victim.read_bytes() == b"keep" and not (tmp_path / "G.onnx").is_symlink()
    assert stat.S_IMODE((tmp_path / "G.onnx").stat().st_mode) == 0o644
