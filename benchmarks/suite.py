"""The suite: its sizes (full and --quick), its sections in order, and the rows each one adds.

Each section is a function (config, shared) -> (rows, data): rows go into the table, data into the
JSON. `shared` holds the work folder and what later sections reuse (the matmul limits).
"""
from __future__ import annotations

import math
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import onnx
import torch

from cgan.export.onnx_export import DEFAULT_EXPORTER, EXPORTERS, export_generator
from cgan.export.verify import worst
from cgan.infer import Translator, translate_video
from cgan.infer.metadata import ModelInfo
from cgan.train import create_generator
from cgan.train.precision import cpu_bf16_flag

from .cost import Cost, generator_cost
from .inference import REFERENCE, EngineResult, build_models, limit_fraction, measure_engines
from .infer_pipeline import folder_fps, make_media, model_only_fps, random_export
from .limits import matmul_limits
from . import plain_export
from .report import Row
from .precision_accuracy import GAP_GOAL_DB, compare, study
from .train_precision import measure_case


@dataclass(frozen=True)
class SuiteConfig:
    threads: int  # torch and ONNX Runtime threads
    repeats: int = 3  # timed calls per figure; the figure is their median
    matmul_max_side: int = 2048  # largest n of the n x n matmul
    generator: str = "resnet_9blocks"  # the generator of the inference sections
    ngf: int = 64
    size: int = 256  # its input side
    calibration_images: int = 16  # INT8 calibration pictures (the export default)
    fidelity_images: int = 4  # held-out pictures each engine's PSNR against fp32 is measured on
    bf16_size: int = 32  # bf16 autocast input side: without native bf16 a 256² forward takes minutes
    pipeline_ngf: int = 16  # width of the resnet_9blocks cgan-infer runs (lighter: overheads show more)
    clips: tuple[tuple[int, int, int], ...] = ((256, 256, 24), (1280, 720, 4))  # width, height, frames
    repeats_pipeline: int = 3  # runs of each whole clip or folder
    # GENERATOR@SIZE -> benchmarks.train_precision variants; "auto" resolves to fp32 or bf16 by the CPU
    training: tuple[tuple[str, tuple[str, ...]], ...] = (("resnet_9blocks@256", ("fp32",)),
                                                         ("resnet_6blocks@128", ("fp32", "auto", "fp32+cl")))
    training_ngf: int = 64  # ngf = ndf
    bf16_training_model: str = "resnet_6blocks@32"  # where bf16 is timed on a CPU without native bf16
    repeats_training: int = 2  # timed steps per case (wall and CPU time of the same steps), after a warm-up step
    training_case_timeout_s: int = 300  # a case running longer is reported as not measured
    known_answer_steps: int = 200  # steps of each known-answer run
    known_answer_seeds: int = 2  # runs per precision (benchmarks.precision_accuracy: more seeds, tighter means)
    known_answer_jobs: int = 2  # runs at a time, one torch thread each
    # height, width, interleaved rounds of benchmarks.plain_export (docs/export.md), on generator and ngf above
    plain_export_sizes: tuple[tuple[int, int, int], ...] = ((256, 256, 15), (720, 1280, 5))


def quick(config: SuiteConfig) -> SuiteConfig:
    """The smallest configuration: every section runs, in seconds, with figures worth nothing."""
    return replace(config, repeats=1, matmul_max_side=256, generator="resnet_6blocks", ngf=8, size=32,
                   calibration_images=2, fidelity_images=2, bf16_size=16,
                   pipeline_ngf=4, clips=((32, 32, 2), (64, 36, 1)), repeats_pipeline=1,
                   training=(("resnet_6blocks@32", ("fp32", "auto")),), training_ngf=4,
                   bf16_training_model="resnet_6blocks@32", repeats_training=1, known_answer_steps=2,
                   known_answer_seeds=1, known_answer_jobs=1, plain_export_sizes=((32, 32, 2), (36, 64, 1)))


Section = Callable[[SuiteConfig, dict], tuple[list[Row], dict]]


