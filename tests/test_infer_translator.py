"""The Python API: Translator parity with ONNX Runtime, batches, shapes, model finding, bad models."""
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import pytest

from cgan.infer import InferError, Translator
from cgan.infer.model import find_model
from helpers import cuda_works, export_tiny, image


def reference(path, bgr):
    """The recipe of infer/metadata.py's docstring, written out with nothing of cgan.infer."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = (bgr[:, :, ::-1].astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]
    y = session.run(["translated"], {"image": x})[0]
    return ((y[0].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).round().astype(np.uint8)[:, :, ::-1]


def test_parity_with_a_direct_onnx_runtime_run(rgb_model):
    frame = image(24, 32)  # already a multiple of 4: no padding on either side
    out = Translator(rgb_model, device="cpu")(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - reference(rgb_model, frame)).max() <= 1


def test_rgb_flag_swaps_colour_order(rgb_model):
    t = Translator(rgb_model, device="cpu")
    frame = image(16, 20)
    np.testing.assert_array_equal(t(frame[:, :, ::-1].copy(), rgb=True), t(frame)[:, :, ::-1])


@pytest.mark.parametrize("h, w", [(17, 23), (31, 9), (8, 8)])
def test_output_size_equals_input_size(rgb_model, h, w):
    assert Translator(rgb_model, device="cpu")(image(h, w)).shape == (h, w, 3)


def test_batch_equals_single(rgb_model):
    t = Translator(rgb_model, device="cpu")
    frames = [image(20, 28, seed=i) for i in range(3)]
    singles = [t(f) for f in frames]
    calls = t.model_frames
    batched = t(np.stack(frames))
    assert t.model_frames == calls + 3 and batched.shape == (3, 20, 28, 3)
    for a, b in zip(singles, batched):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    mixed = t([frames[0], image(13, 19)])  # sizes differ: one call each
    assert [m.shape for m in mixed] == [(20, 28, 3), (13, 19, 3)]


def test_gray_model_reads_and_writes_grayscale(gray_model):
    t = Translator(gray_model, device="cpu")
    assert t.spec.layout.input_channels == 1
    assert t(image(15, 21)[:, :, 0].copy()).shape == (15, 21)
    assert t(image(15, 21)).shape == (15, 21, 3)  # a colour image comes back as a colour image


def test_model_without_metadata_runs_with_a_warning(plain_model):
    t = Translator(plain_model, device="cpu")
    assert t.spec.info is None
    assert len(t.notes) == 1 and "no cgan metadata" in t.notes[0] and "[-1, 1]" in t.notes[0]
    assert t(image(10, 14)).shape == (10, 14, 3)


def test_fixed_size_model_resizes_there_and_back(tmp_path):
    path = export_tiny(tmp_path / "G.onnx", static_hw=(16, 16))
    t = Translator(path, device="cpu", size="40")  # the graph's size wins over --size
    assert t.spec.fixed_size == (16, 16) and "takes 16x16 inputs only" in t.notes[0]
    assert t(image(21, 30)).shape == (21, 30, 3)


def test_find_model_in_folders_and_under_models(model_dir, tmp_path):
    assert find_model(model_dir) == model_dir / "G.onnx"
    assert find_model(model_dir, "F") == model_dir / "F.onnx"
    with pytest.raises(InferError, match="no F.onnx"):
        find_model(tmp_path, "F")
    models = tmp_path / "models"
    old, new = models / "old", models / "new"
    for folder in (old, new):
        folder.mkdir(parents=True)
        for name in ("G.onnx", "F.onnx", "G.int8.onnx"):
            (folder / name).write_bytes(b"")
    now = time.time()
    for i, p in enumerate(sorted(models.rglob("*.onnx"))):
        os.utime(p, (now - 100 + i, now - 100 + i))
    os.utime(new / "F.onnx", (now, now))  # the newest file is in "new"
    assert find_model(None, None, models) == new / "G.onnx"  # the folder's G, by default
    assert find_model(None, "F", models) == new / "F.onnx"
    assert find_model(new / "G.int8.onnx") == new / "G.int8.onnx"
    with pytest.raises(InferError, match="no .onnx file under"):
        find_model(None, None, tmp_path / "nothing")


def test_variant_file_reports_its_precision(tmp_path, rgb_model):
    path = export_tiny(tmp_path / "G.fp16.onnx", precision="fp16")
    t = Translator(tmp_path, device="cpu")  # the folder has no G.onnx: its variant is used
    assert t.path == path and t.spec.precision == "fp16" and ", fp16)" in t.describe()
    frame = image(16, 24)
    fp32 = Translator(rgb_model, device="cpu")(frame)  # same seed, same weights
    assert np.abs(t(frame).astype(int) - fp32.astype(int)).max() <= 4


def test_bad_model_files(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    with pytest.raises(InferError, match="not an ONNX model .its protobuf is malformed"):
        Translator(text, device="cpu")
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["v"], ["w"])], "vec",
                              [helper.make_tensor_value_info("v", TensorProto.FLOAT, ["n", 10])],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, ["n", 10])])
    vector = tmp_path / "vector.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(vector))
    with pytest.raises(InferError, match="not an image generator"):
        Translator(vector, device="cpu")


@pytest.mark.skipif(not cuda_works(), reason="ONNX Runtime cannot use a CUDA GPU here")
def test_cuda_really_runs_on_the_gpu(rgb_model):
    t = Translator(rgb_model, device="cuda")
    assert t.provider == "CUDAExecutionProvider" and t.session.on_gpu and t.notes == []
    out = t(image(24, 36))
    assert out.shape == (24, 36, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - Translator(rgb_model, device="cpu")(image(24, 36))).max() <= 2


@pytest.mark.skipif(cuda_works(), reason="CUDA works here: test_cuda_really_runs_on_the_gpu applies")
def test_cuda_unavailable_falls_back_to_cpu_in_one_note(rgb_model):
    t = Translator(rgb_model, device="cuda")
    assert t.provider == "CPUExecutionProvider"
    assert len(t.notes) == 1 and "device='cuda:0' cannot be used" in t.notes[0] and "\n" not in t.notes[0]
    with pytest.raises(InferError, match="strict_device=True"):
        Translator(rgb_model, device="cuda", strict_device=True)


def test_auto_on_a_machine_without_an_nvidia_gpu_says_nothing_of_gpu_libraries(rgb_model, monkeypatch):
    from cgan.infer import runtime

    monkeypatch.setattr(runtime, "nvidia_gpu_present", lambda: False)
    t = Translator(rgb_model, device="auto")
    assert t.provider == "CPUExecutionProvider" and t.notes == []
    assert Translator(rgb_model, device="cuda").notes or cuda_works()  # asked for by name: still said


@pytest.mark.skipif(cuda_works(), reason="CUDA works here")
def test_auto_where_an_nvidia_gpu_is_present_but_unusable_says_why(rgb_model, monkeypatch):
    from cgan.infer import runtime

    monkeypatch.setattr(runtime, "nvidia_gpu_present", lambda: True)
    t = Translator(rgb_model, device="auto")
    assert t.provider == "CPUExecutionProvider"
    if {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(runtime.ort.get_available_providers()):
        assert len(t.notes) == 1 and "cannot be used" in t.notes[0]


def test_importing_the_api_loads_no_torch():
    code = ("import sys; from cgan.infer import Translator, translate_video; import cgan.infer.cli; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
