"""fp16 and int8 deployment variants: they export, run with fp32 inputs/outputs, and stay within
the PSNR their export reported."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cgan.export.calibration import builtin_images, folder_images
from cgan.export.onnx_export import PARITY_KEY
from cgan.export.quantize import MIN_PSNR_DB
from cgan.export.verify import parity_shapes, random_inputs
from cgan.infer.quality import psnr
from cgan.infer.metadata import ModelInfo
from helpers import assert_one_line_error, invoke_export, make_run, official_file, onnx_runtime_warnings


def run_model(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny built-in-data run exported as fp32, fp16 and int8 (calibrated on the run's data)."""
    root = tmp_path_factory.mktemp("variants")
    make_run(root / "runs", "shapes", crop_size=32)
    out = root / "models"
    for precision in ("fp32", "fp16", "int8"):
        result = invoke_export(root / "runs" / "shapes", "--gen", "G", "--precision", precision, "--out", out)
        assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_variant_runs_and_stays_within_its_reported_psnr(exported, precision, capfd):
    path = exported / f"G.{precision}.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [v.name for v in model.graph.input] == ["image"] and [v.name for v in model.graph.output] == ["translated"]
    assert onnx_runtime_warnings(path, capfd) == []
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    props = {p.key: p.value for p in model.metadata_props}
    assert ModelInfo.from_metadata_props(props).precision == precision
    parity = json.loads(props[PARITY_KEY])
    assert parity["reference"] == "fp32 onnx" and parity["min_psnr_db"] >= MIN_PSNR_DB[precision]
    # The inputs the export compared on (random inputs at the parity shapes, and for int8 the first
    # calibration images) must reproduce its figure; a batch of 2 at another size must stay near it.
    checked = random_inputs(parity_shapes(3, 32, 4)) + (builtin_images("G", 32, count=4) if precision == "int8" else [])
    for x in checked + [np.concatenate(builtin_images("G", 48, count=2))]:
        y, reference = run_model(path, x), run_model(exported / "G.onnx", x)
        assert y.shape == x.shape and y.dtype == np.float32
        margin = 1e-3 if any(x is c for c in checked) else 3.0
        assert psnr(y, reference) >= parity["min_psnr_db"] - margin
    if precision == "int8":
        ops = {n.op_type for n in model.graph.node}
        assert {"QuantizeLinear", "DequantizeLinear", "InstanceNormalization"} <= ops


def test_int8_with_a_calibration_folder(tmp_path):
    import cv2

    make_run(tmp_path / "runs", "a2b", crop_size=16)
    folder = tmp_path / "calib"
    folder.mkdir()
    for i, x in enumerate(builtin_images("G", 40, count=3)):
        cv2.imwrite(str(folder / f"{i}.png"), ((x[0].transpose(1, 2, 0)[:, :, ::-1] + 1) * 127.5).astype(np.uint8))
    assert [x.shape for x in folder_images(folder, 3, 16)] == [(1, 3, 16, 16)] * 3
    result = invoke_export(tmp_path / "runs" / "a2b", "--gen", "F", "--precision", "int8", "--calibration", folder,
                    "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "int8 vs fp32: worst PSNR" in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["F.int8.onnx"]


def test_int8_of_an_official_file_needs_a_calibration_folder(tmp_path):
    from cgan.train import create_generator

    path = official_file(tmp_path / "latest_net_G.pth", create_generator("resnet_6blocks", ngf=4))
    result = invoke_export("--checkpoint", path, "--generator", "resnet_6blocks", "--ngf", 4, "--precision", "int8",
                    "--out", tmp_path / "out")
    assert_one_line_error(result, "pass --calibration (a folder of images")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_int8_needs_opset_13(tmp_path):
    make_run(tmp_path / "runs", "a2b", crop_size=16)
    result = invoke_export(tmp_path / "runs" / "a2b", "--gen", "G", "--precision", "int8", "--opset", 11, "--no-verify",
                    "--out", tmp_path / "out")
    assert_one_line_error(result, "int8 needs --opset 13 or later")
    assert not (tmp_path / "out").exists()  # the folder the command made is removed again
