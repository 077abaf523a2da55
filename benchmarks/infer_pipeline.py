"""cgan-infer's pipeline against its model: model-only fps vs end-to-end fps, for a video and a folder.

    python benchmarks/infer_pipeline.py [--model PATH] [--frames 120] [--size 256x256] [--batch 4]

One run, one model. Model-only: the model alone on tensors already prepared (what the loop can
at best reach). End-to-end: decode -> prepare -> model -> finish -> encode/write, overlapped in
threads, wall clock from the first read to the last write. The ratio end-to-end / model-only says
how much of the model's speed the pipeline keeps (1.0 = all of it).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
import numpy as np

from cgan.infer import Translator, open_sink, open_source, run_pipeline, translate_video
from cgan.infer.model import find_model


def _frame(h: int, w: int, i: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x * y + i) % 256], axis=2).astype(np.uint8)


def make_media(folder: Path, frames: int, w: int, h: int, fps: float = 30.0) -> tuple[Path, Path]:
    """A video of `frames` frames and a folder of as many PNG images, all w x h."""
    video, images = folder / "clip.mp4", folder / "images"
    images.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for i in range(frames):
            writer.write(_frame(h, w, i))
            cv2.imwrite(str(images / f"{i:05d}.png"), _frame(h, w, i))
    finally:
        writer.release()
    return video, images


def random_export(folder: Path, ngf: int) -> Path:
    """A randomly initialized resnet_9blocks exported by cgan-export (needs the train extra)."""
    from cgan.export.onnx_export import export_generator
    from cgan.infer.metadata import ModelInfo
    from cgan.train import create_generator

    net = create_generator("resnet_9blocks", ngf=ngf)
    info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator="resnet_9blocks", ngf=ngf,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                     train_size=256)
    return export_generator(net, folder / "G.onnx", info, verify=False).path


def model_only_fps(translator: Translator, frame: np.ndarray, frames: int, batch: int) -> float:
    """Frames per second of the model alone on prepared tensors (one warm-up call first)."""
    x = np.stack([translator.prepare(frame).tensor] * batch)
    translator.infer(x)
    calls = max(1, frames // batch)
    start = time.perf_counter()
    for _ in range(calls):
        translator.infer(x)
    return calls * batch / (time.perf_counter() - start)


def folder_fps(translator: Translator, images: Path, out: Path, batch: int) -> float:
    with open_source("folder", images) as source, open_sink(source, out, overwrite=False) as sink:
        report = run_pipeline(translator, source, sink, batch=batch, progress=False)
    return report.done / report.wall_s


@click.command()
@click.option("--model", type=click.Path(exists=True), help="An .onnx file or export folder (default: a random resnet_9blocks).")
@click.option("--ngf", default=16, show_default=True, help="Width of the random resnet_9blocks made when --model is not given.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda[:N], tensorrt[:N].")
@click.option("--frames", default=120, show_default=True, help="Frames in the video and images in the folder.")
@click.option("--size", default="256x256", show_default=True, help="Frame size WxH.")
@click.option("--batch", default=4, show_default=True, help="Batch size for the folder run.")
def main(model, ngf, device, frames, size, batch):
    """Print model-only and end-to-end fps for a video and a folder, and their ratio."""
    w, h = (int(v) for v in size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        translator = Translator(find_model(model) if model else random_export(tmp, ngf), device)
        for note in translator.notes:
            print(note, file=sys.stderr)
        print(f"{translator.describe()}; {os.cpu_count()} CPUs; {frames} frames of {w}x{h}")
        video, images = make_media(tmp, frames, w, h)
        rows = []
        model_1 = model_only_fps(translator, _frame(h, w, 0), frames, 1)
        report = translate_video(translator, video, tmp / "out.mp4")
        rows.append(("video", 1, model_1, report.done / report.wall_s))
        model_b = model_only_fps(translator, _frame(h, w, 0), frames, batch)
        rows.append(("folder", batch, model_b, folder_fps(translator, images, tmp / "out", batch)))
    print(f"{'source':8} {'batch':>5} {'model-only fps':>15} {'end-to-end fps':>15} {'ratio':>6}")
    for name, b, model_fps, e2e_fps in rows:
        print(f"{name:8} {b:5d} {model_fps:15.1f} {e2e_fps:15.1f} {e2e_fps / model_fps:6.2f}")


if __name__ == "__main__":
    main()
