"""One generator to one verified, self-describing ONNX file.

The pipeline: dry run (output shape must equal input shape) -> trace to ONNX -> checker and
shape inference -> parity in ONNX Runtime against PyTorch -> optional fp16/int8 variant with its
own parity against fp32 -> metadata -> temp file moved into place.

Two exporters sit behind `to_onnx` (registry EXPORTERS): PyTorch's TorchScript-based one
(`dynamo=False`, the default: deprecated by PyTorch, but quick and its output dims keep the input's
symbols) and its torch.export-based one (`dynamo=True`). Both are followed by onnxscript's optimizer
and pass the same checks; docs/export.md says why the default is what it is.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import onnx
import onnxscript.optimizer
import torch
import torch.nn as nn

from cgan.infer.files import DestinationExists, atomic_write, os_reason
from cgan.infer.metadata import INPUT_NAME, OUTPUT_NAME, ModelInfo
from cgan.train.networks import smallest_side

from .errors import ExportError
from .quantize import VARIANTS, variant_parity
from .verify import (FP32_TOLERANCE, Comparison, compare_runs, cpu_session, parity_shapes, random_inputs,
                     run_session, worst)

PARITY_KEY = "cgan.parity"  # metadata: what the file was checked against and how close it came
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}

Log = Callable[[str], None]


def _dims_text(dims: tuple) -> str:
    return "[" + ", ".join(map(str, dims)) + "]"


@dataclass(frozen=True)
class ExportReport:
    """What one export wrote and how it was checked."""

    path: Path
    size_bytes: int
    opset: int
    precision: str
    input_name: str
    input_shape: tuple  # ints and symbol names, e.g. ("batch", 3, "height", "width")
    output_name: str
    output_shape: tuple
    parity: tuple[Comparison, ...]  # fp32 ONNX Runtime vs PyTorch; empty when --no-verify
    variant_parity: tuple[Comparison, ...]  # fp16/int8 vs the fp32 model; empty for fp32
    seconds: float

    def lines(self) -> list[str]:
        """The report printed at the end of `cgan-export`."""
        out = [f"{self.path}  ({self.size_bytes / 1e6:.1f} MB, opset {self.opset}, {self.precision}, "
               f"{self.seconds:.1f} s)",
               f"  input  {self.input_name} {_dims_text(self.input_shape)} float32",
               f"  output {self.output_name} {_dims_text(self.output_shape)} float32"]
        if self.parity:
            out.append(f"  ONNX Runtime vs PyTorch: worst max abs {worst(self.parity).max_abs:.2e} "
                       f"(limit {FP32_TOLERANCE:g}) at " + ", ".join("x".join(map(str, c.shape)) for c in self.parity))
        else:
            out.append("  parity NOT checked (--no-verify)")
        if self.variant_parity:
            out.append(f"  {self.precision} vs fp32: worst PSNR {min(c.psnr_db for c in self.variant_parity):.1f} dB, "
                       f"max abs {worst(self.variant_parity).max_abs:.3f}")
        return out


def example_side(train_size: int, side_multiple: int) -> int:
    """The training crop size rounded up to the side multiple: the size traced and checked first."""
    return -(-train_size // side_multiple) * side_multiple


def dry_run(net: nn.Module, shape: tuple[int, ...], multiple: int, log: Log) -> None:
    """Run the net once and fail unless its output has its input's shape; an input too small for it
    fails naming the smallest square it takes."""
    try:
        with torch.inference_mode():
            out_shape = tuple(net(torch.zeros(shape)).shape)
    except (RuntimeError, ValueError) as e:  # ValueError: a norm over a single element
        smallest = smallest_side(net, shape[1], multiple)
        advice = f"; the smallest input it takes is {smallest}x{smallest}" if (smallest or 0) > min(shape[2:]) else ""
        raise ExportError(f"dry run at input {list(shape)} failed: {str(e).splitlines()[0]}{advice}") from None
    log(f"dry run: input {list(shape)} -> output {list(out_shape)}")
    if out_shape != tuple(shape):
        raise ExportError(f"the generator's output shape {list(out_shape)} differs from its input shape "
                          f"{list(shape)}; only shape-preserving generators can be exported")


def _torchscript(net: nn.Module, example: torch.Tensor, opset: int, axes: dict[int, str]) -> onnx.ModelProto:
    """PyTorch's TorchScript-based exporter (deprecated by PyTorch, still shipped)."""
    buffer = io.BytesIO()
    torch.onnx.export(net, (example,), buffer, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                      output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
                      do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


def _dynamo(net: nn.Module, example: torch.Tensor, opset: int, axes: dict[int, str]) -> onnx.ModelProto:
    """PyTorch's torch.export-based exporter; it prints its progress, which our log replaces."""
    exporter_log = logging.getLogger("torch.onnx")  # notes such as "torchvision is not installed"
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(net, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], dynamic_shapes=(axes,), optimize=True,
                                        verify=False, report=False, external_data=False)
    finally:
        exporter_log.setLevel(level)
    return program.model_proto


