"""The `cgan-infer` command: a thin layer over Translator, open_source, open_sink and run_pipeline."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from . import stopping
from .errors import InferError
from .flags import as_flags
from .model import GENERATOR_LETTERS
from .options import IntegerRange
from .files import os_reason
from .pipeline import run_pipeline
from .preview import Preview, display_problem
from .sinks import open_sink, output_path
from .sources import SOURCES, open_source
from .temporal import TEMPORAL_BY_DEFAULT, TemporalSettings
from .tiling import DEFAULT_OVERLAP
from .translator import Translator

EXIT_FAILED = 1  # some images or frames failed
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C before the end of a file source
# The API arguments that messages name (cgan.infer.flags), as this command's flags.
FLAGS = {"image": "--image", "folder": "--folder", "video": "--video", "camera": "--camera", "stream": "--stream",
         "model_path": "--model", "gen": "--gen", "out": "--out", "overwrite": "--overwrite", "size": "--size",
         "device": "--device", "strict_device": "--strict-device", "batch": "--batch", "tile": "--tile",
         "tile_overlap": "--tile-overlap", "max_memory": "--max-memory", "temporal": "--temporal"}


def _chosen_source(**given) -> tuple[str, object]:
    chosen = [(k, v) for k, v in given.items() if v not in (None, ())]
    if len(chosen) != 1:
        raise click.UsageError(f"give exactly one source: {', '.join('--' + k for k in SOURCES)}")
    kind, value = chosen[0]
    return kind, list(value) if kind == "image" else value


def _say(line: str) -> None:
    click.echo(as_flags(line, FLAGS), err=True)


def _note(line: str) -> None:
    """A line while the progress bar may be showing."""
    tqdm.write(as_flags(line, FLAGS), file=sys.stderr)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--image", type=click.Path(dir_okay=False), multiple=True, help="An image file; repeat for several.")
@click.option("--folder", type=click.Path(file_okay=False), help="A folder of images, read recursively; the output mirrors its tree.")
@click.option("--video", type=click.Path(dir_okay=False), help="A video file; the output keeps its fps, size and frame count.")
@click.option("--camera", type=IntegerRange(min=0), help="A camera index (0 is the first camera); Ctrl-C stops.")
@click.option("--stream", help="A URL OpenCV's FFmpeg backend reads: rtsp://, http(s)://, file://.")
@click.option("--model", type=click.Path(), help="An .onnx file (also G.fp16.onnx, G.int8.onnx), or a folder holding G.onnx/F.onnx. Default: the most recent export under models/.")
@click.option("--gen", type=click.Choice(GENERATOR_LETTERS), help="Which generator of a model folder: G (X->Y, default) or F (Y->X).")
@click.option("--out", type=click.Path(path_type=Path), help="Output file (one image or video) or folder. Default: results/<source>_<G|F>.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never done otherwise).")
@click.option("--side-by-side", is_flag=True, help="Write input and output next to each other.")
@click.option("--show", is_flag=True, help="Preview results in a window (q or Esc stops) where a display exists.")
@click.option("--size", metavar="N|WxH", help="Resize first (N: shorter side, or WxH) and back; default: each frame at its own size.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|tensorrt[:N]",
              help="Where to run; auto tries TensorRT, CUDA, then CPU.")
@click.option("--strict-device", is_flag=True, help="Fail instead of falling back to the CPU when the GPU cannot be used.")
@click.option("--fp16", is_flag=True, help="Let TensorRT build fp16 engines (automatic for fp16 models).")
@click.option("--batch", type=IntegerRange(min=1), default=1, show_default=True, help="Frames per model call when sizes agree (not for cameras and streams).")
@click.option("--tile", type=IntegerRange(min=16), metavar="N", help="Translate frames larger than N pixels (either side) in overlapping tiles of at most N x N; see docs/tiling.md.")
@click.option("--tile-overlap", type=IntegerRange(min=0), metavar="M", help=f"Pixels neighbouring tiles share, blended with feathered weights. Default: {DEFAULT_OVERLAP}, at most a quarter of the tile.")
@click.option("--max-memory", metavar="SIZE", help="Memory budget (e.g. 4G, 1500M): frames whose inference would exceed it are tiled automatically. Default: half the memory available.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="TensorRT engine cache. Default: ~/.cache/cgan/tensorrt.")
@click.option("--temporal/--no-temporal", default=None,
              help="Videos, cameras, streams: blend each frame with the previous output warped along the input's motion (no flicker; docs/temporal.md). Default: on for them.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def main(**options) -> None:
    """Translate images, folders, videos, cameras and streams with an exported ONNX generator.

    \b
    cgan-infer --video in.mp4                      # latest export under models/, G
    cgan-infer --folder photos/ --model models/run --gen F --batch 8
    cgan-infer --camera 0 --show
    """
    try:
        stopping.switch("raise")  # a stop now ends the command before anything is written
        report = _translate(**options)
    except KeyboardInterrupt:  # before the first frame (from then on a stop ends the loop cleanly)
        _say("stopped; no half-written file left behind")
        sys.exit(EXIT_INTERRUPTED)
    if report.failed:
        _say(f"{len(report.failed)} failed: " + ", ".join(name for name, _ in report.failed[:10])
             + (" ..." if len(report.failed) > 10 else ""))
    click.echo(report.summary())
    if report.partial:
        sys.exit(EXIT_INTERRUPTED)
    if report.failed:
        sys.exit(EXIT_FAILED)


def _translate(image, folder, video, camera, stream, model, gen, out, overwrite, side_by_side, show, size, device,
               strict_device, fp16, batch, tile, tile_overlap, max_memory, cache_dir, temporal, no_progress):
    """The command's work, up to the report."""
    kind, value = _chosen_source(image=image, folder=folder, video=video, camera=camera, stream=stream)
    preview = None
    if show:
        problem = display_problem()
        if problem:
            _say(f"--show: {problem}; continuing without a preview window")
        else:
            preview = Preview()
    try:
        with open_source(kind, value) as source:
            translator = Translator(model, device, gen=gen, size=size, fp16=fp16, strict_device=strict_device,
                                    cache_dir=cache_dir, tile=tile, tile_overlap=tile_overlap, max_memory=max_memory,
                                    log=_note)
            stopping.switch("poll")  # from here on a stop ends the loop cleanly, keeping what is done
            for note in translator.notes:
                _say(note)
            _say(translator.describe())
            target = output_path(source, translator.spec.tag, out)
            use_temporal = temporal if temporal is not None else source.is_video and TEMPORAL_BY_DEFAULT
            with open_sink(source, target, overwrite, log=_note) as sink:
                report = run_pipeline(translator, source, sink, batch=batch, compare=side_by_side,
                                      preview=preview, progress=not no_progress,
                                      temporal=TemporalSettings() if use_temporal else None, log=_note)
    except InferError as e:
        raise click.ClickException(as_flags(str(e), FLAGS)) from None
    except OSError as e:  # a folder we cannot create or a disk that is full
        raise click.ClickException(os_reason(e)) from None
    return report
