"""The figures of docs/tiling.md, from the JSON of `python -m benchmarks.large_images` (one record per recipe
of the benchmark's generator, docs/tiling/<recipe>.json): its two tables and every figure its prose quotes.

    python -m benchmarks.large_images --show docs/tiling/cgan.json --show docs/tiling/official.json \\
        --markdown docs/tiling.md
"""
from __future__ import annotations

from .spans import span

RECIPES = ("official", "cgan")  # column order: the recipe whose tiles show seams first


def _pace(ratios) -> str:
    """Times against the whole image, as the page quotes them: 1.79-1.80x."""
    return span(ratios, "{:.2f}".format, "x", sep="-")


def _size(size: list[int]) -> str:
    return f"{size[0]} x {size[1]}"


def _statistics(row: dict) -> str:
    if row["stats"] == "per-tile":
        return "each tile's own"
    scale = row["stats_scale"]
    return ("whole image, full resolution (default)" if scale == 1 else
            f"whole image, scale {scale:g} (`tile_stats_scale={scale:g}`)")


def fidelity_table(records: dict[str, dict]) -> str:
    """Tiled against whole-image output: PSNR per recipe, time against the whole image over both."""
    lines = ["| tiling | statistics | PSNR, official recipe | PSNR, default recipe | time vs whole |",
             "|---|---|---|---|---|"]
    rows = zip(*(records[recipe]["fidelity"]["rows"] for recipe in RECIPES))
    for official, cgan in rows:
        tiling = f"tile {official['tile']}, " + (f"overlap {official['overlap']}" if official["stats"] != "per-tile"
                                                  else "no overlap (naive)")
        lines.append(f"| {tiling} | {_statistics(official)} | {official['psnr_db']:.1f} dB | "
                     f"{cgan['psnr_db']:.1f} dB | "
                     f"{_pace((official['ratio'], cgan['ratio']))} |")
    return "\n".join(lines)


def scaling_table(records: dict[str, dict]) -> str:
    """Time per recipe, peak RSS and output size (the official run's) per image size and mode."""
    lines = ["| image | mode | time, official | time, default | peak RSS | output |", "|---|---|---|---|---|---|"]
    for official, cgan in zip(records["official"]["scaling"], records["cgan"]["scaling"]):
        lines.append(f"| {_size(official['size'])} | {official['mode']} | {official['seconds']:.1f} s | "
                     f"{cgan['seconds']:.1f} s | {official['peak_rss_mib']:.0f} MiB | "
                     f"{_size(official['output_size'])} |")
    return "\n".join(lines)


def _overheads(records: dict[str, dict], mode: str, size: list[int] | None = None) -> list[float]:
    return [o["over_whole"] for r in records.values() for o in r["overhead"]
            if o["mode"] == mode and (size is None or o["size"] == size)]


def figures(records: dict[str, dict]) -> dict[str, str]:
    """Block name -> text, for the records of both recipes (keyed by recipe)."""
    official, cgan = records["official"], records["cgan"]
    for a, b in zip(official["scaling"], cgan["scaling"]):
        if (a["size"], a["mode"]) != (b["size"], b["mode"]):
            raise ValueError("the two runs measured different image sizes or modes; rerun one")
    rss_spread = max(abs(b["peak_rss_mib"] / a["peak_rss_mib"] - 1)
                     for a, b in zip(official["scaling"], cgan["scaling"]))
    whole_sizes = [o["size"] for o in official["overhead"] if o["mode"] == "tiled"]  # sizes that also ran whole
    largest = max(official["scaling"], key=lambda r: r["size"][0] * r["size"][1])
    first = official["fidelity"]["rows"][0]
    largest_rss = max(row["peak_rss_mib"] for record in records.values() for row in record["scaling"]
                      if row["size"] == largest["size"])
    return {
        "setting": f"{official['cpu']}, tile {first['tile']}, overlap {first['overlap']}",
        "fidelity_size": _size(official["fidelity"]["size"]),
        "fidelity_table": fidelity_table(records),
        "scaling_table": scaling_table(records),
        "rss_spread": f"{100 * rss_spread:.0f}%",
        "option_overhead": _pace(_overheads(records, "option")),
        "small_tiled_overhead": _pace(_overheads(records, "tiled", whole_sizes[0])),
        "small_size": _size(whole_sizes[0]),
        "large_tiled_overhead": _pace(_overheads(records, "tiled", whole_sizes[-1])),
        "large_size": _size(whole_sizes[-1]),
        "largest_size": _size(largest["size"]),
        "largest_rss": f"{largest_rss / 1024:.1f} GiB",
    }
