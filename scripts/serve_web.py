"""Serve the browser page web/ on 127.0.0.1 only (`make web`); prints the address to open.

    python scripts/serve_web.py [--port 8000] [--files DIR]

`--files DIR` also serves DIR under /files/ (models and pictures for index.html?model=/files/G.onnx&...).
The page's modules need web/node_modules (`npm ci` in web/). The responses are cross-origin isolated
(COOP/COEP headers), which lets onnxruntime-web run WASM on several threads.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"
HOST = "127.0.0.1"  # loopback only: the page is for this machine's browser
FILES_PREFIX = "/files/"
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class PageHandler(http.server.SimpleHTTPRequestHandler):
    """web/ at /, and an optional folder at /files/; quiet, revalidated, cross-origin isolated."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def __init__(self, *args, files: Path | None, **kwargs):
        self.files = files
        super().__init__(*args, directory=str(WEB), **kwargs)

    def translate_path(self, path: str) -> str:
        under_files = self.files is not None and path.startswith(FILES_PREFIX)
        self.directory = str(self.files if under_files else WEB)  # the base the parent resolves against
        return super().translate_path(path[len(FILES_PREFIX) - 1:] if under_files else path)

    def end_headers(self) -> None:
        for name, value in ISOLATION.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")  # revalidated: edits show at once, the runtime stays cached
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


class PageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser leaving mid-answer is no error
            super().handle_error(request, client_address)


def serve(port: int = 0, files: Path | None = None) -> PageServer:
    """A server bound to 127.0.0.1:`port` (0: any free port); call serve_forever() on it."""
    handler = functools.partial(PageHandler, files=files.resolve() if files else None)
    return PageServer((HOST, port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free one); default 8000")
    parser.add_argument("--files", type=Path, help="a folder to serve under /files/ as well")
    args = parser.parse_args()
    if not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        sys.exit(f"{WEB / 'node_modules'} lacks onnxruntime-web: run `npm ci` in {WEB} (or `make web`)")
    if args.files is not None and not args.files.is_dir():
        sys.exit(f"--files {args.files}: no such folder")
    if not 0 <= args.port <= 65535:
        sys.exit(f"--port {args.port}: give a port in 0..65535")
    try:
        server = serve(args.port, args.files)
    except OSError as e:
        sys.exit(f"--port {args.port}: cannot listen on {HOST}:{args.port} ({e.strerror}); pick another with --port")
    print(f"cgan web page: http://{HOST}:{server.server_address[1]}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
