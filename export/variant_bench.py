"""Measure the deployment variants on this machine: ONNX Runtime CPU images/s of int8 (and fp16)
against fp32, and their PSNR against fp32 on held-out known-answer pictures (real-looking scenes).

    python -m cgan.export.variant_bench                      # resnet_9blocks, ngf 64, 256x256
    python -m cgan.export.variant_bench --run runs/NAME      # a trained run's G instead of random weights

Prints one line per precision and, with --json FILE, writes the figures.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import torch

from cgan.infer.metadata import ModelInfo
from cgan.train import create_generator
from cgan.train.known_answer import heldout_pairs
from cgan.train.networks import GENERATORS

from .calibration import DEFAULT_COUNT, builtin_images
from .onnx_export import export_generator
from .quantize import VARIANTS
from .sources import find_checkpoint, run_generators
from .verify import psnr, run_session, session


def _generator(run: str | None, name: str, ngf: int):
    if run is not None:
        g = run_generators(find_checkpoint(run, "runs")[1], ["G"])[0][0]
        return g.net, g.info
    torch.manual_seed(0)
    net = create_generator(name, ngf=ngf)
    info = ModelInfo(direction="G", source_domain="shapes", target_domain="shapes_T", generator=name, ngf=ngf,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                     train_size=256)
    return net, info


def _seconds_per_image(sess, x: np.ndarray) -> float:
    start = time.perf_counter()
    run_session(sess, x)
    return time.perf_counter() - start


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--run", default=None, help="Measure this run's G (default: random weights).")
@click.option("--generator", type=click.Choice(list(GENERATORS)), default="resnet_9blocks", show_default=True,
              help="Architecture when no --run is given.")
@click.option("--ngf", default=64, show_default=True, help="Width when no --run is given.")
@click.option("--size", default=256, show_default=True, help="Image side for speed and PSNR.")
@click.option("--repeats", default=7, show_default=True, help="Timed runs per precision (median reported).")
@click.option("--threads", default=os.cpu_count(), show_default=True, help="ONNX Runtime intra-op threads.")
@click.option("--precisions", default="int8,fp16", show_default=True, help="Variants to compare with fp32.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the figures.")
def main(run, generator, ngf, size, repeats, threads, precisions, json_path) -> None:
    """Speed and PSNR of int8/fp16 variants against fp32 in ONNX Runtime on this CPU."""
    net, info = _generator(run, generator, ngf)
    calibration = builtin_images("G", size, DEFAULT_COUNT)
    held_out = heldout_pairs(size, 4)[0].numpy()
    names = ["fp32", *[p for p in precisions.split(",") if p in VARIANTS]]
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for precision in names:
            path = Path(tmp) / f"G.{precision}.onnx"
            export_generator(net, path, info, precision=precision, calibration=calibration, verify=False)
            sessions[precision] = session(str(path), threads=threads)
        outputs = {p: [run_session(s, x[None]) for x in held_out] for p, s in sessions.items()}
        x = held_out[:1]
        times: dict[str, list[float]] = {p: [] for p in names}
        for _ in range(repeats):  # interleaved, so load changes hit every precision alike
            for p, s in sessions.items():
                times[p].append(_seconds_per_image(s, x))
    fp32_rate = 1 / statistics.median(times["fp32"])
    figures = {"generator": info.generator, "ngf": info.ngf, "size": size, "threads": threads,
               "weights": run or "random init (seed 0)", "results": {}}
    for p in names:
        rate = 1 / statistics.median(times[p])
        values = [psnr(a, b) for a, b in zip(outputs[p], outputs["fp32"])]
        figures["results"][p] = {"images_per_s": rate, "speedup_vs_fp32": rate / fp32_rate,
                                 "psnr_vs_fp32_db_min": min(values), "psnr_vs_fp32_db_mean": float(np.mean(values))}
        psnr_text = "" if p == "fp32" else f"  PSNR vs fp32 {min(values):.1f} dB (mean {np.mean(values):.1f})"
        click.echo(f"{p:5s} {rate:7.2f} images/s  {rate / fp32_rate:5.2f}x fp32{psnr_text}")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