def limits_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    limits = matmul_limits(config.repeats, config.matmul_max_side)
    shared["limits"] = limits
    fp32, bf16 = limits["fp32"], limits["bf16"]
    rows = [Row("machine limit", "matmul fp32", fp32.gflops, "GFLOP/s", f"{fp32.side}² x {fp32.side}²"),
            Row("machine limit", "matmul bf16", bf16.gflops, "GFLOP/s",
                f"{bf16.side}² x {bf16.side}²; {bf16.gflops / fp32.gflops:.2g}x fp32")]
    return rows, {name: vars(limit) for name, limit in limits.items()}


INT8_GOAL_SPEEDUP, INT8_GOAL_PSNR = 2.0, 30.0
ORT_GOAL_FRACTION = 85.0  # % of the fp32 matmul limit
FULL_SIZE_ENGINES = ("PyTorch eager fp32", "ONNX Runtime fp32", "ONNX Runtime INT8")
BF16_ENGINES = ("PyTorch eager fp32", "PyTorch bf16 autocast")  # at bf16_size, beside fp32 at that size


def _engine_rows(section: str, results: list[EngineResult], cost: Cost, limits: dict) -> tuple[list[Row], dict]:
    rows, data = [], {}
    for r in results:
        fraction = limit_fraction(cost, r.images_per_s, limits[r.limit].gflops)
        fidelity = f", PSNR {r.psnr_db:.1f} dB vs {REFERENCE}" if math.isfinite(r.psnr_db) else ""
        rows.append(Row(section, f"{r.engine}, {r.size}², batch 1", r.images_per_s, "images/s",
                        f"{100 * fraction:.0f}% of {r.limit} matmul limit{fidelity}"))
        data[f"{r.engine} {r.size}"] = {
            "engine": r.engine, "size": r.size, "images_per_s": r.images_per_s, "limit": r.limit,
            "limit_fraction": fraction, "psnr_db_vs_ort_fp32": r.psnr_db if math.isfinite(r.psnr_db) else None}
    return rows, data


def inference_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    name = f"inference {config.generator}"
    models = build_models(config.generator, config.ngf, config.size, Path(shared["workdir"]) / "models",
                          config.calibration_images)
    cost, bf16_cost = generator_cost(models.net, config.size), generator_cost(models.net, config.bf16_size)
    full = measure_engines(models, FULL_SIZE_ENGINES, config.size, config.threads, config.repeats,
                           config.fidelity_images)
    small = measure_engines(models, BF16_ENGINES, config.bf16_size, config.threads, config.repeats,
                            config.fidelity_images)
    rows = [Row(name, "parameters", cost.params / 1e6, "M", f"ngf {config.ngf}"),
            Row(name, f"MACs per {config.size}² image", cost.macs / 1e9, "G",
                "Conv2d + ConvTranspose2d (transposed convs counted on their real input)")]
    full_rows, data = _engine_rows(name, full, cost, shared["limits"])
    small_rows, small_data = _engine_rows(name, small, bf16_cost, shared["limits"])
    by_engine = {r.engine: r for r in full}
    eager, ort, int8 = (by_engine[e] for e in FULL_SIZE_ENGINES)
    speedup = int8.images_per_s / ort.images_per_s
    bf16_ratio = small[1].images_per_s / small[0].images_per_s
    rows += full_rows + small_rows + [
        Row(name, "ONNX Runtime fp32 / fp32 matmul limit",
            100 * limit_fraction(cost, ort.images_per_s, shared["limits"]["fp32"].gflops), "%",
            f"{ort.images_per_s / eager.images_per_s:.2f}x PyTorch eager fp32", goal=ORT_GOAL_FRACTION),
        Row(name, "INT8 / ONNX Runtime fp32 images/s", speedup, "x",
            f"PSNR {int8.psnr_db:.1f} dB vs fp32 (needs ≥ {INT8_GOAL_PSNR:g} dB)", goal=INT8_GOAL_SPEEDUP,
            met=speedup >= INT8_GOAL_SPEEDUP and int8.psnr_db >= INT8_GOAL_PSNR),
        Row(name, f"bf16 autocast / eager fp32 images/s at {config.bf16_size}²", bf16_ratio, "x",
            f"CPU bf16 flag: {cpu_bf16_flag() or 'none (bf16 is emulated)'}")]
    data = {"cost": {"size": config.size, "params": cost.params, "macs": cost.macs, "bf16_size": config.bf16_size,
                     "bf16_size_macs": bf16_cost.macs},
            "engines": {**data, **small_data}, "int8_speedup": speedup, "bf16_vs_fp32_eager": bf16_ratio}
    return rows, data


