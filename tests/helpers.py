"""Helpers shared by several test modules (plain functions; fixtures live in shared_fixtures.py): tiny exported
generators and media for the cgan.infer tests (made with torch; infer never sees it), and tiny runs for
the cgan-export tests."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.infer import Translator
from cgan.infer.metadata import ModelInfo
from cgan.train import create_generator
from cgan.train.checkpoint import save_checkpoint


def export_tiny(path: Path, *, channels: int = 3, direction: str = "G", metadata: bool = True,
                precision: str = "fp32", seed: int = 0, static_hw: tuple[int, int] | None = None) -> Path:
    """A resnet_6blocks generator with ngf 4, exported by cgan-export's API (dynamic batch/H/W unless static_hw)."""
    import onnx

    from cgan.export.onnx_export import export_generator

    torch.manual_seed(seed)
    net = create_generator("resnet_6blocks", channels, channels, ngf=4)
    info = ModelInfo(direction=direction, source_domain="x", target_domain="y", generator="resnet_6blocks",
                     ngf=4, norm="instance", input_channels=channels, output_channels=channels,
                     side_multiple=net.side_multiple, train_size=16)
    calibration = ([np.random.default_rng(seed).uniform(-1, 1, (1, channels, 16, 16)).astype(np.float32)]
                   if precision == "int8" else None)
    export_generator(net, path, info, precision=precision, static_hw=static_hw, overwrite=True,
                     calibration=calibration, verify=False)  # the export tests verify
    if not metadata:
        model = onnx.load(str(path))
        del model.metadata_props[:]
        onnx.save(model, str(path))
    return path


ORT_WARNING_LEVEL = 2  # ONNX Runtime's default log severity: warnings and worse
LEGACY_MODEL = Path(__file__).parent / "data" / "legacy_norm_stats_G.onnx"  # made by cgan-export before plain graphs


def onnx_runtime_warnings(model: Path, capfd) -> list[str]:
    """The warnings ONNX Runtime prints, at its default log level, while it loads `model` (pytest's capfd)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(ORT_WARNING_LEVEL)  # cgan.infer's sessions lower it for the whole process
    capfd.readouterr()
    ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return [line for line in capfd.readouterr().err.splitlines() if "W:onnxruntime" in line]


def identity_model(path: Path, metadata: dict | str | None = None, *, channels: int = 3,
                   static_hw: tuple[int, int] | None = None) -> Path:
    """An ONNX 'generator' whose output is its input, made without torch in milliseconds.

    `metadata`: the cgan key's value (a dict is written as JSON, a str as it is, None for none).
    """
    import json

    import onnx
    from onnx import TensorProto, helper

    h, w = static_hw or ("height", "width")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["translated"])], "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", channels, h, w])],
        [helper.make_tensor_value_info("translated", TensorProto.FLOAT, ["batch", channels, h, w])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        helper.set_model_props(model, {"cgan": text})
    onnx.save(model, str(path))
    return path


def identity_info(**changes) -> dict:
    """Valid cgan metadata for identity_model, as a JSON-ready dict, with `changes` applied."""
    from dataclasses import asdict

    info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator="identity", ngf=1,
                     norm="none", input_channels=3, output_channels=3, side_multiple=1, train_size=16)
    data = asdict(info)
    data["value_range"] = list(data["value_range"])
    data.update(changes)
    return data


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG file whose header claims width x height (its pixel data is a few bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def write_video(path: Path, frames: int = 6, size: tuple[int, int] = (36, 24), fps: float = 10.0,
                fourcc: str = "mp4v") -> Path:
    """A small moving-gradient video (size is width x height)."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    try:
        for i in range(frames):
            writer.write(image(h, w, seed=i))
    finally:
        writer.release()
    return path


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth BGR uint8 test image (smooth, so video compression keeps it close)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([(x * 7 + seed * 20) % 256, (y * 5 + seed * 10) % 256, (x + y) * 3 % 256],
                    axis=2).astype(np.uint8)


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    try:
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                return frames, capture.get(cv2.CAP_PROP_FPS)
            frames.append(frame)
    finally:
        capture.release()


