"""Temporal consistency of translated video: frame-by-frame against `--temporal`, on real-photo clips.

    python -m benchmarks.temporal [--quick] [--recipe cgan|official | --model G.onnx] [--out bench_out/temporal.json]
    python -m benchmarks.temporal --show docs/temporal/cgan.json --show docs/temporal/official.json \
        --markdown docs/temporal.md   # the page's figures from saved runs, measuring nothing

For each clip (pan, zoom, moving object, hard cut; 320x192, 60 frames), without and with
camera-like noise, it translates every frame with a generator trained on real photographs
(benchmarks/temporal_model.py builds it once per recipe), then runs the temporal filter of cgan.infer over
the same translations, and reports:
- warping error (Lai et al. 2018; lower is steadier) of the input, frame-by-frame and temporal output;
- flicker left: the part of frame-by-frame's warping error above the noise-free input clip's own
  (flow errors and occlusion edges the measure cannot tell from flicker) that temporal output keeps;
- fidelity: PSNR against the frame-by-frame translation of the noise-free clip (the stable
  translation we want; frame-by-frame on the noise-free clip is that reference itself);
- frames/s of both, model included, one frame after the other (as the TemporalStream API runs).
A 720p video through cgan-infer's pipeline, with and without --temporal, gives the frame-rate ratio.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import cv2
import numpy as np

from cgan.infer import Translator, open_sink, open_source, run_pipeline
from cgan.infer.temporal import MotionTracker, TemporalBlender, TemporalSettings

from .doc_blocks import pages_from_runs
from .report import _cpu_model, write_json
from .temporal_clips import WarpingError, add_noise, clips, pan, psnr
from .temporal_model import MODEL_PATHS, ensure_model
from .temporal_page import figures, summary, table

DEFAULT_OUT = Path("bench_out/temporal.json")
WARP_TARGET = 0.25  # temporal warping error at most this fraction of frame-by-frame's
FLICKER_TARGET = 0.25  # temporal output keeps at most this fraction of the flicker frame-by-frame adds
FLICKER_MIN = 0.25  # frame-by-frame adds flicker when its warping error exceeds the clean input's by this fraction
FIDELITY_TARGET_DB = -1.0  # temporal PSNR at most this far below frame-by-frame's (noisy clips)
SPEED_TARGET = 0.7  # temporal frame rate at least this fraction of frame-by-frame's (720p pipeline)
FULL = {"frames": 60, "size": (320, 192), "hd_frames": 12, "hd_size": (1280, 720), "hd_rounds": 2}
QUICK = {"frames": 8, "size": (96, 64), "hd_frames": 3, "hd_size": (128, 72), "hd_rounds": 1}


def translate_all(translator: Translator, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    start = time.perf_counter()
    outputs = [translator(f) for f in frames]
    return outputs, time.perf_counter() - start


def flicker_left(floor: float, frame: float, temporal: float) -> float | None:
    """The fraction of frame-by-frame's added warping error (above the clean input's `floor`) that
    temporal output keeps; None when frame-by-frame adds less than FLICKER_MIN x floor (nothing to remove)."""
    added = frame - floor
    return None if added < FLICKER_MIN * floor else max(0.0, temporal - floor) / added


def temporal_filter(frames: list[np.ndarray], translations: list[np.ndarray],
                    settings: TemporalSettings) -> tuple[list[np.ndarray], float]:
    """What TemporalStream gives for `frames`, from their frame-by-frame translations; and its own seconds."""
    tracker, blender = MotionTracker(settings), TemporalBlender(settings)
    start = time.perf_counter()
    outputs = [blender(y, tracker(x)) for x, y in zip(frames, translations)]
    return outputs, time.perf_counter() - start


def measure_clips(translator: Translator, frames: int, size: tuple[int, int], settings: TemporalSettings,
                  echo) -> list[dict]:
    rows = []
    for clip in clips(frames, *size):
        warping_error = WarpingError(clip)
        floor = warping_error(clip.frames)  # the clean input's own: what a faithful, steady output keeps
        reference, reference_s = translate_all(translator, clip.frames)
        for noise in ("none", "camera"):
            inputs = clip.frames if noise == "none" else add_noise(clip.frames)
            plain, model_s = (reference, reference_s) if noise == "none" else translate_all(translator, inputs)
            steady, filter_s = temporal_filter(inputs, plain, settings)
            cut_exact = all(np.array_equal(steady[t], plain[t]) for t in clip.cuts)
            warp_frame, warp_temporal = warping_error(plain), warping_error(steady)
            row = {"clip": clip.name, "noise": noise, "frames": len(inputs),
                   "warp_input": warping_error(inputs), "warp_clean_input": floor, "warp_frame": warp_frame,
                   "warp_temporal": warp_temporal, "flicker_left": flicker_left(floor, warp_frame, warp_temporal),
                   "psnr_frame": psnr(plain, reference), "psnr_temporal": psnr(steady, reference),
                   "fps_frame": len(inputs) / model_s, "fps_temporal": len(inputs) / (model_s + filter_s),
                   "cut_frames_exact": cut_exact if clip.cuts else None}
            rows.append(row)
            echo(f"{clip.name}, noise {noise}: warping error {row['warp_frame']:.2e} -> {row['warp_temporal']:.2e}, "
                 f"PSNR {row['psnr_frame']:.2f} -> {row['psnr_temporal']:.2f} dB")
    return rows


def measure_pipeline(translator: Translator, frames: int, size: tuple[int, int], rounds: int,
                     settings: TemporalSettings) -> dict:
    """cgan-infer's pipeline on a w x h pan video, frame by frame and temporal, runs interleaved; median fps."""
    w, h = size
    fps = {"frame": [], "temporal": []}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "pan.mp4"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        try:
            for frame in pan("motorcycle_right", frames, w, h, speed=(3.0, 0.8)):
                writer.write(frame)
        finally:
            writer.release()
        for r in range(rounds):
            for mode in fps:
                with open_source("video", str(video)) as source, \
                        open_sink(source, Path(tmp) / f"{mode}{r}.mp4", overwrite=False) as sink:
                    report = run_pipeline(translator, source, sink, progress=False,
                                          temporal=settings if mode == "temporal" else None)
                fps[mode].append(report.fps)
    frame_fps, temporal_fps = statistics.median(fps["frame"]), statistics.median(fps["temporal"])
    return {"size": f"{w}x{h}", "frames": frames, "rounds": rounds, "fps_frame": frame_fps,
            "fps_temporal": temporal_fps, "ratio": temporal_fps / frame_fps}


