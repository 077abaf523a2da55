"""The benchmark suite: its cost counting, its table, and its smallest run end to end (nothing is timed here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch.nn as nn

from benchmarks.cost import generator_cost
from benchmarks.precision_accuracy import compare, summary
from benchmarks.markdown import page
from benchmarks.report import Row, table
from cgan.train import create_generator
from helpers import assert_one_line_error, cuda_works

ROOT = Path(__file__).resolve().parents[1]


def test_cost_counts_conv_and_transposed_conv_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                        nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1, output_padding=1))
    cost = generator_cost(net, 10, 12)
    conv1 = 10 * 12 * 8 * 3 * 9  # every output sums 3 channels x 3 x 3
    conv2 = 5 * 6 * 16 * 8 * 9
    transposed = 5 * 6 * 16 * 4 * 9  # every input spreads over 4 channels x 3 x 3
    assert cost.macs == conv1 + conv2 + transposed
    assert cost.params == sum(p.numel() for p in net.parameters())


def test_cost_of_resnet_9blocks_at_256_and_hooks_removed():
    net = create_generator("resnet_9blocks", ngf=64)
    cost = generator_cost(net, 256)
    # c7s1-64, d128, d256, 18 block convs, u128, u64, c7s1-3 (see docs/design.md, "Measuring")
    per_layer = [256**2 * 64 * 3 * 49, 128**2 * 128 * 64 * 9, 64**2 * 256 * 128 * 9,
                 *[64**2 * 256 * 256 * 9] * 18, 64**2 * 256 * 128 * 9, 128**2 * 128 * 64 * 9, 256**2 * 3 * 64 * 49]
    assert cost.macs == sum(per_layer)
    assert cost.params == 11_378_179
    assert all(not m._forward_hooks for m in net.modules())


def test_targets_are_marked_met_or_not():
    rows = [Row("s", "plain", 3.0, "x"), Row("s", "ratio", 0.96, "x", goal=0.95),
            Row("t", "low", 0.5, "x", goal=0.9), Row("t", "decided", 3.0, "x", goal=2.0, met=False)]
    lines = table(rows).splitlines()
    assert lines[2].endswith("|  |") and "met" not in lines[2]
    assert lines[3].endswith("≥ 0.95x: met |")
    assert "NOT met" in lines[4] and lines[4].startswith("| t |")
    assert "NOT met" in lines[5] and lines[5].startswith("|  |")
    assert [r.to_json()["met"] for r in rows] == [None, True, False, False]


def test_precision_gap_is_the_mean_of_per_seed_differences():
    runs = {"fp32": [{"seed": 0, "psnr_G": 17.0, "psnr_F": 16.0}, {"seed": 1, "psnr_G": 15.0, "psnr_F": 14.0}],
            "bf16": [{"seed": 1, "psnr_G": 14.8, "psnr_F": 13.0}, {"seed": 0, "psnr_G": 16.6, "psnr_F": 15.9}]}
    g, f = compare(runs)  # runs are paired by seed, whatever their order
    assert (g.metric, g.fp32.mean, g.bf16.mean) == ("psnr_G", 16.0, pytest.approx(15.7))
    assert g.gap.mean == pytest.approx(-0.3) and g.gap.sd == pytest.approx(0.1 * 2**0.5)
    assert g.gap.se == pytest.approx(0.1) and g.within_goal
    assert f.gap.mean == pytest.approx(-0.55) and not f.within_goal  # seed 1 lost a whole dB


def test_precision_summary_counts_poor_mode_runs_and_compares_the_good_ones():
    def run(precision, seed, g):
        return {"precision": precision, "seed": seed, "steps": 200, "psnr_G": g, "psnr_F": g - 1, "baseline_G": 10.0}
    runs = {"fp32": [run("fp32", 0, 17.0), run("fp32", 1, 17.2), run("fp32", 2, 13.0)],
            "bf16": [run("bf16", 0, 13.5), run("bf16", 1, 17.4), run("bf16", 2, 17.1)]}
    lines = summary(runs, 200)
    assert "  fp32: 1 of 3 runs in the poor mode (G gains under 5 dB): seeds 2" in lines
    assert "  bf16: 1 of 3 runs in the poor mode (G gains under 5 dB): seeds 0" in lines
    assert not any("where both runs reached the good mode" in line for line in lines)  # only seed 1: no spread
    runs["fp32"].append(run("fp32", 3, 16.0))
    runs["bf16"].append(run("bf16", 3, 16.6))
    lines = summary(runs, 200)
    good = lines.index("  on the 2 seeds where both runs reached the good mode:")
    assert "bf16 - fp32 +0.40 dB" in lines[good + 1]  # seeds 1 and 3: +0.2 and +0.6


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The whole suite at toy sizes (minutes on 2 cores): only the tests marked slow use it."""
    out = tmp_path_factory.mktemp("bench") / "benchmarks.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--threads", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_quick_suite_writes_every_section_and_target(quick_run):
    stdout, data = quick_run
    assert data["quick"] is True and data["complete"] is True
    assert data["command"].startswith("python -m benchmarks")
    assert {"cpu", "cpus", "torch", "onnxruntime", "load_average_1min"} <= set(data["machine"])
    from benchmarks.suite import SECTIONS
    assert set(data["sections"]) == set(SECTIONS)
    rows = data["rows"]
    assert all(set(r) == {"section", "what", "value", "unit", "detail", "goal", "met"} for r in rows)
    targets = [r for r in rows if r["goal"] is not None]
    assert all(isinstance(r["met"], bool) for r in targets)
    names = " ".join(r["what"] for r in targets)
    for wanted in ("ONNX Runtime fp32 / fp32 matmul limit", "INT8 / ONNX Runtime fp32", "folder: cgan-infer",
                   "end-to-end / model only"):
        assert wanted in names
    engines = data["sections"]["inference"]["engines"]
    assert {e["engine"] for e in engines.values()} == {"PyTorch eager fp32", "ONNX Runtime fp32",
                                                       "ONNX Runtime INT8", "PyTorch bf16 autocast"}
    assert all(e["images_per_s"] > 0 for e in engines.values())


