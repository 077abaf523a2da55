"""The web page's time per frame on WASM beside ONNX Runtime in Python: one file, one machine, one run.

    python -m benchmarks.web                                  # resnet_9blocks, ngf 64, 256x256, 1 thread
    python -m benchmarks.web --threads 1 2 4                  # more thread counts (each both ways)
    python -m benchmarks.web --quick                          # ngf 8 at 64x64: a smoke run, figures meaningless
    python -m benchmarks.web --json docs/web_speed.json --markdown docs/web_speed.md
    python -m benchmarks.web --show docs/web_speed.json --markdown docs/web_speed.md   # the page from saved JSON
    python -m benchmarks.web --still docs/web.png             # the still of the page in docs/, nothing timed

The page (web/, served on 127.0.0.1, in headless Chromium) runs a randomly initialized export with
onnxruntime-web's WASM build (?backend=wasm&threads=N) and times each frame itself: the model call,
and the whole frame with its pixels -> tensor -> pixels steps. ONNX Runtime in Python runs the same
file on the same picture with N intra-op threads, fetching the same one output. Rounds alternate the
two so both see the same machine load; each figure is the median of the timed frames (the first
WARM_UP frames of each round are not counted).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import cv2
import numpy as np
import onnxruntime as ort

from cgan.infer.files import atomic_write
from cgan.infer.metadata import ModelInfo
from cgan.infer.processing import Layout, finish, prepare

from .browser import Browser, missing, serve
from .infer_pipeline import random_export
from .report import machine

FULL = dict(ngf=64, size=256, frames=6, rounds=2)
QUICK = dict(ngf=8, size=64, frames=3, rounds=1)
WARM_UP = 2  # untimed frames first: the page's WASM code is optimized (tiered up) while it runs
STILL_PHOTO = "chelsea"  # 451 x 300: a held-out photograph whose width is no multiple of 4
STILL_WINDOW = (1100, 830)


def page_times(browser: Browser, url: str, threads: int, frames: int) -> list[dict]:
    """The page's own times (ms) for `frames` frames after the warm-up ones."""
    query = urlencode({"model": "/files/G.onnx", "image": "/files/frame.png", "backend": "wasm",
                       "threads": threads, "runs": frames + WARM_UP, "test": 1})
    report = browser.open(f"{url}index.html?{query}", timeout=600).report
    if not report.get("ok"):
        raise RuntimeError(f"the page failed: {report.get('error')}")
    if report["threads"] != threads:
        raise RuntimeError(f"the page ran {report['threads']} WASM threads, not {threads} (cross-origin isolation?)")
    return report["times"][WARM_UP:]