def verdicts(rows: list[dict], pipeline: dict) -> dict:
    warp = max(r["warp_temporal"] / r["warp_frame"] for r in rows)
    flicker = max((r["flicker_left"] for r in rows if r["flicker_left"] is not None), default=0.0)
    noisy = [r["psnr_temporal"] - r["psnr_frame"] for r in rows if r["noise"] != "none"]
    cuts = [r["cut_frames_exact"] for r in rows if r["cut_frames_exact"] is not None]
    return {
        "warping_error_ratio_worst": {"value": warp, "goal": f"<= {WARP_TARGET}", "met": warp <= WARP_TARGET},
        "flicker_left_worst": {"value": flicker, "goal": f"<= {FLICKER_TARGET}", "met": flicker <= FLICKER_TARGET},
        "fidelity_db_noisy_worst": {"value": min(noisy), "goal": f">= {FIDELITY_TARGET_DB}",
                                    "met": min(noisy) >= FIDELITY_TARGET_DB},
        "cut_frames_exact": {"value": all(cuts), "goal": "true", "met": all(cuts)},
        "fps_ratio_pipeline": {"value": pipeline["ratio"], "goal": f">= {SPEED_TARGET}",
                               "met": pipeline["ratio"] >= SPEED_TARGET},
    }


def _json_safe(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", "is_quick", is_flag=True, help="Tiny clips and frames: a smoke run in seconds, figures meaningless.")
@click.option("--recipe", type=click.Choice(list(MODEL_PATHS)), default="cgan", show_default=True,
              help="The recipe of the photo generator to translate with (trained first when missing, cached in "
                   "bench_out/); official's flickers more.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An exported generator instead (then --recipe is not used).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True,
              help="JSON results (replaced by each run).")
@click.option("--show", "shown", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Measure nothing: print the tables of this saved JSON (repeat it: one per recipe).")
@click.option("--markdown", "page", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --show: rewrite the figures of this page (docs/temporal.md) from the saved JSON of both "
                   "recipes.")
def main(is_quick: bool, recipe: str, model: Path | None, out: Path, shown: tuple[Path, ...],
         page: Path | None) -> None:
    """Warping error, fidelity and frame rate of frame-by-frame and temporal translation; one table and a JSON."""
    if shown or page:
        show(shown, page)
        return
    config = QUICK if is_quick else FULL
    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    translator = Translator(model or ensure_model(recipe, echo=echo), "cpu")
    settings = TemporalSettings()
    echo(f"{translator.describe()}; {config['frames']} frames of {config['size'][0]}x{config['size'][1]} per clip")
    rows = measure_clips(translator, config["frames"], config["size"], settings, echo)
    pipeline = measure_pipeline(translator, config["hd_frames"], config["hd_size"], config["hd_rounds"], settings)
    targets = verdicts(rows, pipeline)
    write_json(out, {"command": " ".join(["python", "-m", "benchmarks.temporal", *sys.argv[1:]]), "quick": is_quick,
                     "model": str(translator.path), "recipe": None if model else recipe,
                     "settings": {k: _json_safe(v) for k, v in vars(settings).items()},
                     "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]},
                     "clips": [{k: _json_safe(v) for k, v in r.items()} for r in rows],
                     "pipeline": pipeline, "targets": targets})
    click.echo(describe({"clips": rows, "pipeline": pipeline, "targets": targets}))
    echo(f"results: {out}")


def show(shown: tuple[Path, ...], page: Path | None) -> None:
    """Print saved runs' tables and, given a page, rewrite its figures from them; one-line errors."""
    try:
        pages_from_runs(shown, page, MODEL_PATHS, describe, figures)
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def describe(record: dict) -> str:
    return "\n".join([table(record["clips"]), "", *summary(record["pipeline"], record["targets"])])


if __name__ == "__main__":
    main()
