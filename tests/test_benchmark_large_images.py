"""`python -m benchmarks.large_images --quick` end to end: every section present (nothing is timed here)."""
from __future__ import annotations

from helpers import quick_benchmark


def test_quick_run_writes_fidelity_scaling_and_overhead(tmp_path):
    data, done = quick_benchmark("large_images", tmp_path / "large_images.json")
    rows = data["fidelity"]["rows"]
    ours = [r for r in rows if r["stats"] == "whole-image"]
    naive = [r for r in rows if r["stats"] == "per-tile"]
    assert ours and len(naive) == 1 and max(r["psnr_db"] for r in ours) > naive[0]["psnr_db"]
    assert all(r["output_size"] == r["size"] and r["peak_rss_mib"] > 0 for r in data["scaling"])
    assert {r["mode"] for r in data["scaling"]} == {"whole", "tiled", "option"}
    assert {o["mode"] for o in data["overhead"]} == {"tiled", "option"}
    assert "PSNR dB" in done.stdout and "peak RSS MiB" in done.stdout
