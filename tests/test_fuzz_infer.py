"""Property-based tests (Hypothesis) of cgan.infer's readers of untrusted input: model metadata, image
bytes and video bytes. Each input is either accepted with valid values or refused with InferError
(ValueError for the metadata parser); never another exception, never a path outside the output. Each
generator also makes valid inputs (intact files, values within the checks), which must be accepted: a
reader that refused everything fails.

Bounded by default; `CGAN_FUZZ=long` runs many more examples (profiles in conftest.py)."""
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cgan.infer import InferError, open_sink, open_source, output_path
from cgan.infer.image_files import read_image
from cgan.infer.metadata import CHECKS, MAX_NGF, MAX_RANGE, MAX_SIDE_MULTIPLE, MAX_TRAIN_SIZE, ModelInfo
from cgan.infer.model import read_spec
from cgan.infer.runtime import Device, create_session
from helpers import identity_info, identity_model, image, write_video

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=8)


TEXT = st.text(max_size=30).filter(str.isprintable)
VALID = {  # values each check accepts, written independently of the checks
    "direction": st.sampled_from(["G", "F"]),
    **{key: TEXT for key in ("source_domain", "target_domain", "generator", "norm", "input_name", "output_name",
                             "preprocess", "postprocess", "cgan_version", "export_date", "checkpoint_sha256")},
    "ngf": st.integers(1, MAX_NGF),
    "input_channels": st.sampled_from([1, 3]), "output_channels": st.sampled_from([1, 3]),
    "side_multiple": st.integers(1, MAX_SIDE_MULTIPLE),
    "train_size": st.integers(1, MAX_TRAIN_SIZE),
    "layout": st.just("NCHW"),
    "color_order": st.sampled_from(["RGB", "BGR"]),
    "value_range": st.lists(st.floats(-MAX_RANGE, MAX_RANGE) | st.integers(-10, 10), min_size=2, max_size=2,
                            unique=True),
    "dtype": st.sampled_from(["float32", "float16"]),
    "precision": st.sampled_from(["fp32", "fp16", "int8"]),
    "format_version": st.integers(1, 1_000_000),
    "norm_stats": st.none() | st.integers(0, 10_000),
}


def test_every_metadata_field_has_a_check_and_valid_values():
    assert set(CHECKS) == set(ModelInfo.__dataclass_fields__) == set(VALID)


@st.composite
def key_and_value(draw, keys=tuple(sorted(CHECKS))):
    """(key, value, whether the value is one the check must accept)."""
    key = draw(st.sampled_from(keys))
    valid = draw(st.booleans())
    return key, draw(VALID[key] if valid else JSON), valid


def _as_read(key: str, value):
    """`value` as ModelInfo holds it once read."""
    return tuple(float(v) for v in value) if key == "value_range" else value


def _valid(info: ModelInfo) -> bool:
    lo, hi = info.value_range
    return (info.direction in ("G", "F") and info.input_channels in (1, 3) and info.output_channels in (1, 3)
            and 1 <= info.side_multiple <= 1024 and np.isfinite([lo, hi]).all() and lo != hi
            and all(isinstance(getattr(info, k), str) and getattr(info, k).isprintable()
                    for k in ("source_domain", "target_domain", "generator", "input_name", "output_name")))


@given(case=key_and_value())
@example(case=("ngf", 64, True))
def test_any_json_value_for_any_key_is_accepted_valid_or_refused(case):
    key, value, valid = case
    data = {**identity_info(), key: value}
    try:
        text = json.dumps(data)  # Python writes NaN/Infinity here: the parser must refuse them
        info = ModelInfo.from_metadata_props({"cgan": text})
    except ValueError:
        assert not valid, (key, value)
        return
    assert _valid(info)
    assert not valid or getattr(info, key) == _as_read(key, value)


def _is_identity_metadata(text: str) -> bool:
    try:
        return json.loads(text) == identity_info()
    except (ValueError, RecursionError):
        return False


