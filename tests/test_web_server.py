"""scripts/serve_web.py (`make web`): loopback only, web/ at / and a folder at /files/, nothing outside them,
the headers the WASM threads need, and one-line errors."""
from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from benchmarks.browser import NODE_MODULES, SERVER, serve
from helpers import need


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    need(NODE_MODULES.is_dir(), "web/node_modules lacks onnxruntime-web (run `npm ci` in web/; `make test` does)")
    files = tmp_path_factory.mktemp("files")
    (files / "model.onnx").write_bytes(b"model bytes")
    with serve(files) as base:
        yield base


def get(address: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(address, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


def test_serves_the_page_its_runtime_and_the_files_folder(url):
    status, headers, body = get(f"{url}index.html")
    assert status == 200 and b'<script type="module" src="cgan.js">' in body
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"  # SharedArrayBuffer: WASM threads
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert get(f"{url}cgan.js")[1]["Content-type"] == "text/javascript"
    assert get(f"{url}node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm")[1]["Content-type"] == \
        "application/wasm"
    assert get(f"{url}files/model.onnx")[2] == b"model bytes"


@pytest.mark.parametrize("path", ["files/../../README.md", "files/%2e%2e/%2e%2e/README.md", "../README.md",
                                  "files/missing.onnx", "model.onnx"])
def test_nothing_outside_its_two_folders(url, path):
    assert get(url + path)[0] == 404


def test_listens_on_loopback_only(url):
    """The kernel's table of listening sockets holds the server's port on 127.0.0.1 and nowhere else."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        pytest.skip("no /proc/net/tcp here to read the listening sockets from")
    listening = []
    for table in tables:
        for line in table.read_text().splitlines()[1:] if table.exists() else []:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, as the kernel writes it


def test_a_busy_port_or_missing_folder_is_one_line(url, tmp_path):
    port = url.rsplit(":", 1)[1].strip("/")
    for args, message in ((["--port", port], f"--port {port}: cannot listen on 127.0.0.1:{port}"),
                          (["--files", str(tmp_path / "nope")], "no such folder")):
        done = subprocess.run([sys.executable, str(SERVER), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
