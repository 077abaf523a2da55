"""Tiled inference on large real-photo mosaics: fidelity to the whole-image output, memory, time.

    python -m benchmarks.large_images                      # the default recipe's model (trained once)
    python -m benchmarks.large_images --recipe official    # a model of the official recipe
    python -m benchmarks.large_images --quick              # an untrained tiny model and small images
    python -m benchmarks.large_images --show docs/tiling/cgan.json --show docs/tiling/official.json \
        --markdown docs/tiling.md                          # the page's figures from saved runs

1. PSNR of tiled against whole-image output (8-bit pixels, peak 255) for several tile sizes and
   overlaps, with whole-image statistics (ours) and with per-tile statistics and no overlap (naive);
   plus the seam picture (docs/tiling_seam.png is the --recipe official one).
2. Peak RSS (VmHWM, each case in a fresh process) and time against image size, whole and tiled.
3. The tiling overhead where the whole image fits: tiled time / whole time, measured in one run.
Table on stdout, JSON in bench_out/large_images.json (large_images_official.json for --recipe official).

The recipes' generators differ in how much instance norm shapes their output: the default recipe's
starts as the identity and leans little on per-image statistics at this length of training, the
official one's leans on them as the pix2pix/CycleGAN networks do, so naive tiles show their seams.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from cgan.infer import Translator
from cgan.infer import tiling

from .child import run_json
from .doc_blocks import pages_from_runs
from .large_model import trained_model
from .photos import HELD_OUT_PHOTOS, TRAIN_PHOTOS, photo
from .tiling_page import RECIPES, figures

OUT = Path("bench_out")
CACHE = OUT / "large_images"
FULL = dict(psnr_size=(1536, 2048), configs=[(512, 64)], naive=(512, 0),
            sizes=[(768, 1024), (2160, 3840), (6000, 8000)], whole_up_to=2160 * 3840,
            tile=512, overlap=64, stats_scales=[1.0, 0.5])
QUICK = dict(psnr_size=(256, 384), configs=[(128, 16), (128, 32)], naive=(128, 0),
             sizes=[(192, 256), (384, 512)], whole_up_to=384 * 512, tile=128, overlap=16,
             stats_scales=[tiling.STATS_SCALE])


def mosaic(height: int, width: int) -> np.ndarray:
    """Real photographs side by side (every other one mirrored) until height x width is filled."""
    pictures = [photo(n) for n in (*HELD_OUT_PHOTOS, *TRAIN_PHOTOS)]
    out = np.empty((height, width, 3), np.uint8)
    y, k = 0, 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            p = pictures[k % len(pictures)]
            p = p[:, ::-1] if (k // len(pictures)) % 2 else p
            k += 1
            ph, pw = min(p.shape[0], height - y), min(p.shape[1], width - x)
            out[y:y + ph, x:x + pw] = p[:ph, :pw]
            x, row_h = x + pw, max(row_h, ph)
        y += row_h
    return out


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def tiled(model: Path, image: np.ndarray, tile: int, overlap: int, stats_scale: float = tiling.STATS_SCALE,
          per_tile_stats: bool = False) -> tuple[np.ndarray, float]:
    """The tiled output and its seconds."""
    t = Translator(model, "cpu", tile=tile, tile_overlap=overlap, tile_stats_scale=stats_scale)
    if per_tile_stats:
        t.stats_layers = 0
    t.tile_session  # opened before timing, as `whole` opens its session before timing
    start = time.perf_counter()
    out = t.run_tiled(tiling.TiledFrame(image, t.tiling, image.shape[:2]))
    return out, time.perf_counter() - start


def whole(model: Path, image: np.ndarray) -> tuple[np.ndarray, float]:
    t = Translator(model, "cpu", max_memory=1 << 50)
    start = time.perf_counter()
    out = t(image)
    return out, time.perf_counter() - start


def seam_picture(image: np.ndarray, ours: np.ndarray, naive: np.ndarray, reference: np.ndarray, tile: int,
                 path: Path) -> None:
    """A region around the first vertical seam of the naive tiling: input, whole, naive, ours."""
    h, w = image.shape[:2]
    cols, _ = tiling.axis_tiles(w, tile, 0, 4)
    x = cols[1] if len(cols) > 1 else w // 2
    side = min(256, h, w)
    y0, x0 = max(0, h // 2 - side // 2), min(max(0, x - side // 2), w - side)
    crops = [a[y0:y0 + side, x0:x0 + side] for a in (image, reference, naive, ours)]
    labels = ("input", "whole image", "naive tiles", "ours")
    panels = []
    for crop, label in zip(crops, labels):
        panel = crop.copy()
        cv2.putText(panel, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        panels.append(panel)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.hstack(panels))


def tile_option(model: Path, image: np.ndarray, tile: int, overlap: int) -> tuple[np.ndarray, float]:
    """What `cgan-infer --tile N` does with the image, and its seconds: on the CPU a frame that fits
    the memory budget runs whole (Translator._plan)."""
    t = Translator(model, "cpu", tile=tile, tile_overlap=overlap)
    start = time.perf_counter()
    out = t(image)
    return out, time.perf_counter() - start


# How `child` translates: the whole image; tiles forced whatever the size (the tiling itself); `--tile`.
MODES = {"whole": lambda model, image, tile, overlap: whole(model, image),
         "tiled": lambda model, image, tile, overlap: tiled(model, image, tile, overlap),
         "option": tile_option}


def fidelity(model: Path, cfg: dict, picture: Path) -> dict:
    h, w = cfg["psnr_size"]
    image = mosaic(h, w)
    reference, whole_s = whole(model, image)
    print(f"  {w}x{h} whole: {whole_s:.1f} s", file=sys.stderr)
    rows, ours = [], None
    for tile, overlap in cfg["configs"]:
        for scale in cfg["stats_scales"]:
            out, seconds = tiled(model, image, tile, overlap, scale)
            ours = out if ours is None else ours  # the first tile size at the default scale
            rows.append(dict(tile=tile, overlap=overlap, stats="whole-image", stats_scale=scale,
                             psnr_db=psnr8(out, reference), seconds=seconds, ratio=seconds / whole_s))
            print(f"  tile {tile} overlap {overlap} stats scale {scale}: {rows[-1]['psnr_db']:.2f} dB", file=sys.stderr)
    naive, seconds = tiled(model, image, cfg["naive"][0], cfg["naive"][1], per_tile_stats=True)
    rows.append(dict(tile=cfg["naive"][0], overlap=0, stats="per-tile", stats_scale=None,
                     psnr_db=psnr8(naive, reference), seconds=seconds, ratio=seconds / whole_s))
    seam_picture(image, ours, naive, reference, cfg["naive"][0], picture)
    return dict(size=[w, h], whole_seconds=whole_s, rows=rows, picture=str(picture))


def child(model: str, height: int, width: int, mode: str, tile: int, overlap: int) -> dict:
    """One case in this process: peak RSS and seconds of translating a height x width mosaic."""
    image = mosaic(height, width)
    start = time.perf_counter()
    out = MODES[mode](Path(model), image, tile, overlap)[0]
    seconds = time.perf_counter() - start
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    return dict(size=[width, height], mode=mode, seconds=seconds, peak_rss_mib=peak / 1024,
                output_size=[out.shape[1], out.shape[0]])


def scaling(model: Path, cfg: dict) -> list[dict]:
    rows = []
    for h, w in cfg["sizes"]:
        modes = list(MODES) if h * w <= cfg["whole_up_to"] else ["tiled"]
        for mode in modes:
            rows.append(run_json("benchmarks.large_images", ["--child", str(model), str(h), str(w), mode,
                                                             str(cfg["tile"]), str(cfg["overlap"])],
                                 f"{w}x{h} {mode}"))
            print(f"  {w}x{h} {mode}: {rows[-1]['seconds']:.1f} s, peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB",
                  file=sys.stderr)
    return rows


def quick_model(folder: Path) -> Path:
    """An untrained tiny generator, exported (for --quick)."""
    import torch  # the benchmark may use torch; cgan.infer never does

    from cgan.export.onnx_export import export_generator
    from cgan.infer.metadata import ModelInfo
    from cgan.train import create_generator

    path = folder / "quick" / "G.onnx"
    if not path.is_file():
        torch.manual_seed(0)
        net = create_generator("resnet_6blocks", ngf=8).eval()
        info = ModelInfo(direction="G", source_domain="x", target_domain="y", generator="resnet_6blocks", ngf=8,
                         norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                         train_size=64)
        export_generator(net, path, info, verify=False, overwrite=True)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large_images", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny untrained model, small images (for tests)")
    parser.add_argument("--recipe", choices=["cgan", "official"], default="cgan",
                        help="the training recipe of the benchmark's generator")
    parser.add_argument("--out", type=Path, help="the JSON (default bench_out/large_images[_official].json)")
    parser.add_argument("--show", type=Path, action="append", default=[],
                        help="measure nothing: print this saved JSON's table (repeat it: one per recipe)")
    parser.add_argument("--markdown", type=Path, help="with --show: rewrite the figures of this page "
                                                      "(docs/tiling.md) from the saved JSON of both recipes")
    parser.add_argument("--child", nargs=6, metavar=("MODEL", "H", "W", "MODE", "TILE", "OVERLAP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model, h, w, mode, tile, overlap = args.child
        print(json.dumps(child(model, int(h), int(w), mode, int(tile), int(overlap))))
        return {}
    if args.show or args.markdown:
        show(args.show, args.markdown)
        return {}
    cfg = QUICK if args.quick else FULL
    model = quick_model(CACHE) if args.quick else trained_model(CACHE, args.recipe)
    suffix = "" if args.quick or args.recipe == "cgan" else f"_{args.recipe}"  # --quick: no training, no recipe
    picture = CACHE / (f"tiling_seam_quick{suffix}.png" if args.quick else f"tiling_seam{suffix}.png")
    out = args.out or OUT / f"large_images{suffix}.json"
    result = dict(model=str(model), recipe=None if args.quick else args.recipe, cpu=cpu_model(), quick=args.quick,
                  stats_scale=tiling.STATS_SCALE,
                  fidelity=fidelity(model, cfg, picture), scaling=scaling(model, cfg))
    by = {(tuple(r["size"]), r["mode"]): r for r in result["scaling"]}
    result["overhead"] = [dict(size=list(size), mode=other, over_whole=by[size, other]["seconds"] / r["seconds"])
                          for (size, mode), r in by.items() if mode == "whole"
                          for other in ("tiled", "option") if (size, other) in by]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(table(result))
    return result


def show(shown: list[Path], page: Path | None) -> None:
    """Print saved runs' tables and, given a page, rewrite its figures from them; one-line errors."""
    try:
        pages_from_runs(shown, page, RECIPES, table, figures)
    except ValueError as e:
        raise SystemExit(str(e)) from None


def cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def table(result: dict) -> str:
    f = result["fidelity"]
    lines = [f"tiled vs whole image at {f['size'][0]}x{f['size'][1]} (whole: {f['whole_seconds']:.1f} s)",
             f"{'tile':>6} {'overlap':>8} {'statistics':>12} {'scale':>6} {'PSNR dB':>8} {'s':>7} {'x whole':>8}"]
    for r in f["rows"]:
        scale = "-" if r["stats_scale"] is None else f"{r['stats_scale']:g}"
        lines.append(f"{r['tile']:>6} {r['overlap']:>8} {r['stats']:>12} {scale:>6} {r['psnr_db']:>8.2f} "
                     f"{r['seconds']:>7.1f} {r['ratio']:>8.2f}")
    lines += ["", f"{'size':>10} {'mode':>6} {'s':>8} {'peak RSS MiB':>13} {'output':>10}"]
    for r in result["scaling"]:
        lines.append(f"{r['size'][0]}x{r['size'][1]:<5} {r['mode']:>6} {r['seconds']:>8.1f} {r['peak_rss_mib']:>13.0f} "
                     f"{r['output_size'][0]}x{r['output_size'][1]}")
    lines += [""] + [f"overhead at {o['size'][0]}x{o['size'][1]}: {o['mode']} {o['over_whole']:.2f}x whole"
                     for o in result["overhead"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
