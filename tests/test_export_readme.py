"""The README's "The ONNX contract": its recipe executed verbatim and its key table checked against
ModelInfo, so neither can rot."""
import re
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch

from cgan.export.onnx_export import export_generator
from cgan.infer.metadata import ModelInfo
from cgan.train import create_generator
from helpers import ORT_WARNING_LEVEL

README = Path(__file__).resolve().parent.parent / "README.md"


def contract() -> str:
    section = README.read_text(encoding="utf-8").split("## The ONNX contract", 1)[1]
    return section.split("\n## ", 1)[0]


def recipe() -> str:
    section = contract()
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section should hold exactly one python block"
    return blocks[0]


def test_readme_recipe_runs_and_matches_pytorch(tmp_path, monkeypatch, capfd):
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=4).eval()
    info = ModelInfo(direction="G", source_domain="horse", target_domain="zebra", generator="resnet_6blocks",
                     ngf=4, norm="instance", input_channels=3, output_channels=3, side_multiple=4, train_size=16)
    export_generator(net, tmp_path / "models" / "horse2zebra" / "G.onnx", info)
    h, w = 30, 21  # not multiples of 4: the recipe must pad and crop
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([xx * 12, yy * 8, (xx + yy) * 5], axis=2).astype(np.uint8)
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("in.jpg", bgr)
    ort.set_default_logger_severity(ORT_WARNING_LEVEL)  # ONNX Runtime's default, as an app has it
    capfd.readouterr()
    exec(compile(recipe(), "README.md", "exec"), {})
    assert "W:onnxruntime" not in capfd.readouterr().err  # the recipe runs without a warning

    out = cv2.imread("out.png")
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    # The same translation through PyTorch, written independently of the recipe.
    rgb = cv2.imread("in.jpg")[:, :, ::-1].astype(np.float32)
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None] / 127.5 - 1
    x = torch.nn.functional.pad(x, (0, 3, 0, 2), mode="reflect")
    with torch.inference_mode():
        y = net(x)[0, :, :h, :w]
    expected = ((y + 1) * 127.5).clamp(0, 255).round().byte().permute(1, 2, 0).numpy()[:, :, ::-1]
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert out.std() > 0  # a real picture, not a constant


def test_readme_contract_table_names_every_metadata_key():
    table = [line for line in contract().splitlines() if line.startswith("| `")]
    documented = set(re.findall(r"`(\w+)`", " ".join(line.split(" | ")[0] for line in table)))
    assert documented == {f.name for f in fields(ModelInfo)}