@pytest.mark.slow
def test_quick_suite_prints_one_table_with_every_row(quick_run):
    stdout, data = quick_run
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(data["rows"])
    assert all(row["what"] in line for row, line in zip(data["rows"], lines[2:]))


def test_gpu_script_runs_its_cpu_engines_and_lists_engines_that_cannot_start(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--engines", "ort-cpu-fp32,torch-cpu-fp32,ort-cuda-fp32",
                           "--sizes", "32x32", "--batches", "1,2", "--ngf", "4", "--repeats", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(out.read_text())
    measured = {(r["engine"], r["batch"]) for r in data["rows"]}
    assert {("ort-cpu-fp32", 1), ("ort-cpu-fp32", 2), ("torch-cpu-fp32", 1), ("torch-cpu-fp32", 2)} <= measured
    if cuda_works():
        assert {("ort-cuda-fp32", 1), ("ort-cuda-fp32", 2)} <= measured
    else:
        assert any(n.startswith("ort-cuda-fp32: not run:") for n in data["notes"])
    assert all(r["images_per_s"] > 0 and (r["width"], r["height"]) == (32, 32) for r in data["rows"])
    assert done.stdout.count("| ort-cpu-fp32 | 32x32 |") == 2


def test_gpu_script_refuses_an_unknown_engine_in_one_line():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--engines", "ort-rocm"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert_one_line_error(done, "'ort-rocm': choose from")


def test_a_failing_section_becomes_a_row_and_the_others_still_run(monkeypatch):
    from benchmarks import suite

    def broken(config, shared):
        raise RuntimeError("no camera\nsecond line")

    def fine(config, shared):
        return [Row("fine", "figure", 1.0, "x")], {"value": 1.0}

    monkeypatch.setattr(suite, "SECTIONS", {"broken": broken, "fine": fine})
    rows, data, seconds = suite.run_suite(suite.SuiteConfig(threads=1), ("broken", "fine"), echo=lambda line: None)
    assert [(r.section, r.what, r.detail) for r in rows] == [("broken", "FAILED", "RuntimeError: no camera"),
                                                          ("fine", "figure", "")]
    assert data == {"broken": {"error": "RuntimeError: no camera"}, "fine": {"value": 1.0}}
    assert set(seconds) == {"broken", "fine"}


def test_the_suite_measures_the_plain_export_of_docs_export_md():
    """`make bench` runs benchmarks.plain_export as a section: one target row per size, its JSON as the data."""
    from benchmarks import plain_export, suite

    config = suite.quick(suite.SuiteConfig(threads=1))
    rows, data, _ = suite.run_suite(config, ("plain_export",), echo=lambda line: None)
    result = data["plain_export"]
    assert [r.what for r in rows] == [f"default / plain export speed at {w}x{h}"
                                      for h, w, _ in config.plain_export_sizes]
    assert [s["repeats"] for s in result["sizes"]] == [rounds for _, _, rounds in config.plain_export_sizes]
    assert (result["generator"], result["ngf"]) == (config.generator, config.ngf)
    assert [r.value for r in rows] == [1 / s["ratio"]["default"] for s in result["sizes"]]
    assert all(r.goal == round(1 / plain_export.TARGET_RATIO, 3) and r.met is result["met"] for r in rows)
    assert [result["files"]["default"][k] for k in ("inputs", "outputs", "warnings")] == [1, 1, 0]


SAVED_ROWS = [Row("machine limit", "matmul fp32", 69.2, "GFLOP/s", "2048² x 2048²"),
              Row("inference resnet_9blocks", "ONNX Runtime fp32, 256², batch 1", 0.571, "images/s"),
              Row("inference resnet_9blocks", "INT8 / ONNX Runtime fp32 images/s", 1.6, "x", "PSNR 31.8 dB", goal=2.0),
              Row("training", "fp32, batch 1", float("nan"), "steps/s", "over 300 s: not measured")]


def saved_run(path, **changes):
    """A benchmarks JSON as `python -m benchmarks` writes it."""
    data = {"command": "python -m benchmarks --threads 1", "complete": True, "quick": False,
            "config": {"threads": 1, "size": 256},
            "machine": {"cpu": "Test CPU 9000", "cpus": 2, "torch_cpu_capability": "AVX2", "torch": "2.13.0",
                        "onnxruntime": "1.31.1", "python": "3.11.7", "load_average_1min": 3.5,
                        "load_average_1min_after": 4.5},
            "seconds": 900.0, "section_seconds": {"limits": 3.0, "inference": 140.0},
            "rows": [r.to_json() for r in SAVED_ROWS], "sections": {"limits": {}, "inference": {}}, **changes}
    path.write_text(json.dumps(data))
    return path


def bench(*args):
    return subprocess.run([sys.executable, "-m", "benchmarks", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_show_prints_the_saved_table_and_writes_its_markdown_page(tmp_path):
    md = tmp_path / "docs" / "benchmarks.md"
    shown = bench("--show", saved_run(tmp_path / "run.json"), "--markdown", md)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == table(SAVED_ROWS)
    text = md.read_text()
    assert table(SAVED_ROWS) in text  # every figure, as the table prints it
    assert "Test CPU 9000 (2 CPUs" in text and "15.0 min" in text and "`size` 256" in text
    assert "- **inference**: `generator`" in text  # each measured section says what it measures
    targets = text.split("## Targets", 1)[1]
    assert "INT8 / ONNX Runtime fp32 images/s ≥ 2x | 1.6 x; PSNR 31.8 dB | NOT met |" in targets
    assert "matmul fp32" not in targets  # rows without a goal are no targets
    assert "load average" not in text and "4.5" not in text  # no machine load in a user document
    assert "--quick" not in text and "did not finish" not in text


def test_the_page_says_when_its_run_was_quick_or_unfinished(tmp_path):
    text = page(saved_run(tmp_path / "run.json", quick=True, complete=False))
    assert "smoke run at toy sizes" in text and "did not finish" in text


def test_show_refuses_other_files_in_one_line_and_writes_no_page(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    refused = bench("--show", other, "--markdown", tmp_path / "page.md")
    assert_one_line_error(refused, "not a benchmarks JSON file")
    assert not (tmp_path / "page.md").exists()
