"""A small CycleGAN trained on photo crops, exported and cached: the generator with real weights that
the temporal and large-image benchmarks run. Each benchmark writes its own two domains; the
training, the export and the cache are this module's.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

TRAIN_ARGS = ["--generator", "resnet_6blocks", "--ngf", "16", "--ndf", "16", "--load-size", "80", "--crop-size", "64",
              "--threads", "1", "--workers", "0", "--precision", "fp32", "--save-every", "0", "--seed", "0"]


def cached_generator(model: Path, write_data: Callable[[Path], None], data_name: str, steps: int,
                     echo: Callable[[str], None] = print, recipe: str = "cgan") -> Path:
    """`model` (an exported G.onnx); when missing, first `write_data(folder)` writes trainA/ and trainB/
    into a folder named `data_name` (its name gives the domain names, as for any cgan-train run), then
    cgan-train trains `steps` steps with `recipe` and cgan-export writes G, moved into place whole."""
    if model.is_file():
        return model
    echo(f"no photo generator at {model}: training one ({recipe} recipe, resnet_6blocks, ngf 16, {steps} steps "
         "at 64x64, 1 thread; a few minutes, once)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_data(tmp / data_name)
        _run([_script("cgan-train"), "--data", data_name, "--name", "run", "--max-steps", str(steps),
              "--sample-every", str(steps), "--recipe", recipe, *TRAIN_ARGS], tmp)
        _run([_script("cgan-export"), "runs/run", "--gen", "G", "--out", "export"], tmp)
        model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / "export" / "G.onnx", model.with_suffix(".tmp"))
        model.with_suffix(".tmp").replace(model)
    echo(f"saved {model}")
    return model


def _run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")


def _script(name: str) -> str:
    """A console script of this environment (next to its python)."""
    return str(Path(sys.executable).parent / name)
