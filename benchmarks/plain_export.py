"""The default export against a plain `torch.onnx.export` of the same weights: time in ONNX Runtime, graph
inputs and outputs, and the warnings ONNX Runtime prints when it loads each file.

    python -m benchmarks.plain_export [--quick] [--threads 2] [--out bench_out/plain_export.json]
    python -m benchmarks.plain_export --show docs/export/plain_export.json --markdown docs/export.md

Three files of one generator (resnet_9blocks, ngf 64, the standard init): cgan-export's default
(`export_generator`, fp32), `torch.onnx.export` given only the tensor names and dynamic axes (what a
PyTorch user writes; same opset), and the statistics graph cgan-infer derives for tiles (the tensors
every export carried before its files were plain). Each runs in ONNX Runtime fp32 on the CPU, batch 1,
at 256x256 and 1280x720, the three timed in interleaved rounds (wall and this process's CPU seconds of
the same calls). The target: the default export takes at most 1.02x the plain export's time.
`--markdown` rewrites the generated block of docs/export.md from the JSON.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch

from cgan.export.onnx_export import DEFAULT_EXPORTER, DYNAMIC_AXES, EXPORTERS, export_generator
from cgan.export.verify import cpu_session
from cgan.infer.metadata import INPUT_NAME, OUTPUT_NAME, ModelInfo
from cgan.infer.native_logs import native_stderr
from cgan.infer.norm_stats import expose_norm_stats
from cgan.train import create_generator

from .doc_blocks import update_page
from .report import machine, write_json
from .timing import interleaved_wall_and_cpu

DEFAULT_OUT = Path("bench_out/plain_export.json")
TARGET_RATIO = 1.02  # the default export's time over the plain export's, at most
ORT_WARNING = 2  # ONNX Runtime's default log severity
FULL = dict(generator="resnet_9blocks", ngf=64, sizes=[(256, 256), (720, 1280)], repeats=[15, 5])
QUICK = dict(generator="resnet_6blocks", ngf=4, sizes=[(32, 32), (36, 64)], repeats=[2, 1])
FILES = {  # key -> what the file is, as the table names it
    "default": "cgan-export default (`G.onnx`)",
    "plain": "plain `torch.onnx.export`",
    "statistics": "statistics graph (cgan-infer's tiles; exports before plain files)",
}
BLOCK = "plain_export"  # the name of the page's generated block (benchmarks/doc_blocks.py)


def write_files(folder: Path, generator: str, ngf: int) -> dict[str, bytes]:
    """The default and the plain export of one generator's weights, serialized."""
    torch.manual_seed(0)
    net = create_generator(generator, ngf=ngf).eval()
    info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator=generator, ngf=ngf,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                     train_size=256)
    export_generator(net, folder / "G.onnx", info, overwrite=True)
    plain = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 256, 256),), plain, dynamo=False, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: DYNAMIC_AXES, OUTPUT_NAME: DYNAMIC_AXES},
                          opset_version=EXPORTERS[DEFAULT_EXPORTER].default_opset)
    default = (folder / "G.onnx").read_bytes()
    return {"default": default, "plain": plain.getvalue()}


def describe(model: bytes) -> dict:
    """Graph inputs (overridable initializers included), outputs, nodes, and the warnings ONNX Runtime
    prints loading it at its default log level."""
    ort.set_default_logger_severity(ORT_WARNING)
    options = ort.SessionOptions()
    options.log_severity_level = ORT_WARNING
    start = time.perf_counter()
    with native_stderr(only_thread=True) as lines:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    load_seconds = time.perf_counter() - start
    warnings = [line for line in lines if "W:onnxruntime" in line]
    return dict(inputs=len(session.get_inputs()) + len(session.get_overridable_initializers()),
                outputs=len(session.get_outputs()), warnings=len(warnings),
                first_warning=re.sub(r"^.*?\] ", "", warnings[0])[:160] if warnings else None, size_bytes=len(model),
                nodes=len(onnx.load_from_string(model).graph.node), load_seconds=load_seconds)


def _runner(model: bytes, threads: int, x: np.ndarray) -> Callable[[], np.ndarray]:
    session = cpu_session(model, threads)
    return lambda: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def measure(models: dict[str, bytes], height: int, width: int, threads: int, repeats: int) -> dict:
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
    runs = {name: _runner(model, threads, x) for name, model in models.items()}
    outputs = {name: run() for name, run in runs.items()}  # also the warm-up call
    wall, cpu = interleaved_wall_and_cpu(runs, repeats=repeats, warmup=0)
    return dict(size=[width, height], repeats=repeats, wall_seconds=wall, cpu_seconds=cpu,
                max_abs_vs_plain={name: float(np.abs(y - outputs["plain"]).max()) for name, y in outputs.items()},
                ratio={name: wall[name] / wall["plain"] for name in runs},
                cpu_ratio={name: cpu[name] / cpu["plain"] for name in runs})


