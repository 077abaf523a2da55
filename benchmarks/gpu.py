"""GPU benchmark: ONNX Runtime TensorRT fp16 vs ONNX Runtime CUDA fp32 vs PyTorch eager, on one NVIDIA GPU.

    python -m benchmarks.gpu                      # resnet_9blocks ngf 64; 256x256 and 1920x1080; batch 1 and 8
    python -m benchmarks.gpu --engines ort-cpu-fp32,torch-cpu-fp32 --sizes 32x32 --ngf 4   # a CPU smoke run

Every engine runs the same weights (a resnet_9blocks from the standard init, exported by
cgan-export's `export_generator`) the way its users run it: the ONNX Runtime engines through
cgan-infer's own session (`cgan.infer.runtime.create_session`, I/O binding, TensorRT engines cached),
PyTorch eager on the same device. Each figure includes the host -> device copy of the input and the
copy of the output back, as cgan-infer does per batch. The first call of each shape (TensorRT builds
its engine then) is reported apart; images/s is the median of --repeats calls after it.
One command, under 10 minutes on a current datacenter GPU (TensorRT engine builds take most of it).
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import numpy as np
import torch

from cgan.export.onnx_export import export_generator
from cgan.infer.errors import InferError
from cgan.infer.metadata import ModelInfo
from cgan.infer.runtime import create_session, parse_device
from cgan.train import create_generator

from .report import machine, write_json
from .timing import median_seconds

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Engine:
    device: str  # cgan-infer's --device for ONNX Runtime engines, torch's device for PyTorch
    fp16: bool = False  # TensorRT fp16 engines
    onnx: bool = True


ENGINES = {
    "ort-tensorrt-fp16": Engine("tensorrt", fp16=True),
    "ort-cuda-fp32": Engine("cuda"),
    "torch-cuda-fp32": Engine("cuda", onnx=False),
    "ort-cpu-fp32": Engine("cpu"),  # baselines and the smoke run
    "torch-cpu-fp32": Engine("cpu", onnx=False),
}
GPU_ENGINES = ("ort-tensorrt-fp16", "ort-cuda-fp32", "torch-cuda-fp32")


def _ort_runner(model: Path, engine: Engine, cache: Path) -> Runner:
    session = create_session(model, parse_device(engine.device), fp16=engine.fp16, strict=True, cache_dir=cache)
    return lambda x: session.run(x, "image", "translated")


def _torch_runner(net: torch.nn.Module, engine: Engine) -> Runner:
    if engine.device == "cuda" and not torch.cuda.is_available():
        raise InferError("this torch build sees no CUDA device (install a CUDA build of torch)")
    net = net.to(engine.device)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x).to(engine.device)).cpu().numpy()  # .cpu() waits for the GPU
    return run


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: write WIDTHxHEIGHT, e.g. 1920x1080", param_hint="--sizes") from None
    return w, h


def _comma_list(choices):
    def parse(ctx, param, value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if choices is not None and v not in choices]
        if bad:
            raise click.BadParameter(f"{bad[0]!r}: choose from {', '.join(choices)}")
        return items
    return parse


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--engines", default=",".join(GPU_ENGINES), show_default=True, callback=_comma_list(ENGINES),
              help=f"Comma list of {', '.join(ENGINES)}.")
@click.option("--sizes", default="256x256,1920x1080", show_default=True, callback=_comma_list(None),
              help="Comma list of WIDTHxHEIGHT (multiples of 4).")
@click.option("--batches", default="1,8", show_default=True, callback=_comma_list(None), help="Comma list of batch sizes.")
@click.option("--ngf", default=64, show_default=True, help="Width of the resnet_9blocks generator.")
@click.option("--repeats", default=10, show_default=True, help="Timed calls per figure (median).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench_out/gpu.json"),
              show_default=True, help="JSON results (replaced by each run).")
def main(engines: list[str], sizes: list[str], batches: list[str], ngf: int, repeats: int, out: Path) -> None:
    """ONNX Runtime TensorRT fp16 vs CUDA fp32 vs PyTorch eager: images/s by size and batch; one table."""
    shapes = [(parse_size(s), int(b)) for s in sizes for b in batches]
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="cgan-gpu-bench-") as tmp:
        torch.manual_seed(0)
        net = create_generator("resnet_9blocks", ngf=ngf).eval()
        model = Path(tmp) / "G.onnx"
        info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator="resnet_9blocks", ngf=ngf,
                         norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                         train_size=256)
        export_generator(net, model, info)
        rng = np.random.default_rng(0)
        for name in engines:
            engine = ENGINES[name]
            try:
                run = _ort_runner(model, engine, Path(tmp) / "trt") if engine.onnx else _torch_runner(net, engine)
            except InferError as e:
                notes.append(f"{name}: not run: {e}")
                click.echo(notes[-1], err=True)
                continue
            for (w, h), batch in shapes:
                x = rng.uniform(-1, 1, (batch, 3, h, w)).astype(np.float32)
                start = time.perf_counter()
                run(x)  # TensorRT builds (or loads) its engine for this shape here
                first = time.perf_counter() - start
                seconds = median_seconds(lambda: run(x), repeats=repeats, warmup=1)
                rows.append({"engine": name, "width": w, "height": h, "batch": batch, "first_call_s": first,
                             "images_per_s": batch / seconds})
                click.echo(f"{name} {w}x{h} batch {batch}: {batch / seconds:.1f} images/s", err=True)
    click.echo(gpu_table(rows))
    for note in notes:
        click.echo(note)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device visible to torch"
    write_json(out, {"command": " ".join(["python -m benchmarks.gpu", *sys.argv[1:]]), "gpu": device,
                     "machine": machine(), "ngf": ngf, "repeats": repeats, "rows": rows, "notes": notes})


def gpu_table(rows: list[dict]) -> str:
    """Markdown: one line per engine, size and batch, with its speed relative to ONNX Runtime CUDA fp32."""
    base = {(r["width"], r["height"], r["batch"]): r["images_per_s"] for r in rows if r["engine"] == "ort-cuda-fp32"}
    lines = ["| engine | size | batch | images/s | vs ort-cuda-fp32 | first call s |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ref = base.get((r["width"], r["height"], r["batch"]))
        ratio = f"{r['images_per_s'] / ref:.2f}x" if ref else ""
        lines.append(f"| {r['engine']} | {r['width']}x{r['height']} | {r['batch']} | {r['images_per_s']:.1f} | "
                     f"{ratio} | {r['first_call_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
