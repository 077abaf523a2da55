"""A saved run as a markdown page (docs/benchmarks.md): every figure on it comes from the run's JSON,
so the page cannot disagree with the measurement. The prose here says what is measured, never how much.
"""
from __future__ import annotations

import json
from pathlib import Path

from .report import Row, figure, read_rows, table

# What each section measures, by its key in suite.SECTIONS; sizes and counts come from the run's config.
SECTION_NOTES = {
    "limits": "an n×n by n×n `torch.mm` in fp32 and in bf16 (2n³ flops per multiply), n growing up to "
              "`matmul_max_side` until one multiply takes 50 ms: the machine's limit the inference figures are a "
              "share of.",
    "inference": "`generator` (width `ngf`, standard init, seed 0) at `size`², batch 1, in PyTorch eager fp32, "
                 "ONNX Runtime fp32 and ONNX Runtime INT8 (files written by "
                 "`cgan.export.onnx_export.export_generator`, INT8 calibrated on `calibration_images` built-in "
                 "training pictures as `cgan-export --precision int8` does), and PyTorch bf16 autocast at "
                 "`bf16_size`² beside eager fp32 there. Each as a share of the matmul limit (2 · MACs · images/s "
                 "÷ matmul FLOP/s) and with its PSNR against ONNX Runtime fp32 on `fidelity_images` held-out "
                 "built-in pictures. MACs are counted with forward hooks on every Conv2d/ConvTranspose2d "
                 "(`benchmarks/cost.py`), transposed convs on their real input.",
    "export": "each exporter behind `cgan-export --exporter` ([export.md](export.md)) on the inference section's "
              "generator: the seconds of one whole checked export (dry run, export, ONNX checker and shape "
              "inference, parity against PyTorch at three shapes), its opset and node count.",
    "plain_export": "`python -m benchmarks.plain_export` ([export.md](export.md)) on `generator` at "
                    "`plain_export_sizes` (height, width, interleaved rounds): the default export's speed in ONNX "
                    "Runtime fp32 against a plain `torch.onnx.export` of the same weights, with the inputs, outputs "
                    "and load warnings of the default file.",
    "pipeline": "the loop `cgan-infer` runs (`run_pipeline`: decode, prepare, model, finish, encode, in threads) "
                "against the model alone, same model, same run, medians of `repeats_pipeline` runs: a folder of PNGs "
                "against ONNX Runtime's own `session.run` in a loop, and each of `clips` (width, height, frames) end "
                "to end against the model on prepared tensors. The model is `resnet_9blocks` of width `pipeline_ngf`: "
                "lighter than the real one, so the pipeline's overheads show more.",
    "training": "whole CycleGAN steps (G and F, then D_X and D_Y; batch 1, ngf = ndf = `training_ngf`, random "
                "images), median of `repeats_training` after a warm-up step, each case in its own process so that "
                "its peak memory is its own (`benchmarks/train_precision.py`); `training` lists the cases. bf16 runs "
                "at `bf16_training_model` on a CPU without native bf16, at the full sizes on one with it. "
                "`--compile` is not in the suite "
                "(`python -m benchmarks.train_precision --variants fp32,fp32+compile`).",
    "known_answer": "the built-in run of `cgan-train` for `known_answer_steps` steps in fp32 and in bf16 with "
                    "`known_answer_seeds` seeds: mean PSNR of G and F against the known answer beside the do-nothing "
                    "baseline, and the mean per-seed gap. A few seeds show that bf16 trains; a 0.5 dB comparison "
                    "takes many (`python -m benchmarks.precision_accuracy --seeds N`).",
}


def _config_text(config: dict) -> str:
    return ", ".join(f"`{key}` {json.dumps(value)}" for key, value in config.items())


def _targets(rows: list[Row]) -> str:
    lines = ["| target | measured | |", "| --- | --- | --- |"]
    for row in (r for r in rows if r.is_target):
        verdict = row.verdict().split(": ")
        lines.append(f"| {row.section}: {row.what} {verdict[0]} | {figure(row.value)} {row.unit}; {row.detail} "
                     f"| {verdict[1]} |")
    return "\n".join(lines)


def page(source: Path) -> str:
    """The markdown page of the saved run at `source`. Raises ValueError for a file that is not one."""
    rows = read_rows(source)
    data = json.loads(source.read_text())
    m, config = data.get("machine", {}), data.get("config", {})
    out = ["# Benchmarks", "",
           f"Generated from one run's JSON by `python -m benchmarks --show {source} --markdown FILE`; "
           "edit the generator (`benchmarks/markdown.py`), not this page. `make bench` measures anew.", ""]
    if data.get("quick"):
        out += ["**This is a `--quick` smoke run at toy sizes: its figures say nothing about speed.** "
                "`make bench` gives the real ones.", ""]
    if not data.get("complete", False):
        out += ["**The run did not finish**: only the sections below were measured.", ""]
    out += ["## How it was measured", "",
            f"`{data.get('command', 'python -m benchmarks')}` on {m.get('cpu', 'an unrecorded CPU')} "
            f"({m.get('cpus', '?')} CPUs, PyTorch CPU capability {m.get('torch_cpu_capability', '?')}), "
            f"torch {m.get('torch', '?')}, ONNX Runtime {m.get('onnxruntime', '?')} (CPU provider), "
            f"Python {m.get('python', '?')}, {config.get('threads', '?')} thread(s); the suite took "
            f"{data.get('seconds', 0) / 60:.1f} min.", "",
            "Every figure is the median of several runs, and every comparison a ratio of two figures measured "
            "in the same run (engines timed in interleaved rounds, so a change of load hits them alike). "
            "Rows with a target say `met` or `NOT met`. Sections:", ""]
    out += [f"- **{name}**: {SECTION_NOTES.get(name, '')}" for name in data.get("sections", {})]
    out += ["", f"Configuration: {_config_text(config)}.", "", "## Results", "", table(rows), ""]
    if any(r.is_target for r in rows):
        out += ["## Targets", "", _targets(rows), ""]
    return "\n".join(out)