@dataclass(frozen=True)
class Exporter:
    export: Callable[[nn.Module, torch.Tensor, int, dict[int, str]], onnx.ModelProto]
    default_opset: int
    min_opset: int  # dynamo writes opset 18 when asked for less, so it is refused below that


EXPORTERS = {
    "torchscript": Exporter(_torchscript, default_opset=17, min_opset=11),
    "dynamo": Exporter(_dynamo, default_opset=18, min_opset=18),
}
DEFAULT_EXPORTER = "torchscript"  # docs/export.md: measured against dynamo


def to_onnx(net: nn.Module, example_shape: tuple[int, ...], opset: int, dynamic_hw: bool,
            exporter: str = DEFAULT_EXPORTER) -> onnx.ModelProto:
    """Export `net` (eval mode) into an ONNX model with input `image` and output `translated`."""
    axes = DYNAMIC_AXES if dynamic_hw else {0: "batch"}
    with warnings.catch_warnings():  # deprecation and tracer notes
        warnings.simplefilter("ignore")
        try:
            model = EXPORTERS[exporter].export(net, torch.zeros(example_shape), opset, axes)
        except (RuntimeError, ValueError) as e:  # torch.onnx.errors.* and torch.export errors derive from these
            raise ExportError(f"PyTorch's {exporter} exporter could not export the generator at opset {opset}: "
                              f"{(str(e).strip().splitlines() or [type(e).__name__])[0]}") from None
    # Folds the shape arithmetic emitted around every Pad into constants.
    model = onnxscript.optimizer.optimize(model)
    # The exporters label the output's H and W wrongly (TorchScript) or as expressions of the input's
    # (dynamo, e.g. 4*(((height - 1)//4)) + 4); the dry run showed they are the input's.
    output_dims = model.graph.output[0].type.tensor_type.shape.dim
    for out_dim, in_dim in zip(output_dims, model.graph.input[0].type.tensor_type.shape.dim):
        out_dim.CopyFrom(in_dim)
    return model


def _dims(value: onnx.ValueInfoProto) -> tuple:
    return tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)