def run(cfg: dict, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        models = write_files(Path(tmp), cfg["generator"], cfg["ngf"])
    start = time.perf_counter()
    models["statistics"] = expose_norm_stats(models["default"])[0]
    derive_seconds = time.perf_counter() - start
    files = {name: describe(model) for name, model in models.items()}
    sizes = []
    for (h, w), repeats in zip(cfg["sizes"], cfg["repeats"]):
        sizes.append(measure(models, h, w, threads, repeats))
        print(f"  {w}x{h}: default {sizes[-1]['ratio']['default']:.3f}x plain", file=sys.stderr)
    met = all(s["ratio"]["default"] <= TARGET_RATIO for s in sizes) and (
        (files["default"]["inputs"], files["default"]["outputs"], files["default"]["warnings"]) == (1, 1, 0))
    return dict(machine=machine(), threads=threads, generator=cfg["generator"], ngf=cfg["ngf"],
                opset=EXPORTERS[DEFAULT_EXPORTER].default_opset, target_ratio=TARGET_RATIO, met=met, files=files,
                derive_seconds=derive_seconds, sizes=sizes)


def table(result: dict) -> str:
    """The figures as a markdown table: time of each file relative to the plain export's."""
    sizes = result["sizes"]
    head = " | ".join(f"{s['size'][0]}x{s['size'][1]}" for s in sizes)
    lines = [f"| file | inputs | outputs | load warnings | load time | {head} |",
             "| --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(sizes)]
    for name, label in FILES.items():
        f = result["files"][name]
        times = " | ".join(f"{s['wall_seconds'][name]:.3g} s" if name == "plain" else
                           f"{s['ratio'][name]:.3f}x (CPU {s['cpu_ratio'][name]:.3f}x)" for s in sizes)
        lines.append(f"| {label} | {f['inputs']} | {f['outputs']} | {f['warnings']} | {f['load_seconds']:.2f} s | "
                     f"{times} |")
    return "\n".join(lines)


def figures(result: dict) -> dict[str, str]:
    """The page's generated blocks: the figures, and how far the statistics graph (strictly more work than the
    default file) lands from the plain export, which bounds what timing can tell apart."""
    spread = max(abs(s["ratio"]["statistics"] - 1) for s in result["sizes"])
    return {BLOCK: markdown(result), "statistics_within": f"{math.ceil(100 * spread)}%"}


def markdown(result: dict) -> str:
    m = result["machine"]
    rounds = ", ".join(f"{s['repeats']} at {s['size'][0]}x{s['size'][1]}" for s in result["sizes"])
    worst = max(s["max_abs_vs_plain"]["default"] for s in result["sizes"])
    same = "are identical" if worst == 0 else f"differ by at most {worst:.1e}"
    return "\n".join([
        f"{result['generator']} (ngf {result['ngf']}), ONNX Runtime {m['onnxruntime']} fp32 on the CPU "
        f"({m['cpu']}, {result['threads']} threads), batch 1; the plain export's median time, the others' as a "
        f"ratio of it (wall, and CPU seconds of the same calls; median of interleaved rounds: {rounds}). "
        f"Outputs of the default and the plain file {same}. Deriving the statistics "
        f"graph from the default file's bytes took {result['derive_seconds']:.2f} s; load time is ONNX Runtime "
        f"opening the file. Target: 1 input, 1 output, "
        f"no warning, at most {result['target_ratio']:g}x the plain export's time: "
        f"{'met' if result['met'] else 'NOT met'}.", "",
        table(result)])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plain_export", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny generator and small images (for tests)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime's intra-op threads")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON written")
    parser.add_argument("--show", type=Path, help="print (and with --markdown write) the figures of this JSON "
                                                  "instead of measuring")
    parser.add_argument("--markdown", type=Path, help="a page whose generated block gets the figures (docs/export.md)")
    args = parser.parse_args(argv)
    if args.show:
        try:
            result = json.loads(args.show.read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"--show {args.show}: cannot read a saved run from it ({e})") from None
    else:
        result = run(QUICK if args.quick else FULL, args.threads)
        write_json(args.out, result)
    print(table(result))
    if args.markdown:
        try:
            update_page(args.markdown, figures(result))
        except ValueError as e:
            raise SystemExit(f"--markdown {e}") from None
    return result


if __name__ == "__main__":
    main()