def assert_one_line_error(result, *phrases: str, prefix: str = "Error") -> str:
    """A command that refused cleanly: non-zero exit, no traceback, and exactly one line starting with `prefix`,
    holding every phrase; that line is returned. `result`: a CliRunner result, or a finished subprocess (its
    stderr is read)."""
    if hasattr(result, "exit_code"):
        code, output = result.exit_code, result.output
        assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)  # else: a traceback
    else:
        code, output = result.returncode, result.stderr
    assert code != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith(prefix)]
    assert len(errors) == 1, output
    for phrase in phrases:
        assert phrase in errors[0], output
    return errors[0]


def quick_benchmark(module: str, out: Path) -> tuple[dict, subprocess.CompletedProcess]:
    """`python -m benchmarks.<module> --quick --out OUT` in a fresh process, which must succeed: its JSON and the
    finished process (stdout holds its table)."""
    done = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", "--quick", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done


def fail_on_call(monkeypatch, n, error):
    """Make the n-th model call raise `error` (the model runs on the calling thread, where Ctrl-C lands)."""
    real, calls = Translator.infer, []

    def infer(self, batch):
        calls.append(1)
        if len(calls) == n:
            raise error
        return real(self, batch)

    monkeypatch.setattr(Translator, "infer", infer)


EXPORT_NGF = 4
CONFIG = {"name": "horse2zebra", "generator": "resnet_6blocks", "ngf": EXPORT_NGF, "norm": "instance", "dropout": False,
          "padding": "reflect", "input_nc": 3, "output_nc": 3, "crop_size": 16, "domain_x": "horse",
          "domain_y": "zebra", "data": None, "seed": 0}


def make_run(runs, name="horse2zebra", mtime=None, **config):
    """A run directory as cgan-train leaves it, with tiny nets."""
    cfg = {**CONFIG, "name": name, **config}
    torch.manual_seed(len(name))
    nets = {d: create_generator(cfg["generator"], ngf=EXPORT_NGF).state_dict() for d in ("G", "F")}
    nets.update({d: {} for d in ("D_X", "D_Y")})
    run = runs / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(cfg))
    path = save_checkpoint(run / "checkpoints" / "latest.pt", {"format": "cgan-checkpoint", "version": 1,
                                                               "config": cfg, "nets": nets, "step": 0, "epoch": 0})
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return run


def invoke_export(*args):
    """`cgan-export ARGS` through click's CliRunner."""
    return CliRunner().invoke(export_main, [str(a) for a in args])


@functools.cache
def cuda_works() -> bool:
    """Whether ONNX Runtime itself can run a model on a CUDA GPU here, asked without cgan's code, so that
    GPU tests can demand the GPU where it works and the CPU fallback where it does not."""
    import contextlib
    import io

    import onnxruntime as ort
    from onnx import TensorProto, helper

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    ort.set_default_logger_severity(4)  # fatal only, as cgan-infer runs it: no native log lines
    options = ort.SessionOptions()
    options.log_severity_level = 4
    with contextlib.redirect_stdout(io.StringIO()):
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()
        try:
            session = ort.InferenceSession(model.SerializeToString(), options, providers=["CUDAExecutionProvider"])
        except Exception:  # noqa: BLE001 - any failure to start means no working CUDA
            return False
    return "CUDAExecutionProvider" in session.get_providers()


def need(present: bool, reason: str) -> None:
    """Skips the test when something it needs is absent here, but fails it under CI (CI=true), whose
    `make test` installs everything: a skip there would hide a missing install step."""
    if not present:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, and CI must have it")
        pytest.skip(reason)


def official_file(path, net, prefix="", stale_norm=False):
    """`net`'s weights saved as the official repo saves a generator (optionally DataParallel-prefixed, with
    the stale InstanceNorm statistics old PyTorch wrote)."""
    state = OrderedDict((prefix + k, v.clone()) for k, v in net.state_dict().items())
    if stale_norm:  # what PyTorch < 0.4 saved for InstanceNorm layers
        state[prefix + "model.2.running_mean"] = torch.zeros(EXPORT_NGF)
        state[prefix + "model.2.running_var"] = torch.ones(EXPORT_NGF)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