def export_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    """Each exporter behind `cgan-export --exporter` on the inference generator: the seconds of one whole
    checked export (dry run, export, checker, parity at three shapes), and what its file holds."""
    name = f"export {config.generator}"
    torch.manual_seed(0)
    net = create_generator(config.generator, ngf=config.ngf).eval()
    info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator=config.generator, ngf=config.ngf,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                     train_size=config.size)
    rows, data = [], {}
    for exporter in EXPORTERS:
        report = export_generator(net, Path(shared["workdir"]) / f"{exporter}.onnx", info, exporter=exporter)
        data[exporter] = {"seconds": report.seconds, "opset": report.opset, "bytes": report.size_bytes,
                          "max_abs": worst(report.parity).max_abs,
                          "nodes": len(onnx.load(str(report.path), load_external_data=False).graph.node)}
        rows.append(Row(name, f"{exporter}: one checked export", report.seconds, "s",
                        f"opset {report.opset}, {data[exporter]['nodes']} nodes, parity max abs "
                        f"{data[exporter]['max_abs']:.1e} at {config.size}² and two non-square shapes"))
    default, other = DEFAULT_EXPORTER, next(e for e in EXPORTERS if e != DEFAULT_EXPORTER)
    rows.append(Row(name, f"{other} / {default} export seconds", data[other]["seconds"] / data[default]["seconds"],
                    "x", f"the default is {default}"))
    return rows, data


def plain_export_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    """benchmarks.plain_export (the figures of docs/export.md): the default export's time in ONNX Runtime
    against a plain `torch.onnx.export` of the same weights, and what each file carries."""
    result = plain_export.run(dict(generator=config.generator, ngf=config.ngf,
                                   sizes=[(h, w) for h, w, _ in config.plain_export_sizes],
                                   repeats=[rounds for _, _, rounds in config.plain_export_sizes]), config.threads)
    default = result["files"]["default"]
    carries = f"{default['inputs']} input, {default['outputs']} output, {default['warnings']} load warnings"
    name = f"plain export {config.generator}"
    # A Row's goal is a floor: the target "at most TARGET_RATIO x the plain export's time" as a speed ratio.
    rows = [Row(name, f"default / plain export speed at {s['size'][0]}x{s['size'][1]}", 1 / s["ratio"]["default"],
                "x", f"CPU time {s['cpu_ratio']['default']:.3f}x the plain export's; the default file: {carries} "
                f"(needs at most {plain_export.TARGET_RATIO:g}x the plain export's time, 1 input, 1 output, no "
                "warning)", goal=round(1 / plain_export.TARGET_RATIO, 3), met=result["met"]) for s in result["sizes"]]
    return rows, result


FOLDER_GOAL, VIDEO_GOAL = 0.95, 0.9  # end-to-end / model-only


def _median(measure: Callable[[int], float], repeats: int) -> float:
    """Median of `measure(i)` over i = 0 .. repeats - 1 (i names each run's output)."""
    return statistics.median(measure(i) for i in range(repeats))


def raw_session_fps(translator: Translator, image: np.ndarray, frames: int) -> float:
    """Images/s of ONNX Runtime's own session.run in a loop, on one prepared image, batch 1."""
    run, names = translator.session.session.run, [translator.spec.output_name]
    feed = {translator.spec.input_name: translator.prepare(image).tensor[None]}
    run(names, feed)
    start = time.perf_counter()
    for _ in range(frames):
        run(names, feed)
    return frames / (time.perf_counter() - start)


