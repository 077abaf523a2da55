"""Deployment variants of a verified fp32 model: fp16 (for CUDA/TensorRT) and int8 (static QDQ, for CPUs).

Both keep float32 input and output tensors, so an app feeds every variant the same way; the
metadata's `precision` says which one a file is.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxscript import ir

from .errors import ExportError
from .verify import Comparison, compare_runs, cpu_session, random_inputs, run_session

Log = Callable[[str], None]

# Ops left in fp32 in the fp16 variant: instance norm sums squares over a whole feature map,
# which overflows fp16's range at high resolution.
FP16_FP32_OPS = ["InstanceNormalization"]
INT8_OPS = ["Conv", "ConvTranspose"]  # everything else (norms, activations, pads) stays fp32
INT8_MIN_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (axis attribute)
INT8_FP32_ENDS = 3  # convs kept fp32 at each end of the net (see end_conv_names)
MIN_PSNR_DB = {"fp16": 40.0, "int8": 25.0}  # below this the variant is refused: something broke


def _topologically_sorted(model: onnx.ModelProto) -> onnx.ModelProto:
    """The fp16 converter appends its casts at the end of the node list; ONNX wants them in order.

    Its intermediate type annotations can be stale too, so they are dropped (they are optional).
    """
    del model.graph.value_info[:]
    graph = ir.serde.deserialize_model(model)
    ir.passes.common.TopologicalSortPass()(graph)
    return ir.serde.serialize_model(graph)


def _unshare_initializers(model: onnx.ModelProto, op_types: Sequence[str]) -> onnx.ModelProto:
    """Give each `op_types` node its own copy of initializers it shares with other nodes.

    The optimizer deduplicates the identical scale/bias constants of every instance norm; the fp16
    converter then names one cast per consumer identically, which makes the graph invalid.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    initializers = {init.name: init for init in model.graph.initializer}
    seen: set[str] = set()
    for node in model.graph.node:
        if node.op_type not in op_types:
            continue
        for i, name in enumerate(node.input):
            if name in initializers and name in seen:
                copy = onnx.TensorProto.FromString(initializers[name].SerializeToString())
                copy.name = f"{name}__{node.name or i}"
                model.graph.initializer.append(copy)
                node.input[i] = copy.name
            seen.add(name)
    return model


def to_fp16(model: onnx.ModelProto, calibration: Sequence[np.ndarray] | None, log: Log) -> onnx.ModelProto:
    """fp16 weights and compute, fp32 input/output and instance norm."""
    log(f"converting to fp16 (kept in fp32: inputs, outputs, {', '.join(FP16_FP32_OPS)})")
    model = _unshare_initializers(model, FP16_FP32_OPS)
    return _topologically_sorted(convert_float_to_float16(model, keep_io_types=True, op_block_list=FP16_FP32_OPS))


class _Batches(CalibrationDataReader):
    def __init__(self, input_name: str, images: Sequence[np.ndarray]):
        self._items: Iterator[dict[str, np.ndarray]] = iter({input_name: x} for x in images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def end_conv_names(model: onnx.ModelProto, count: int = INT8_FP32_ENDS) -> list[str]:
    """The `count` convs nearest the input and the `count` nearest the output, in graph order.

    They work at the image's resolution with few channels: little of the compute, most of the
    visible error (for resnet: the stem, the two downsamplings, the two upsamplings, the output conv).
    """
    convs = [n.name for n in model.graph.node if n.op_type in INT8_OPS]
    return convs if len(convs) <= 2 * count else convs[:count] + convs[-count:]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer prints calibration progress and logs advice as warnings; keep our report clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def to_int8(model: onnx.ModelProto, calibration: Sequence[np.ndarray] | None, log: Log) -> onnx.ModelProto:
    """Static QDQ int8: per-channel int8 weights, int8 activations calibrated on `calibration`."""
    if not calibration:
        raise ExportError("int8 needs calibration images (the run's training data or calibration=...)")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < INT8_MIN_OPSET:
        raise ExportError(f"int8 needs opset={INT8_MIN_OPSET} or later (per-channel DequantizeLinear), not {opset}")
    excluded = end_conv_names(model)
    log(f"quantizing to int8 (QDQ, per-channel weights, percentile calibration on {len(calibration)} images; "
        f"kept in fp32: normalization, activations and the {INT8_FP32_ENDS} convs at each end)")
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(model, source)
        quantize_static(source, target, _Batches(model.graph.input[0].name, calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=INT8_OPS, nodes_to_exclude=excluded,
                        calibrate_method=CalibrationMethod.Percentile)
        return onnx.load_model(target)


VARIANTS: dict[str, Callable[[onnx.ModelProto, Sequence[np.ndarray] | None, Log], onnx.ModelProto]] = {
    "fp16": to_fp16,
    "int8": to_int8,
}


def variant_parity(variant: onnx.ModelProto, fp32: onnx.ModelProto, precision: str,
                   shapes: Sequence[tuple[int, ...]], images: Sequence[np.ndarray] | None,
                   log: Log) -> list[Comparison]:
    """The variant against the fp32 model in ONNX Runtime, on images (when given) and random inputs.

    Raises ExportError when the PSNR falls below MIN_PSNR_DB for the precision.
    """
    fast, reference = cpu_session(variant.SerializeToString()), cpu_session(fp32.SerializeToString())
    inputs = list(images or [])[:4] + random_inputs(shapes)
    results = compare_runs(lambda x: run_session(fast, x), lambda x: run_session(reference, x), inputs)
    for c in results:
        log(f"{precision} vs fp32 at {c}")
    lowest = min(c.psnr_db for c in results)
    if lowest < MIN_PSNR_DB[precision]:
        raise ExportError(f"the {precision} model reaches only {lowest:.1f} dB PSNR against fp32 "
                          f"(at least {MIN_PSNR_DB[precision]:g} dB expected); no file written")
    return results
