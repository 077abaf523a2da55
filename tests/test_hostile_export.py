"""cgan-export writes nothing that cgan-infer refuses: every metadata value goes through inference's own
checks before a file is made, domain names are checked when training starts, and static sizes the
generator (or int8 calibration) cannot take end in one line."""
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch

from cgan.export.errors import ExportError
from cgan.export.onnx_export import export_generator
from cgan.infer import Translator
from cgan.infer.metadata import MAX_TEXT, ModelInfo
from cgan.train import create_generator
from helpers import assert_one_line_error, invoke_export, make_run
from test_hostile_train_config import assert_refused, train

# Text that training used to accept and inference refuses (not printable, or too long).
BAD_NAMES = {"tab": "a\tb", "newline": "horse\nzebra", "long": "h" * (MAX_TEXT + 500), "escape": "\x1b[31mred",
             "line_separator": "a\u2028b", "nul": "a\0b"}


@pytest.mark.parametrize("key", ["domain_x", "domain_y"])
@pytest.mark.parametrize("name", list(BAD_NAMES))
def test_training_refuses_a_domain_name_that_exports_could_not_carry(tmp_path, key, name):
    result = train(tmp_path, f"--{key.replace('_', '-')}", BAD_NAMES[name])
    assert_refused(result, tmp_path, f"{key}=", "must not hold a NUL" if name == "nul" else "printable text of at most")


@pytest.mark.parametrize("name", list(BAD_NAMES))
def test_export_refuses_a_run_whose_domain_name_inference_would_refuse(tmp_path, name):
    """A run saved before the check (or edited): export refuses it in one line, through the config's own
    check, and makes no folder."""
    make_run(tmp_path / "runs", "r", domain_y=BAD_NAMES[name])
    out = tmp_path / "models"
    result = invoke_export(tmp_path / "runs" / "r", "--out", out)
    assert_one_line_error(result, "config.domain_y = ", "is not a valid value",
                          "must not hold a NUL" if name == "nul" else "printable text of at most")
    assert not out.exists()


def _info(net, **changes) -> ModelInfo:
    info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator="resnet_6blocks", ngf=4,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                     train_size=16)
    return replace(info, **changes)


# One value per kind of check inference makes; any of them refused must stop export before a file.
REFUSED = {"source_domain": "a\tb", "generator": "g" * (MAX_TEXT + 1), "norm": "in\nstance",
           "checkpoint_sha256": "\x00", "export_date": "2026\n", "cgan_version": "\x7f",
           "value_range": (0.0, 0.0), "ngf": 5000, "train_size": 0, "color_order": "GRB", "dtype": "int8",
           "format_version": 0, "input_name": "x" * 2000}


@pytest.mark.parametrize("key", list(REFUSED))
def test_export_never_writes_metadata_inference_refuses(tmp_path, key):
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4)
    with pytest.raises(ExportError, match=f"^metadata '{key}' is .*cgan-infer would refuse a model with it"):
        export_generator(net, tmp_path / "G.onnx", _info(net, **{key: REFUSED[key]}), verify=False)
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_metadata_that_is_not_strict_json(tmp_path):
    net = create_generator("resnet_6blocks", ngf=4)
    with pytest.raises(ExportError, match="cannot be written as strict JSON"):
        export_generator(net, tmp_path / "G.onnx", _info(net, value_range=(float("nan"), 1.0)), verify=False)
    assert list(tmp_path.iterdir()) == []


# --- static sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size, phrase", [
    ("4x4", "input [1, 3, 4, 4] failed: Expected more than 1 spatial element"),
    ("4x8", "input [1, 3, 4, 8] failed:"),
    ("6x8", "--static 6x8: height and width must be multiples of 4"),
])
def test_a_static_size_the_generator_cannot_take_is_one_line(tmp_path, size, phrase):
    make_run(tmp_path / "runs", "r")
    out = tmp_path / "models"
    result = invoke_export(tmp_path / "runs" / "r", "--gen", "G", "--static", size, "--out", out)
    assert_one_line_error(result, phrase, *(["the smallest input it takes is 8x8"] if "failed" in phrase else []))
    assert not (out / "G.onnx").exists()


def test_a_static_int8_export_is_calibrated_at_its_static_size(tmp_path):
    """Calibration images come at the training size; a static model takes only its own size."""
    make_run(tmp_path / "runs", "r")
    out = tmp_path / "models"
    result = invoke_export(tmp_path / "runs" / "r", "--gen", "G", "--static", "36x44", "--precision", "int8",
                           "--out", out)
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out / "G.int8.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[2:] == [36, 44]
    assert Translator(out / "G.int8.onnx")(np.zeros((36, 44, 3), np.uint8)).shape == (36, 44, 3)
