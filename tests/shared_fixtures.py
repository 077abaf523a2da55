"""Fixtures shared by several test modules (registered in conftest.py): tiny exported models and a local
HTTP server. Plain helper functions live in helpers.py."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from helpers import export_tiny


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
