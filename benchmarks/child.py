"""Running one benchmark case in a fresh Python process: its threads, state and peak memory are its own."""
from __future__ import annotations

import json
import subprocess
import sys


def run_json(module: str, args: list[str], label: str, timeout: float | None = None) -> dict:
    """`python -m module *args` from the repository root; the last stdout line, read as JSON.
    Raises RuntimeError naming `label` and the child's last stderr line when it fails, and
    subprocess.TimeoutExpired after `timeout` seconds."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
