"""What a generator must give: for an N x C x H x W input, an N x C' x H x W output (C' the output
channels its metadata names), under the tensor names its metadata names.

A model file is untrusted: one that breaks this would end in a broadcast error, a cv2.error, or a
smaller picture written as if all were well. The names are checked when the model loads, the shape
by a dry run then and on every call; each failure is one line naming the model file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InferError
from .metadata import ModelInfo, norm_stat_names
from .processing import Layout

DRY_RUN_SIDE = 32  # the dry run's input side (rounded up to the model's side multiple); small, so it is quick


def _shape(shape) -> str:
    return " x ".join(map(str, shape))


def check_names(path: Path, info: ModelInfo, input_names: list[str], output_names: list[str]) -> None:
    """The metadata's input_name is the graph's image input and its output_name an image output."""
    statistics = {name for layer in range(info.norm_stats or 0)
                  for key, name in norm_stat_names(layer).items() if key in ("mean", "var")}
    if info.input_name not in input_names:
        raise InferError(f"{path}: its cgan metadata names the input {info.input_name!r}, which is not an input "
                         f"of the graph (inputs: {', '.join(map(repr, input_names[:5]))}); re-export it")
    if info.output_name not in output_names or info.output_name in statistics:
        what = "an instance-norm statistics output" if info.output_name in statistics else "not an output of the graph"
        raise InferError(f"{path}: its cgan metadata names the output {info.output_name!r}, which is {what} "
                         f"(outputs: {', '.join(map(repr, output_names[:5]))}); re-export it")


def check_output(path: Path, layout: Layout, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> None:
    """Raise InferError unless an output of `y_shape` keeps the batch, height and width of `x_shape` and
    has the layout's output channels."""
    n, _, h, w = x_shape
    expected = (n, layout.output_channels, h, w)
    if tuple(y_shape) != expected:
        raise InferError(f"{path}: the model gives {_shape(y_shape)} for a {_shape(x_shape)} input, not the "
                         f"{_shape(expected)} an image generator with {layout.output_channels}-channel output "
                         "gives (same height and width); the file is not such a generator or its metadata is wrong")


def dry_run_input(layout: Layout, fixed_size: tuple[int, int] | None) -> np.ndarray:
    """A small mid-grey input the model must take: its fixed size, or DRY_RUN_SIDE rounded up to its side multiple."""
    if fixed_size:
        h, w = fixed_size
    else:
        h = w = -(-DRY_RUN_SIDE // layout.side_multiple) * layout.side_multiple
    lo, hi = layout.value_range
    return np.full((1, layout.input_channels, h, w), (lo + hi) / 2, dtype=layout.dtype)
