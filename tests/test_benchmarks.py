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
from benchmarks.report import Row, table
from cgan.train import create_generator

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
    # c7s1-64, d128, d256, 18 block convs, u128, u64, c7s1-3 (see README "Benchmarks")
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
    out = tmp_path_factory.mktemp("bench") / "benchmarks.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--threads", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


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
    cuda_ran = ("ort-cuda-fp32", 1) in measured
    assert cuda_ran or any(n.startswith("ort-cuda-fp32: not run:") for n in data["notes"])
    assert all(r["images_per_s"] > 0 and (r["width"], r["height"]) == (32, 32) for r in data["rows"])
    assert done.stdout.count("| ort-cpu-fp32 | 32x32 |") == 2


def test_gpu_script_refuses_an_unknown_engine_in_one_line():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--engines", "ort-rocm"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'ort-rocm': choose from" in done.stderr


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


def test_show_prints_a_saved_run_and_refuses_other_files(quick_run, tmp_path):
    stdout, data = quick_run
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(data))
    shown = subprocess.run([sys.executable, "-m", "benchmarks", "--show", str(saved)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0
    assert shown.stdout.strip() == "\n".join(line for line in stdout.splitlines() if line.startswith("|"))
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    refused = subprocess.run([sys.executable, "-m", "benchmarks", "--show", str(other)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "not a benchmarks JSON file" in refused.stderr
    assert "Traceback" not in refused.stderr
