"""The figures of docs/temporal.md, from the JSON of `python -m benchmarks.temporal` (one record per recipe
of the photo generator, docs/temporal/<recipe>.json): its tables, and every figure its prose quotes.

    python -m benchmarks.temporal --show docs/temporal/cgan.json --show docs/temporal/official.json \\
        --markdown docs/temporal.md
"""
from __future__ import annotations

import math

from .spans import percent, span

MOVING = "moving object"  # the clip whose warping error the object's edges dominate


def _db(value: float | None) -> str:
    """A PSNR; None (JSON's form of infinity) where the output *is* the reference."""
    return "ref" if value is None or math.isinf(value) else f"{value:.2f}"


def table(rows: list[dict]) -> str:
    """One markdown row per clip and noise."""
    lines = ["| clip | noise | warp err input | frame-by-frame | temporal | ratio | flicker left | PSNR frame "
             "| PSNR temporal | fps frame | fps temporal |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        left = "none added" if r["flicker_left"] is None else f"{r['flicker_left']:.2f}"
        lines.append(f"| {r['clip']} | {r['noise']} | {r['warp_input']:.2e} | {r['warp_frame']:.2e} | "
                     f"{r['warp_temporal']:.2e} | {r['warp_temporal'] / r['warp_frame']:.2f} | {left} | "
                     f"{_db(r['psnr_frame'])} | {_db(r['psnr_temporal'])} | {r['fps_frame']:.1f} | "
                     f"{r['fps_temporal']:.1f} |")
    return "\n".join(lines)


def summary(pipeline: dict, targets: dict) -> list[str]:
    """The pipeline's frame rates and each target's verdict, a line each."""
    p = pipeline
    lines = [f"pipeline {p['size']}, {p['frames']} frames, model included: {p['fps_frame']:.2f} frames/s "
             f"frame by frame, {p['fps_temporal']:.2f} temporal ({p['ratio']:.2f}x)"]
    for name, t in targets.items():
        value = t["value"] if isinstance(t["value"], bool) else f"{t['value']:.3g}"
        lines.append(f"target {name}: {value} (goal {t['goal']}): {'met' if t['met'] else 'NOT met'}")
    return lines


def _rows(record: dict, noise: str | None = None, moving: bool | None = None) -> list[dict]:
    return [r for r in record["clips"] if (noise is None or r["noise"] == noise)
            and (moving is None or (r["clip"] == MOVING) == moving)]


def _flicker_left(rows: list[dict]) -> list[float]:
    return [r["flicker_left"] for r in rows if r["flicker_left"] is not None]


def figures(records: dict[str, dict]) -> dict[str, str]:
    """Block name -> text, for the records of both recipes (keyed by recipe)."""
    cgan, official = records["cgan"], records["official"]
    out = {}
    for recipe, record in records.items():
        out[f"{recipe}_table"] = table(record["clips"]) + "\n\n" + "\n".join(
            f"- {line}" for line in summary(record["pipeline"], record["targets"]))
        out[f"{recipe}_pipeline_ratio"] = f"{record['pipeline']['ratio']:.2f}x"
    m, p = cgan["machine"], cgan["pipeline"]
    out["machine"] = f"{m['cpus']} cores of an {m['cpu']}"
    out["pipeline_run"] = f"{p['size']} video ({p['frames']} frames, {p['rounds']} interleaved runs each"
    ratio = lambda r: r["warp_temporal"] / r["warp_frame"]  # noqa: E731
    gain = lambda r: r["psnr_temporal"] - r["psnr_frame"]  # noqa: E731
    noisy = _rows(cgan, "camera")
    out["cgan_noisy_psnr_frame"] = span((r["psnr_frame"] for r in noisy), "{:.1f}".format, " dB")
    out["cgan_noisy_ratio"] = span(ratio(r) for r in noisy)
    out["cgan_noisy_gain"] = span((gain(r) for r in noisy), "{:.1f}".format, " dB")
    out["cgan_clean_vs_input"] = span(r["warp_temporal"] / r["warp_input"] for r in _rows(cgan, "none", False))
    out["cgan_moving_vs_input"] = span(r["warp_temporal"] / r["warp_input"] for r in _rows(cgan, "none", True))
    out["cgan_flicker_left"] = span(_flicker_left(noisy), percent)
    clean = _rows(official, "none")
    out["official_own_flicker"] = span((r["warp_frame"] / r["warp_input"] for r in clean), "{:.0f}".format)
    out["official_ratio"] = span(ratio(r) for r in _rows(official, moving=False))
    out["official_ratio_moving"] = span(ratio(r) for r in _rows(official, moving=True))
    out["official_flicker_left"] = span(_flicker_left(official["clips"]), percent)
    noisy = _rows(official, "camera")
    out["official_noisy_psnr_frame"] = span((r["psnr_frame"] for r in noisy), "{:.0f}".format, " dB")
    out["official_fidelity_loss"] = span((-gain(r) for r in noisy), "{:.1f}".format, " dB")
    return out