def pipeline_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    """cgan-infer's loop (run_pipeline, what the CLI runs) against the model alone, same model, same run.

    The first clip's size is also the folder's; the video target applies to it."""
    work = Path(shared["workdir"]) / "pipeline"
    translator = Translator(random_export(work, config.pipeline_ngf), "cpu")
    name = f"cgan-infer resnet_9blocks ngf {config.pipeline_ngf}"
    rows, data = [], {"model": f"resnet_9blocks ngf {config.pipeline_ngf}", "provider": translator.provider}
    for n, (w, h, frames) in enumerate(config.clips):
        label = f"{w}x{h}"
        (work / label).mkdir(parents=True)
        video, images = make_media(work / label, frames, w, h)
        first = cv2.imread(str(sorted(images.iterdir())[0]))
        model_only = _median(lambda i: model_only_fps(translator, first, frames, 1), config.repeats_pipeline)
        e2e = _median(lambda i: translate_video(translator, video, work / label / f"out{i}.mp4").fps,
                      config.repeats_pipeline)
        rows += [Row(name, f"video {label}, model only", model_only, "frames/s", f"{frames} frames, batch 1"),
                 Row(name, f"video {label}: end-to-end / model only", e2e / model_only, "x",
                     f"end-to-end {e2e:.3g} frames/s (decode, model, encode)", goal=VIDEO_GOAL if n == 0 else None)]
        data[f"video_{label}"] = {"frames": frames, "model_only_fps": model_only, "e2e_fps": e2e}
        if n == 0:
            raw = _median(lambda i: raw_session_fps(translator, first, frames), config.repeats_pipeline)
            folder = _median(lambda i: folder_fps(translator, images, work / label / f"folder{i}", 1),
                             config.repeats_pipeline)
            rows += [Row(name, f"folder of {label} PNGs, raw session.run loop", raw, "images/s",
                         f"{frames} images, batch 1"),
                     Row(name, "folder: cgan-infer / raw session.run", folder / raw, "x",
                         f"cgan-infer {folder:.3g} images/s (read, model, write PNG)", goal=FOLDER_GOAL)]
            data[f"folder_{label}"] = {"images": frames, "raw_session_run_fps": raw, "cgan_infer_fps": folder}
    return rows, data


AUTO_GOAL_SPEEDUP = 2.0  # --precision auto vs fp32 steps/s
RSS_TOLERANCE = 1.02  # "peak RSS no higher": two processes doing the same work differ by a few MB


def training_cases(config: SuiteConfig) -> dict[str, tuple[str, ...]]:
    """model -> variants to time. bf16 runs at the real sizes only on a CPU with native bf16; without
    it a resnet_9blocks step takes hours, so it is timed on a small case beside fp32 instead."""
    native = cpu_bf16_flag() is not None
    cases = {model: (*variants, *(("bf16",) if native else ())) for model, variants in config.training}
    if not native:
        small = cases.get(config.bf16_training_model, ("fp32",))
        cases[config.bf16_training_model] = (*small, "bf16")
    return cases


def training_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    """Steps/s and peak RSS per model and variant, each case in its own process (benchmarks.train_precision)."""
    rows, data = [], {}
    for model, variants in training_cases(config).items():
        name = f"training {model.replace('@', ' ')}² ngf {config.training_ngf}"
        results = {}
        for variant in variants:
            try:
                results[variant] = measure_case(model, variant, config.repeats_training, config.training_ngf,
                                                timeout=config.training_case_timeout_s, threads=config.threads)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                reason = f"over {config.training_case_timeout_s} s" if isinstance(e, subprocess.TimeoutExpired) else e
                rows.append(Row(name, f"{variant}: not measured", math.nan, "", str(reason)))
        fp32 = results.get("fp32")
        for variant, r in results.items():
            vs = (f"; {fp32['s_per_step'] / r['s_per_step']:.2f}x fp32 (CPU time "
                  f"{fp32['cpu_s_per_step'] / r['cpu_s_per_step']:.2f}x)") if fp32 and variant != "fp32" else ""
            rows.append(Row(name, f"{variant}, batch 1", 1 / r["s_per_step"], "steps/s",
                            f"peak RSS {r['peak_rss_mib']:.0f} MiB{vs}"))
        auto = results.get("auto")
        if fp32 and auto:
            speedup = fp32["s_per_step"] / auto["s_per_step"]
            rss_ok = auto["peak_rss_mib"] <= fp32["peak_rss_mib"] * RSS_TOLERANCE
            rows.append(Row(name, "--precision auto / fp32 steps/s", speedup, "x",
                            f"auto runs {auto['precision']}; peak RSS "
                            f"{auto['peak_rss_mib']:.0f} vs {fp32['peak_rss_mib']:.0f} MiB (needs ≤ fp32 + 2%)",
                            goal=AUTO_GOAL_SPEEDUP, met=speedup >= AUTO_GOAL_SPEEDUP and rss_ok))
        data[model] = results
    return rows, data