def check_onnx(model: onnx.ModelProto) -> tuple[tuple, tuple]:
    """Full ONNX checker, strict shape inference, one input `image` and one output `translated` (a plain
    graph: no initializer listed among the inputs), whose batch, H, W must be the input's.

    Returns the input and output shapes (ints and symbol names).
    """
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported model is not valid ONNX: {str(e).splitlines()[0]}") from None
    graph = inferred.graph
    inputs, outputs = [i.name for i in graph.input], [o.name for o in graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise ExportError(f"the exported graph has inputs {inputs} and outputs {outputs}; an exported model has "
                          f"input {INPUT_NAME!r} and output {OUTPUT_NAME!r} only")
    in_dims, out_dims = _dims(graph.input[0]), _dims(graph.output[0])
    if len(out_dims) != 4 or (out_dims[0], *out_dims[2:]) != (in_dims[0], *in_dims[2:]):
        raise ExportError(f"shape inference gives output {list(out_dims)} for input {list(in_dims)}; "
                          "batch, height and width must match")
    return in_dims, out_dims


def torch_parity(model: onnx.ModelProto, net: nn.Module, shapes: Sequence[tuple[int, ...]]) -> list[Comparison]:
    """ONNX Runtime (CPU) against PyTorch on the same random inputs."""
    sess = cpu_session(model.SerializeToString())

    def reference(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    return compare_runs(lambda x: run_session(sess, x), reference, random_inputs(shapes))


def check_written(path: Path) -> Callable[[Path], None]:
    """A check of the temp file before it becomes `path`: it must load, pass the checker and open in ONNX Runtime."""
    def check(temp: Path) -> None:
        try:
            onnx.checker.check_model(onnx.load(str(temp)), full_check=True)
            cpu_session(str(temp), threads=1)
        except Exception as e:  # onnx and onnxruntime raise many classes for a damaged file
            raise ExportError(f"{path}: the written file does not load back ({str(e).splitlines()[0][:120]}); "
                              "is the disk full? no file written") from None
    return check


def write_model(model: onnx.ModelProto, path: Path, overwrite: bool) -> int:
    """Serialize into one self-contained file via a checked temp file; returns its size."""
    data = model.SerializeToString()
    try:
        with atomic_write(path, check=check_written(path), overwrite=overwrite) as f:
            f.write(data)
    except DestinationExists:
        raise ExportError(f"{path} appeared while exporting; pass overwrite=True to replace it") from None
    except OSError as e:
        raise ExportError(f"{path}: cannot write it ({os_reason(e)}); no file written") from None
    return len(data)


def check_finite_weights(net: nn.Module) -> None:
    """Refuse a generator whose weights or buffers hold NaN or Inf (its outputs would too)."""
    bad = [name for name, t in net.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ExportError(f"the generator's weights hold NaN or Inf ({', '.join(bad[:3])}"
                          f"{' ...' if len(bad) > 3 else ''}); the checkpoint is damaged or training diverged")


def checked_metadata(info: ModelInfo) -> ModelInfo:
    """`info` as cgan-infer will read it back; ExportError for any value it would refuse, so that no
    file is written that inference refuses."""
    try:
        return info.checked()
    except ValueError as e:
        raise ExportError(f"{e}; cgan-infer would refuse a model with it, so none is written") from None


def prepare_destination(path: Path, overwrite: bool) -> None:
    """Fail early when the file exists (without overwrite) or its folder cannot be written."""
    if os.path.lexists(path) and not overwrite:  # a symlink, even a dangling one, counts
        raise ExportError(f"{path} already exists; pass overwrite=True to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the output folder {path.parent}: {e.strerror}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ExportError(f"the output folder {path.parent} is not writable; choose another with out=...")


@contextlib.contextmanager
def new_folders_removed_on_failure(folder: Path) -> Iterator[None]:
    """Inside: when an exception leaves, remove the folders on the way to `folder` that did not exist before
    and are still empty, so a failed export leaves no empty models/<run>/ behind; a folder that existed
    before is never removed."""
    new = []  # deepest first
    for f in (folder, *folder.parents):
        if os.path.lexists(f):
            break
        new.append(f)
    try:
        yield
    except BaseException:
        for f in new:
            try:
                f.rmdir()
            except OSError:  # something was written into it, or it is gone already
                break
        raise


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def export_generator(net: nn.Module, path: str | os.PathLike, info: ModelInfo, *, opset: int | None = None,
                     static_hw: tuple[int, int] | None = None, verify: bool = True, overwrite: bool = False,
                     precision: str = "fp32", calibration: Sequence[np.ndarray] | None = None,
                     exporter: str = DEFAULT_EXPORTER, log: Log | None = None) -> ExportReport:
    """Export one generator to `path` and return what was written and checked.

    `info` describes the net (see ModelInfo); its precision and export date are filled in here.
    `calibration`: NCHW float32 arrays in [-1, 1], needed for precision "int8". `exporter`: a key of
    EXPORTERS; `opset` None means that exporter's default. Raises ExportError,
    leaving no file behind, when any check fails.
    """
    start, log = time.perf_counter(), log or (lambda message: None)
    path = Path(path)
    if precision != "fp32" and precision not in VARIANTS:
        raise ExportError(f"unknown precision {precision!r}; choose fp32, {', '.join(VARIANTS)}")
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose {', '.join(EXPORTERS)}")
    opset = opset or EXPORTERS[exporter].default_opset
    if opset < EXPORTERS[exporter].min_opset:
        raise ExportError(f"opset={opset}: the {exporter} exporter needs opset {EXPORTERS[exporter].min_opset} "
                          "or later")
    checked_metadata(info)
    multiple = getattr(net, "side_multiple", info.side_multiple)
    if multiple != info.side_multiple:
        raise ExportError(f"the net's side multiple {multiple} differs from the metadata's {info.side_multiple}")
    if static_hw and any(s % multiple for s in static_hw):
        raise ExportError(f"static_hw={static_hw}: height and width must be multiples of "
                          f"{multiple} for {info.generator}")
    with new_folders_removed_on_failure(path.parent):
        prepare_destination(path, overwrite)

        net = net.eval()
        check_finite_weights(net)
        side = example_side(info.train_size, multiple)
        shape = (1, info.input_channels, *(static_hw or (side, side)))
        dry_run(net, shape, multiple, log)
        model = to_onnx(net, shape, opset, dynamic_hw=static_hw is None, exporter=exporter)
        check_onnx(model)
        shapes = parity_shapes(info.input_channels, side, multiple, static_hw)
        parity: list[Comparison] = []
        if verify:
            parity = torch_parity(model, net, shapes)
            for c in parity:
                log(f"parity ONNX Runtime vs PyTorch at {c}")
            if worst(parity).max_abs > FP32_TOLERANCE:
                raise ExportError(f"ONNX Runtime output differs from PyTorch by {worst(parity).max_abs:.2e} "
                                  f"(limit {FP32_TOLERANCE:g}) at {list(worst(parity).shape)}; no file written")
        else:
            log("verify=False: ONNX Runtime vs PyTorch parity NOT checked")

        variant: list[Comparison] = []
        if precision != "fp32":
            fp32 = model
            model = VARIANTS[precision](fp32, calibration, log)
            check_onnx(model)
            if verify:
                variant = variant_parity(model, fp32, precision, shapes, calibration, log)
            else:
                log(f"verify=False: {precision} vs fp32 comparison NOT made")

        info = replace(info, precision=precision,
                       export_date=info.export_date or datetime.now(timezone.utc).isoformat(timespec="seconds"))
        props = checked_metadata(info).to_metadata_props()
        if verify:
            checked = variant or parity
            lowest = min(c.psnr_db for c in checked)
            props[PARITY_KEY] = json.dumps({"reference": "fp32 onnx" if variant else "pytorch",
                                            "max_abs": worst(checked).max_abs,
                                            "min_psnr_db": None if math.isinf(lowest) else lowest,
                                            "shapes": [list(c.shape) for c in checked]}, allow_nan=False)
        set_metadata(model, props)
        in_dims, out_dims = check_onnx(model)
        size = write_model(model, path, overwrite)
        return ExportReport(path, size, opset, precision, INPUT_NAME, in_dims, OUTPUT_NAME, out_dims,
                            tuple(parity), tuple(variant), time.perf_counter() - start)
