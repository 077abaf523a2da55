"""Tiny exported generators and media for the cgan.infer tests (made with torch; infer never sees it)."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cgan.infer import Translator
from cgan.infer.metadata import ModelInfo


def export_tiny(path: Path, *, channels: int = 3, direction: str = "G", metadata: bool = True,
                precision: str = "fp32", seed: int = 0, static_hw: tuple[int, int] | None = None) -> Path:
    """A resnet_6blocks generator with ngf 4, exported by cgan-export's API (dynamic batch/H/W unless static_hw)."""
    import onnx
    import torch

    from cgan.export.onnx_export import export_generator
    from cgan.train import create_generator

    torch.manual_seed(seed)
    net = create_generator("resnet_6blocks", channels, channels, ngf=4)
    info = ModelInfo(direction=direction, source_domain="x", target_domain="y", generator="resnet_6blocks",
                     ngf=4, norm="instance", input_channels=channels, output_channels=channels,
                     side_multiple=net.side_multiple, train_size=16)
    export_generator(net, path, info, precision=precision, static_hw=static_hw, overwrite=True,
                     verify=False)  # the export tests verify
    if not metadata:
        model = onnx.load(str(path))
        del model.metadata_props[:]
        onnx.save(model, str(path))
    return path


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


def fail_on_call(monkeypatch, n, error):
    """Make the n-th model call raise `error` (the model runs on the calling thread, where Ctrl-C lands)."""
    real, calls = Translator.infer, []

    def infer(self, batch):
        calls.append(1)
        if len(calls) == n:
            raise error
        return real(self, batch)

    monkeypatch.setattr(Translator, "infer", infer)


@pytest.fixture
def http_url(tmp_path):
    """A local HTTP server on 127.0.0.1 (ephemeral port) serving tmp_path; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A cgan export folder with G.onnx and F.onnx."""
    folder = tmp_path_factory.mktemp("models") / "run"
    export_tiny(folder / "G.onnx", direction="G", seed=0)
    export_tiny(folder / "F.onnx", direction="F", seed=1)
    return folder


@pytest.fixture(scope="session")
def rgb_model(model_dir) -> Path:
    return model_dir / "G.onnx"


@pytest.fixture(scope="session")
def gray_model(tmp_path_factory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("gray") / "G.onnx", channels=1)


@pytest.fixture(scope="session")
def plain_model(tmp_path_factory) -> Path:
    """An image-to-image ONNX file without cgan metadata."""
    return export_tiny(tmp_path_factory.mktemp("plain") / "net.onnx", metadata=False)
