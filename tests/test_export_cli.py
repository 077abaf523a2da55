"""`cgan-export` through click's CliRunner: runs, official checkpoints, and one-line errors."""
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from cgan.infer.metadata import ModelInfo
from cgan.train import create_generator
from cgan.train.checkpoint import save_checkpoint
from helpers import EXPORT_NGF, assert_one_line_error, invoke_export, make_run, official_file


def metadata(path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return ModelInfo.from_metadata_props(session.get_modelmeta().custom_metadata_map)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_exports_both_generators_of_the_latest_run(workdir):
    make_run(workdir / "runs", "older", mtime=1_000_000)
    make_run(workdir / "runs", "horse2zebra")
    result = invoke_export()
    assert result.exit_code == 0, result.output
    out = workdir / "models" / "horse2zebra"
    assert sorted(p.name for p in out.iterdir()) == ["F.onnx", "G.onnx"]
    g, f = metadata(out / "G.onnx"), metadata(out / "F.onnx")
    assert (g.direction, g.source_domain, g.target_domain) == ("G", "horse", "zebra")
    assert (f.direction, f.source_domain, f.target_domain) == ("F", "zebra", "horse")
    assert g.train_size == 16 and len(g.checkpoint_sha256) == 64
    assert "dry run: input [1, 3, 16, 16] -> output [1, 3, 16, 16]" in result.output
    assert "ONNX Runtime vs PyTorch: worst max abs" in result.output
    assert f"next: cgan-infer --model {os.path.join('models', 'horse2zebra', 'G.onnx')} --video in.mp4" \
        in result.output  # a run on the built-in data: a video of its pictures
    assert "python scripts/demo_video.py in.mp4" in result.output


def test_next_command_tries_the_model_on_pictures_of_its_input_domain(workdir):
    from helpers import image
    import cv2

    data = workdir / "photos"
    for folder in ("trainA", "trainB", "testB"):
        (data / folder).mkdir(parents=True)
        cv2.imwrite(str(data / folder / "a.png"), image(8, 8))
    make_run(workdir / "runs", "photos", data=str(data))
    lines = invoke_export("--gen", "G").output.splitlines()
    model = os.path.join("models", "photos", "G.onnx")
    assert lines[-1] == f"next: cgan-infer --model {model} --folder {data / 'trainA'}"
    result = invoke_export("--gen", "F")  # F takes domain Y, which has held-out pictures
    assert result.output.splitlines()[-1].endswith(f"--folder {data / 'testB'}")
    make_run(workdir / "runs", "flipped", data=str(data), direction="BtoA")
    assert invoke_export("--gen", "G").output.splitlines()[-1].endswith(f"--folder {data / 'testB'}")
    (workdir / "models" / "photos" / "G.onnx").unlink()
    for folder in ("trainA", "trainB", "testB"):
        (data / folder / "a.png").unlink()  # data gone: a picture of the user's own
    result = invoke_export(workdir / "runs" / "photos", "--gen", "G")
    assert result.output.splitlines()[-1].endswith("--image PICTURE.jpg")


def test_exports_one_generator_of_a_named_run_or_checkpoint(workdir):
    run = make_run(workdir / "runs", "a2b")
    assert invoke_export(run, "--gen", "F", "--out", workdir / "out").exit_code == 0
    assert [p.name for p in (workdir / "out").iterdir()] == ["F.onnx"]
    result = invoke_export(run / "checkpoints" / "latest.pt", "--gen", "G", "--no-verify")
    assert result.exit_code == 0, result.output
    assert (workdir / "models" / "a2b" / "G.onnx").is_file()
    assert "NOT checked (--no-verify)" in result.output


@pytest.mark.parametrize("prefix,stale_norm", [("", False), ("module.", True)])
def test_exports_an_official_checkpoint(workdir, prefix, stale_norm):
    torch.manual_seed(3)
    net = create_generator("resnet_6blocks", ngf=EXPORT_NGF).eval()
    path = official_file(workdir / "checkpoints" / "horse2zebra_pretrained" / "latest_net_G.pth", net,
                         prefix, stale_norm)
    result = invoke_export("--checkpoint", path, "--generator", "resnet_6blocks", "--ngf", EXPORT_NGF,
                           "--static", "64x64")
    assert result.exit_code == 0, result.output
    onnx_path = workdir / "models" / "horse2zebra_pretrained" / "G.onnx"
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    y = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    with torch.inference_mode():
        assert np.abs(y - net(torch.from_numpy(x)).numpy()).max() <= 1e-4
    assert metadata(onnx_path).train_size == 256 and metadata(onnx_path).generator == "resnet_6blocks"


def test_official_checkpoint_as_f(workdir):
    path = official_file(workdir / "latest_net_G_B.pth", create_generator("resnet_6blocks", ngf=EXPORT_NGF))
    result = invoke_export("--checkpoint", path, "--generator", "resnet_6blocks", "--ngf", EXPORT_NGF, "--gen", "F",
                    "--static", "32x32", "--out", workdir / "out")
    assert result.exit_code == 0, result.output
    info = metadata(workdir / "out" / "F.onnx")
    assert (info.direction, info.source_domain, info.target_domain) == ("F", "B", "A")


def test_error_no_runs_at_all(workdir):
    assert_one_line_error(invoke_export(), "no trained runs under runs/", "cgan-train")


def test_error_missing_run(workdir):
    make_run(workdir / "runs", "a2b")
    assert_one_line_error(invoke_export("b2c"), "run 'b2c' not found")


def test_error_run_without_checkpoints(workdir):
    (workdir / "runs" / "fresh").mkdir(parents=True)
    assert_one_line_error(invoke_export("fresh"), "has no checkpoints/latest.pt")


@pytest.mark.parametrize("options,phrase", [
    (["--generator", "unet_128", "--ngf", EXPORT_NGF], "does not fit generator 'unet_128'"),
    (["--generator", "resnet_6blocks", "--ngf", 8], "does not fit generator 'resnet_6blocks' with --ngf 8"),
])
def test_error_official_file_with_wrong_options(workdir, options, phrase):
    path = official_file(workdir / "latest_net_G_A.pth", create_generator("resnet_6blocks", ngf=EXPORT_NGF))
    assert_one_line_error(invoke_export("--checkpoint", path, *options), phrase, "--generator, --ngf and --norm")


def test_error_unwritable_output_folder(workdir):
    make_run(workdir / "runs", "a2b")
    (workdir / "a_file").write_text("not a folder")
    assert_one_line_error(invoke_export("--out", workdir / "a_file" / "models"), "cannot create the output folder")


def test_error_existing_output_without_overwrite(workdir):
    make_run(workdir / "runs", "a2b")
    out = workdir / "models" / "a2b"
    out.mkdir(parents=True)
    (out / "F.onnx").write_bytes(b"older")
    assert_one_line_error(invoke_export(), "F.onnx already exists; pass --overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["F.onnx"]  # G was not written either
    assert invoke_export("--overwrite").exit_code == 0
    assert (out / "F.onnx").read_bytes() != b"older"


def test_error_bad_static_size(workdir):
    result = invoke_export("--static", "256")
    assert_one_line_error(result, "give height x width")


def test_error_checkpoint_that_does_not_fit_its_config(workdir):
    run = make_run(workdir / "runs", "a2b")
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)  # weights have ngf 4
    state["config"]["ngf"] = 8
    save_checkpoint(run / "checkpoints" / "latest.pt", state)
    assert_one_line_error(invoke_export(), "latest.pt: generator G cannot be rebuilt from it")


@pytest.mark.parametrize("failure", ["opset found late", "static size found late", "parity", "crash"])
@pytest.mark.parametrize("existed", ["nothing", "models/", "models/a2b/"])
def test_a_failed_export_removes_the_folders_it_made_and_only_those(workdir, monkeypatch, failure, existed):
    make_run(workdir / "runs", "a2b")
    for folder in {"nothing": [], "models/": ["models"], "models/a2b/": ["models", "models/a2b"]}[existed]:
        (workdir / folder).mkdir()
    options = {"opset found late": ["--exporter", "dynamo", "--opset", "17"], "static size found late": ["--static",
               "30x30"], "parity": [], "crash": []}[failure]
    if failure == "parity":
        monkeypatch.setattr("cgan.export.onnx_export.FP32_TOLERANCE", -1.0)
    if failure == "crash":
        def crash(*args, **kwargs):
            raise RuntimeError("the exporter crashed")
        monkeypatch.setattr("cgan.export.onnx_export.to_onnx", crash)
    result = invoke_export(*options)
    assert result.exit_code != 0
    if failure == "crash":
        assert isinstance(result.exception, RuntimeError)
    left = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.parts[len(workdir.parts)] != "runs")
    assert left == {"nothing": [], "models/": ["models"], "models/a2b/": ["models", "models/a2b"]}[existed]


def test_a_failure_after_one_file_keeps_the_folder_and_the_file(workdir, monkeypatch):
    make_run(workdir / "runs", "a2b")
    from cgan.export import api

    real = api.export_generator

    def fail_on_f(net, path, info, **kwargs):
        if info.direction == "F":
            raise api.ExportError("F failed")
        return real(net, path, info, **kwargs)

    monkeypatch.setattr(api, "export_generator", fail_on_f)
    assert_one_line_error(invoke_export(), "F failed")
    assert [p.name for p in (workdir / "models" / "a2b").iterdir()] == ["G.onnx"]


def test_error_dynamo_exporter_below_its_opset(workdir):
    make_run(workdir / "runs", "a2b")
    assert_one_line_error(invoke_export("--exporter", "dynamo", "--opset", "17"),
                          "--opset 17: the dynamo exporter needs opset 18 or later")
    assert not (workdir / "models").exists() or not any((workdir / "models").rglob("*.onnx"))
