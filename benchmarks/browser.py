"""The web page (web/) in headless Chromium: serve it on 127.0.0.1, open URLs, read what the page wrote.

Used by the browser tests, `python -m benchmarks.web` and the still of the page in docs/. Chromium is
driven over its DevTools pipe (--remote-debugging-pipe), not with --dump-dom: --dump-dom needs a
virtual-time budget, and virtual time stops the page's clock, so it could not time a frame.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "scripts" / "serve_web.py"
NODE_MODULES = ROOT / "web" / "node_modules" / "onnxruntime-web"
# Headless, no GPU, none of the background connections this machine's closed network refuses, no
# throttling of tabs that Chromium thinks are in the background (it would slow the timed frames), and
# Chromium's own test pattern as the webcam, granted without asking.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream", "--remote-debugging-pipe")


def chromium() -> str | None:
    """The Chromium executable on PATH (Debian's package installs `chromium`), or None."""
    return shutil.which("chromium")


def missing() -> str:
    """What the browser path lacks on this machine ('' when nothing): Chromium, or web/node_modules."""
    if chromium() is None:
        return "no chromium on PATH (Debian: apt-get install chromium; `make test` installs it as root)"
    if not NODE_MODULES.is_dir():
        return "web/node_modules lacks onnxruntime-web (run `npm ci` in web/; `make test` does)"
    return ""


@contextlib.contextmanager
def serve(files: Path) -> Iterator[str]:
    """scripts/serve_web.py on an ephemeral 127.0.0.1 port, with `files` under /files/; yields its base URL."""
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: nobody reads it while the server runs
        server = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", "--files", str(files)],
                                  stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            line = server.stdout.readline()
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if not found:
                server.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(f"serve_web.py did not start: {line.strip() or errors.read().strip()}")
            yield found.group(0)
        finally:
            server.terminate()
            server.wait(timeout=10)


class NotYet(Exception):
    """The tab has no document to evaluate in yet."""


def _above(fd: int, lowest: int) -> int:
    """`fd` moved to a number >= lowest."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)
    os.close(fd)
    return moved


@dataclass(frozen=True)
class PageResult:
    """What a page with ?test=1 reported, its DOM at that moment, and a screenshot if one was asked for."""

    report: dict
    dom: str
    screenshot: bytes | None


class Browser:
    """One headless Chromium; `open` loads a URL in a new tab and waits for the page's #result."""

    def __init__(self, window: tuple[int, int] = (1200, 900)):
        exe = chromium()
        if exe is None:
            raise RuntimeError(missing())
        self._profile = tempfile.mkdtemp(prefix="cgan-chromium-")
        self._log = Path(self._profile) / "stderr.log"  # Chromium's own lines, for when it dies
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # --remote-debugging-pipe reads commands on fd 3 and writes answers on fd 4: the child's ends move
        # there, from numbers above them (a pipe opened here may itself be fd 3 or 4).
        to_child, from_child = (_above(to_child, 10), _above(from_child, 10))
        wrapper = f'exec "$0" "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
        with open(self._log, "wb") as log:
            self._process = subprocess.Popen(
                ["bash", "-c", wrapper, exe, *FLAGS, f"--user-data-dir={self._profile}",
                 f"--window-size={window[0]},{window[1]}"],
                pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log)
        os.close(to_child)
        os.close(from_child)
        self._next_id = 0
        self._buffer = b""

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self._send("Browser.close", timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        """One DevTools command; returns its result (events that arrive meanwhile are dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                    raise RuntimeError(f"Chromium did not answer {method} within {timeout:g} s")
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium exited while answering {method}: {self._last_words()}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"Chromium: {method}: {answer['error'].get('message')}")
                return answer["result"]

    def _last_words(self) -> str:
        lines = self._log.read_text(errors="replace").splitlines() if self._log.exists() else []
        errors = [line for line in lines if "dbus" not in line]  # D-Bus noise: there is no session bus here
        return errors[-1] if errors else "it printed nothing"

    def _evaluate(self, session: str, expression: str):
        try:
            result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        except RuntimeError as e:
            if "execution context" in str(e):  # the page is still navigating
                raise NotYet() from None
            raise
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60, screenshot: bool = False) -> PageResult:
        """Loads `url` (a page with ?test=1) and waits until it has written #result."""
        target = self._send("Target.createTarget", {"url": url})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            deadline = time.monotonic() + timeout
            text = ""
            while not text:
                if time.monotonic() > deadline:
                    status = self._evaluate(session, "document.getElementById('status')?.textContent")
                    raise RuntimeError(f"the page wrote no result within {timeout:g} s; its status line: {status!r}")
                time.sleep(0.1)
                with contextlib.suppress(NotYet):
                    text = self._evaluate(session, "document.getElementById('result')?.textContent || ''")
            dom = self._evaluate(session, "document.documentElement.outerHTML")
            shot = None
            if screenshot:
                shot = base64.b64decode(self._send("Page.captureScreenshot", {"format": "png"}, session)["data"])
            return PageResult(json.loads(text), dom, shot)
        finally:
            self._send("Target.closeTarget", {"targetId": target})