def python_times(model: Path, frame: np.ndarray, threads: int, frames: int) -> list[dict]:
    """ONNX Runtime in Python on the same picture: the same stages, timed the same way (ms)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    info = ModelInfo.from_metadata_props(session.get_modelmeta().custom_metadata_map)
    layout = Layout(info.input_channels, info.output_channels, info.color_order, info.value_range,
                    info.side_multiple, np.dtype(np.float32))
    times = []
    for _ in range(frames + WARM_UP):
        start = time.perf_counter()
        prepared = prepare(frame, layout)
        ready = time.perf_counter()
        y = session.run([info.output_name], {info.input_name: prepared.tensor[None]})[0]
        ran = time.perf_counter()
        finish(y[0], prepared, layout)
        end = time.perf_counter()
        times.append({"run": (ran - ready) * 1e3, "total": (end - start) * 1e3})
    return times[WARM_UP:]


def measure(ngf: int, size: int, frames: int, rounds: int, threads_list: list[int], echo=print) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp)
        echo(f"exporting resnet_9blocks with ngf {ngf} (random weights)")
        model = random_export(files, ngf)
        frame = np.random.default_rng(0).integers(0, 256, (size, size, 3), np.uint8)
        cv2.imwrite(str(files / "frame.png"), frame)
        rows = []
        with serve(files) as url, Browser() as browser:
            for threads in threads_list:
                page, python = [], []
                for r in range(rounds):
                    echo(f"{threads} thread(s), round {r + 1}/{rounds}: page, then ONNX Runtime in Python")
                    page += page_times(browser, url, threads, frames)
                    python += python_times(model, frame, threads, frames)
                median = lambda times, key: statistics.median(t[key] for t in times)  # noqa: E731
                rows.append({"threads": threads, "frames": len(page),
                             "page_model_ms": median(page, "run"), "page_frame_ms": median(page, "total"),
                             "python_model_ms": median(python, "run"), "python_frame_ms": median(python, "total")})
    for row in rows:
        row["model_ratio"] = row["page_model_ms"] / row["python_model_ms"]
        row["frame_ratio"] = row["page_frame_ms"] / row["python_frame_ms"]
    return {"generator": "resnet_9blocks", "ngf": ngf, "size": size, "onnxruntime": ort.__version__,
            "onnxruntime_web": _web_runtime_version(), "machine": machine(), "rows": rows}


def _web_runtime_version() -> str:
    lock = json.loads((Path(__file__).resolve().parent.parent / "web" / "package-lock.json").read_text())
    return lock["packages"]["node_modules/onnxruntime-web"]["version"]


def table(result: dict) -> str:
    lines = [f"resnet_9blocks ngf {result['ngf']}, one {result['size']}x{result['size']} frame; median ms per frame",
             f"{'threads':>7} {'page model':>11} {'python model':>13} {'ratio':>6} {'page frame':>11} "
             f"{'python frame':>13} {'ratio':>6}"]
    for r in result["rows"]:
        lines.append(f"{r['threads']:>7} {r['page_model_ms']:>11.1f} {r['python_model_ms']:>13.1f} "
                     f"{r['model_ratio']:>5.2f}x {r['page_frame_ms']:>11.1f} {r['python_frame_ms']:>13.1f} "
                     f"{r['frame_ratio']:>5.2f}x")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    m = result["machine"]
    threads = " ".join(str(r["threads"]) for r in result["rows"])
    return "\n".join([
        "# The web page's speed",
        "",
        f"Measured by `python -m benchmarks.web --threads {threads} --json docs/web_speed.json`; this page is "
        "generated from that JSON by `python -m benchmarks.web --show docs/web_speed.json --markdown "
        "docs/web_speed.md`. How the page works: [web.md](web.md).",
        "",
        f"{m.get('cpu', 'CPU')}, {m.get('cpus', '?')} CPUs; Chromium headless, onnxruntime-web "
        f"{result['onnxruntime_web']} (WASM build) against ONNX Runtime {result['onnxruntime']} in Python, "
        "the same file and picture, the same number of threads, rounds alternating between the two.",
        "",
        "```",
        table(result),
        "```",
        "",
        "\"model\" is the model call alone; \"frame\" adds the pixels -> tensor -> pixels steps "
        "(JavaScript loops on the page, numpy and OpenCV in Python). Ratios are page / Python, measured in one "
        "run; timings on a machine busy with other work are not comparable.",
        "",
    ])


def still(out: Path) -> None:
    """The page having translated a held-out photograph with the trained photo generator of
    benchmarks.large_model (trained once, a few minutes, when missing), as Chromium draws it."""
    from .large_model import trained_model
    from .photos import photo

    model = trained_model(Path("bench_out/large_images"))
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp)
        (files / "G.onnx").write_bytes(model.read_bytes())
        cv2.imwrite(str(files / f"{STILL_PHOTO}.png"), photo(STILL_PHOTO))
        query = urlencode({"model": "/files/G.onnx", "image": f"/files/{STILL_PHOTO}.png", "test": 1})
        with serve(files) as url, Browser(window=STILL_WINDOW) as browser:
            result = browser.open(f"{url}index.html?{query}", screenshot=True)
    if not result.report.get("ok"):
        raise SystemExit(f"the page failed: {result.report.get('error')}")
    with atomic_write(out) as f:
        f.write(result.screenshot)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small model and picture: a smoke run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts to compare at (default 1)")
    parser.add_argument("--json", type=Path, default=Path("bench_out/web.json"), help="where the results go")
    parser.add_argument("--markdown", type=Path, help="also write them as a markdown page, e.g. docs/web_speed.md")
    parser.add_argument("--still", type=Path, help="only write the still of the page (a PNG), e.g. docs/web.png")
    parser.add_argument("--show", type=Path, help="print the table of a saved run (its JSON) and exit; with "
                        "--markdown, also write its page")
    args = parser.parse_args()
    if args.show:
        result = json.loads(args.show.read_text())
        print(table(result))
        if args.markdown:
            with atomic_write(args.markdown, "w") as f:
                f.write(markdown(result))
        return
    if missing():
        raise SystemExit(missing())
    if args.still:
        still(args.still)
        return
    result = measure(**(QUICK if args.quick else FULL), threads_list=args.threads)
    result["quick"] = args.quick
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))
    if args.markdown:
        with atomic_write(args.markdown, "w") as f:
            f.write(markdown(result))


if __name__ == "__main__":
    main()
