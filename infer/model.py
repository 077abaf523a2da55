"""Which ONNX file to run, and what it takes: from its cgan metadata, or assumed from its input."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .contract import check_names
from .errors import InferError
from .files import newest
from .metadata import ModelInfo
from .processing import Layout
from .runtime import DeviceSession

GENERATOR_LETTERS = ("G", "F")
MODELS_DIR = Path("models")
ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
MAX_FIXED_SIDE = 16384  # a graph with a fixed size beyond this is refused rather than resized to
ASSUMED_SIDE_MULTIPLE = 4  # what the ResNet generators need; used for files without cgan metadata


def _generator_files(folder: Path, gen: str) -> list[Path]:
    """`G.onnx` first, then its variants (`G.fp16.onnx`, `G.int8.onnx`) newest first."""
    exact = folder / f"{gen}.onnx"
    variants = sorted(folder.glob(f"{gen}.*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    return ([exact] if exact.is_file() else []) + variants


def find_model(model: str | Path | None, gen: str | None = None, models_dir: Path = MODELS_DIR) -> Path:
    """--model (a file, or a folder holding G.onnx/F.onnx), or the most recent export under models/.

    `gen` picks G or F in a folder (default G); in the most recent export folder without an
    explicit `gen`, a folder holding only F.onnx still gives F.onnx.
    """
    explicit, gen = gen is not None, gen or "G"
    if gen not in GENERATOR_LETTERS:
        raise InferError(f"gen={gen!r}: use G (X->Y) or F (Y->X)")
    if model is None:
        latest = newest(models_dir.rglob("*.onnx")) if models_dir.is_dir() else None
        if latest is None:
            raise InferError(f"no model_path=... given and no .onnx file under {models_dir}/; "
                             "run `cgan-export --gen G` first or give model_path=...")
        path, fallback = latest.parent, [] if explicit else [latest]
    else:
        path, fallback = Path(model), []
    if path.is_dir():
        found = _generator_files(path, gen) or fallback
        if not found:
            present = ", ".join(sorted(p.name for p in path.glob("*.onnx"))) or "no .onnx files"
            raise InferError(f"gen={gen!r}: {path} has no {gen}.onnx (found: {present})")
        return found[0]
    if not path.is_file():
        raise InferError(f"model_path={str(path)!r}: no such file or folder")
    if explicit:
        raise InferError(f"gen={gen!r}: picks a generator in a model folder, but model_path={str(path)!r} is one "
                         "file; leave gen=... out or give the folder")
    return path


@dataclass(frozen=True)
class ModelSpec:
    """How to feed one ONNX generator: names, layout, and where that knowledge came from."""

    path: Path
    input_name: str
    output_name: str
    layout: Layout
    info: ModelInfo | None  # None for a file without cgan metadata
    fixed_size: tuple[int, int] | None  # (h, w) when the graph only takes one size

    @property
    def tag(self) -> str:
        """Names outputs after the generator: 'G' or 'F' (checked metadata), else the model file's stem
        (a name the user chose) with anything but letters, digits, '-' and '_' replaced."""
        if self.info:
            return self.info.direction
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.path.stem)[:64] or "model"

    @property
    def precision(self) -> str:
        return self.info.precision if self.info else str(np.dtype(self.layout.dtype))

    def describe(self) -> str:
        if self.info is None:
            return f"{self.path} (no cgan metadata, {self.precision})"
        i = self.info
        return (f"{self.path} ({i.direction}: {i.source_domain} -> {i.target_domain}, {i.generator}, "
                f"{i.precision})")


def _dims(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


def read_spec(path: Path, session: DeviceSession) -> tuple[ModelSpec, str]:
    """The model's spec, and a one-line note when part of it was assumed (no cgan metadata) or forced (fixed size)."""
    sess = session.session
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    try:
        info = ModelInfo.from_metadata_props(sess.get_modelmeta().custom_metadata_map)
    except ValueError as e:
        raise InferError(f"{path}: {e}") from None
    if len(inputs) != 1 or len(outputs) < 1:
        raise InferError(f"{path} is not an image generator: it has {len(inputs)} inputs (cgan needs one image)")
    inp, out = inputs[0], outputs[0]
    in_dims, out_dims = _dims(inp.shape), _dims(out.shape)
    dtype = ORT_TYPES.get(inp.type)
    channels = in_dims[1] if len(in_dims) == 4 else None
    if dtype is None or len(in_dims) != 4 or len(out_dims) != 4 or channels not in (1, 3, None):
        raise InferError(f"{path} is not an image generator: input {inp.name!r} is {inp.type} {inp.shape}, "
                         "cgan-infer needs float N x C x H x W with 1 or 3 channels")
    fixed = (in_dims[2], in_dims[3]) if in_dims[2] and in_dims[3] else None
    if fixed and not all(0 < side <= MAX_FIXED_SIDE for side in fixed):
        raise InferError(f"{path}: its graph takes only {fixed[1]}x{fixed[0]} inputs, outside 1..{MAX_FIXED_SIDE}")
    if info is not None:
        check_names(path, info, [i.name for i in inputs], [o.name for o in outputs])
        layout = Layout(info.input_channels, info.output_channels, info.color_order,
                        tuple(info.value_range), info.side_multiple, np.dtype(dtype))
        note = f"{path.name} takes {fixed[1]}x{fixed[0]} inputs only: frames are resized to it and back" if fixed else ""
        return ModelSpec(path, info.input_name, info.output_name, layout, info, fixed), note
    if channels is None:
        raise InferError(f"{path} has no cgan metadata and its input does not say how many channels it takes")
    out_channels = out_dims[1] if out_dims[1] in (1, 3) else channels
    multiple = 1 if fixed else ASSUMED_SIDE_MULTIPLE
    layout = Layout(channels, out_channels, "RGB", (-1.0, 1.0), multiple, np.dtype(dtype))
    size = f"resized to its fixed {fixed[1]}x{fixed[0]}" if fixed else f"padded to a multiple of {multiple}"
    warning = (f"warning: {path.name} has no cgan metadata; assuming {'RGB' if channels == 3 else 'grayscale'} "
               f"input and output in [-1, 1], frames {size}")
    return ModelSpec(path, inp.name, out.name, layout, None, fixed), warning