METADATA_TEXT = st.builds(lambda indent, separators: json.dumps(identity_info(), indent=indent, separators=separators),
                          st.none() | st.integers(0, 4), st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")]))


@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")) | METADATA_TEXT)
@example(text=json.dumps(identity_info()))
def test_any_text_as_metadata_is_parsed_or_refused(text):
    valid = _is_identity_metadata(text)
    try:
        info = ModelInfo.from_metadata_props({"cgan": text})
    except ValueError:
        assert not valid, text
        return
    assert info is None or _valid(info)
    assert not valid or ModelInfo.from_metadata_props({"cgan": json.dumps(identity_info())}) == info


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = identity_model(tmp_path_factory.mktemp("fuzz") / "id.onnx", identity_info())
    return path, create_session(path, Device("cpu"))


class _Props:
    """A session whose metadata map is replaced: read_spec sees the crafted values, the graph stays real."""

    def __init__(self, session, props):
        self.session, self.props = session, props

    def get_modelmeta(self):
        return self

    @property
    def custom_metadata_map(self):
        return self.props

    def __getattr__(self, name):
        return getattr(self.session, name)


SPEC_KEYS = tuple(sorted(set(CHECKS) - {"input_name", "output_name"}))  # those must name the graph's tensors


@given(changes=st.lists(key_and_value(SPEC_KEYS), min_size=1, max_size=3))
@example(changes=[("source_domain", "..", True), ("target_domain", "a/b", True)])
def test_crafted_metadata_never_puts_a_path_outside_the_output(session, changes, tmp_path_factory):
    path, real = session
    metadata = {**identity_info(), **{key: value for key, value, _ in changes}}
    valid = all(ok for _, _, ok in changes)
    crafted = type(real)(_Props(real.session, {"cgan": json.dumps(metadata)}),
                         real.provider, real.device_index, real.note)
    try:
        spec, _ = read_spec(path, crafted)
    except InferError:
        assert not valid, changes
        return
    root = tmp_path_factory.getbasetemp() / "fuzz-out"
    for source in (_FakeVideo("in"), _FakeImages(["a.png"]), _FakeImages(["a.png", "b/c.jpg"])):
        target = output_path(source, spec.tag, root)
        assert target.resolve().is_relative_to(root.resolve())
        assert "/" not in spec.tag and "\\" not in spec.tag and spec.tag not in ("", ".", "..")


class _FakeVideo:
    is_video, kind, total, names = True, "video", 3, []

    def __init__(self, name):
        self.name = name


class _FakeImages:
    is_video = False

    def __init__(self, names):
        self.name, self.names, self.total = "photos", names, len(names)
        self.kind = "images" if len(names) == 1 else "folder"


# --- Image bytes --------------------------------------------------------------------------------------

def _encoded(ext: str) -> bytes:
    return cv2.imencode(ext, image(24, 32, seed=3))[1].tobytes()


SAMPLES = {ext: _encoded(ext) for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff")}


@st.composite
def damaged(draw, samples):
    """A real file cut short, with bits flipped, or both; random bytes; or the real file intact."""
    data = bytearray(samples[draw(st.sampled_from(sorted(samples)))])
    kind = draw(st.sampled_from(["truncate", "flip", "both", "random", "intact"]))
    if kind == "intact":
        return bytes(data)
    if kind == "random":
        return draw(st.binary(max_size=2000))
    if kind in ("flip", "both"):
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    if kind in ("truncate", "both"):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


def _is_image(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3 and x.size > 0


@given(data=damaged(SAMPLES))
@example(data=SAMPLES[".png"])
def test_the_image_reader_gives_an_image_or_one_reason(tmp_path_factory, data, capfd):
    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(data)
    try:
        assert _is_image(read_image(path))
    except InferError as e:
        assert "\n" not in str(e) and str(e)
        assert data not in SAMPLES.values(), e  # an intact file is read
    assert not [line for line in capfd.readouterr().err.splitlines() if line.strip()]


@given(files=st.lists(damaged(SAMPLES), min_size=1, max_size=4))
@example(files=list(SAMPLES.values()))
def test_the_folder_reader_yields_every_file_as_an_image_or_a_reason(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("folder")
    for i, data in enumerate(files):
        (folder / f"{i}.png").write_bytes(data)
    with open_source("folder", str(folder)) as source:
        frames = list(source)
    assert len(frames) == len(files)
    intact = {f"{i}.png" for i, data in enumerate(files) if data in SAMPLES.values()}
    for frame in frames:
        assert (frame.image is None) == bool(frame.error)
        assert frame.image is None or _is_image(frame.image)
        assert frame.image is not None or Path(frame.name).name not in intact, frame.error


# --- Video bytes --------------------------------------------------------------------------------------

def _video_samples() -> dict[str, bytes]:
    """A real 5-frame MP4 (mp4v) and AVI (MJPG), made once."""
    with tempfile.TemporaryDirectory() as folder:
        return {ext: write_video(Path(folder) / f"v{ext}", frames=5, size=(32, 24), fourcc=fourcc).read_bytes()
                for ext, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG"))}


VIDEOS = _video_samples()


@given(data=damaged(VIDEOS), ext=st.sampled_from(sorted(VIDEOS)))
@example(data=VIDEOS[".mp4"], ext=".mp4")
def test_the_video_reader_and_writer_never_fail_another_way(tmp_path_factory, data, ext, capfd):
    folder = tmp_path_factory.mktemp("vid")
    path = folder / f"in{ext}"
    path.write_bytes(data)
    published = False
    try:
        with open_source("video", str(path)) as source, open_sink(source, folder / "out.mp4", False) as sink:
            for frame in source:
                assert (frame.image is None) == bool(frame.error)
                if frame.image is not None:
                    sink.write(frame.name, frame.image)
            published = sink.finish(partial=False) is not None
    except InferError as e:
        assert "\n" not in str(e) and not published
    assert published or data != VIDEOS.get(ext), "an intact video was not translated"
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name] + (["out.mp4"] if published else []))
    assert not [line for line in capfd.readouterr().err.splitlines() if line.strip()]


# --- Outputs and inputs -------------------------------------------------------------------------------

PARTS = st.sampled_from(["photos", "sub", "link", "out", "..", ".", "a.png", "b.png"])


def _inputs_tree(root: Path) -> None:
    """photos/{a.png, sub/b.png, sub/sub/a.png}, a symlink link -> photos/sub and a hard link hard.png."""
    (root / "photos" / "sub" / "sub").mkdir(parents=True)
    for i, name in enumerate(("a.png", "sub/b.png", "sub/sub/a.png")):
        cv2.imwrite(str(root / "photos" / name), image(8, 8, seed=i))
    (root / "link").symlink_to(root / "photos" / "sub")
    os.link(root / "photos" / "a.png", root / "hard.png")


@given(source=st.sampled_from([("folder", "photos"), ("folder", "link"), ("folder", "photos/sub"),
                               ("image", ["photos/a.png"]), ("image", ["photos/a.png", "link/b.png"])]),
       out=st.lists(PARTS, min_size=1, max_size=4))
@example(source=("image", ["photos/a.png", "link/b.png"]), out=["out", "sub"])
def test_no_output_ever_replaces_an_input_or_lands_among_them(tmp_path_factory, source, out):
    root = tmp_path_factory.mktemp("apart")
    _inputs_tree(root)
    kind, value = source
    value = [str(root / v) for v in value] if kind == "image" else str(root / value)
    folder = Path(os.path.realpath(value)) if kind == "folder" else None
    before = {p: p.read_bytes() for p in (root / "photos").rglob("*") if p.is_file()}
    apart = out[0] == "out" and set(out) <= {"out", "sub"}  # a new folder away from every input: must be written
    try:
        with open_source(kind, value) as src, open_sink(src, root.joinpath(*out), overwrite=True) as sink:
            for frame in src:
                sink.write(frame.name, frame.image)
            sink.finish(partial=False)
    except InferError as e:
        assert not apart, e
    after = {p: p.read_bytes() for p in (root / "photos").rglob("*") if p.is_file()}
    added = set(after) - set(before)
    assert all(after[p] == data for p, data in before.items())  # no input replaced
    assert folder is None or not any(Path(os.path.realpath(p)).is_relative_to(folder) for p in added)


# --- Temporal video on any frame size -----------------------------------------------------------------

@pytest.fixture(scope="module")
def identity_translator(session):
    from cgan.infer import Translator

    return Translator(session[0], "cpu")


@given(h=st.integers(1, 48) | st.integers(200, 1200), w=st.integers(1, 48),
       channels=st.sampled_from([None, 1, 3]), shifts=st.lists(st.integers(-3, 3), min_size=2, max_size=4))
def test_temporal_stream_gives_each_frame_its_shape_or_refuses_it(identity_translator, h, w, channels, shifts):
    from cgan.infer import TemporalStream

    stream = TemporalStream(identity_translator)
    h, w = (h, w) if h < 200 or h % 2 else (w, h)  # thin both ways
    frame = image(h, w)[:, :, :channels] if channels else image(h, w)[:, :, 0]
    for shift in shifts:
        moved = np.ascontiguousarray(np.roll(frame, shift, axis=1))
        if channels == 1:
            moved = moved.reshape(h, w, 1)
        assert stream(moved).shape == moved.shape