def known_answer_section(config: SuiteConfig, shared: dict) -> tuple[list[Row], dict]:
    """The built-in known-answer run (cgan-train's defaults) for a fixed number of steps, fp32 and bf16,
    with seeds 0 .. known_answer_seeds-1: that bf16 trains, and the means (one run alone is too chaotic)."""
    runs = study(config.known_answer_steps, config.known_answer_seeds, config.known_answer_jobs)
    name = f"known answer, {config.known_answer_steps} steps, {config.known_answer_seeds} seed(s)"
    rows = []
    for precision, reports in runs.items():
        mean = lambda key: statistics.fmean(r[key] for r in reports)  # noqa: E731
        rows.append(Row(name, f"{precision}: mean PSNR of G (X->Y)", mean("psnr_G"), "dB",
                        f"F {mean('psnr_F'):.2f} dB; do-nothing G {mean('baseline_G'):.2f} / F "
                        f"{mean('baseline_F'):.2f} dB; {mean('steps') / mean('s'):.3g} steps/s"))
    by_metric = {c.metric: c for c in compare(runs)}
    g, f = by_metric["psnr_G"], by_metric["psnr_F"]
    # No target here: a few seeds cannot test a 0.5 dB aim (python -m benchmarks.precision_accuracy can).
    rows.append(Row(name, "bf16 - fp32 mean PSNR of G", g.gap.mean, "dB",
                    f"+-{2 * g.gap.se:.2f} (2 SE); F: {f.gap.mean:+.2f} +-{2 * f.gap.se:.2f} dB; the "
                    f"{GAP_GOAL_DB:g} dB aim needs many seeds: benchmarks.precision_accuracy"))
    return rows, runs


SECTIONS: dict[str, Section] = {
    "limits": limits_section,
    "inference": inference_section,
    "export": export_section,
    "plain_export": plain_export_section,
    "pipeline": pipeline_section,
    "training": training_section,
    "known_answer": known_answer_section,
}


NEEDS = {"inference": ("limits",)}  # sections whose figures are relative to another section's


def run_suite(config: SuiteConfig, sections: tuple[str, ...] = tuple(SECTIONS),
              echo: Callable[[str], None] = print,
              after_section: Callable[[list[Row], dict, dict], None] | None = None) -> tuple[list[Row], dict, dict]:
    """Run `sections` (and those they need) in the suite's order.

    A section that fails becomes one row naming the error, and the others still run; its data is
    {"error": ...}. `after_section(rows, data, seconds)` sees the results so far after each section
    (to save them as they come). Returns all rows, each section's data, and each section's wall seconds."""
    wanted = set(sections) | {need for s in sections for need in NEEDS.get(s, ())}
    rows, data, seconds = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="cgan-bench-") as workdir:
        shared = {"workdir": workdir}
        for name in (s for s in SECTIONS if s in wanted):
            echo(f"benchmarks: {name} ...")
            start = time.perf_counter()
            try:
                section_rows, data[name] = SECTIONS[name](config, shared)
            except Exception as e:  # noqa: BLE001 - reported in the table; the exit status says so too
                error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                section_rows, data[name] = [Row(name, "FAILED", math.nan, "", error)], {"error": error}
            seconds[name] = time.perf_counter() - start
            echo(f"benchmarks: {name} done in {seconds[name]:.0f} s")
            rows += section_rows
            if after_section is not None:
                after_section(rows, data, seconds)
    return rows, data, seconds
