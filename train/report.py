"""Pictures and pages of a run, drawn with OpenCV: sample grids, the loss curve, index.html."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import torch

from cgan.infer.files import atomic_write

from .losses import CycleImages

SAMPLE_LABELS = (("x", "G(x)", "F(G(x))"), ("y", "F(y)", "G(F(y))"))
# Loss-curve panels: (title, terms); a term absent from the log is left out.
CURVE_PANELS = (
    ("generators", ("G_total", "cycle_X", "cycle_Y", "gan_G", "gan_F", "idt_X", "idt_Y")),
    ("discriminators", ("D_X", "D_Y", "D_X_gp", "D_Y_gp")),
)
# Held-out evaluation panels (evaluation.measures); a panel with none of its terms is left out.
EVAL_PANELS = (
    ("known-answer PSNR, dB (higher is better)", ("psnr_G", "psnr_F", "baseline_G", "baseline_F")),
    ("held-out cycle and identity PSNR, dB", ("psnr_cycle_X", "psnr_cycle_Y", "psnr_idt_X", "psnr_idt_Y")),
    ("held-out patch distance SWD (lower is closer)", ("swd_G", "swd_F", "swd_baseline")),
)
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194))  # RGB


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then move it into place (no fsync: reports are redrawn often)."""
    with atomic_write(path, fsync=False) as f:
        f.write(data)


def write_png(path: Path, rgb: np.ndarray) -> None:
    image = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the PNG")
    write_bytes_atomic(path, encoded.tobytes())


def to_rgb8(image: torch.Tensor) -> np.ndarray:
    """CHW in [-1, 1] (1 or 3 channels) to HWC RGB uint8."""
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    array = array.transpose(1, 2, 0)
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((18, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def sample_grid(images: CycleImages, index: int = 0, min_side: int = 128) -> np.ndarray:
    """Two labelled rows: x, G(x), F(G(x)) and y, F(y), G(F(y)); small images enlarged (nearest)."""
    rows_src = ((images.real_x, images.fake_y, images.rec_x), (images.real_y, images.fake_x, images.rec_y))
    rows = []
    for tensors, labels in zip(rows_src, SAMPLE_LABELS):
        tiles = []
        for tensor, label in zip(tensors, labels):
            tile = to_rgb8(tensor[index])
            scale = max(1, -(-min_side // min(tile.shape[:2])))
            tile = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            tiles.append(np.pad(_label(tile, label), ((2, 2), (2, 2), (0, 0)), constant_values=255))
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def sample_sheet(cycles: Sequence[CycleImages], per_row: int = 2, gap: int = 10) -> np.ndarray:
    """The `sample_grid`s of one-picture CycleImages, `per_row` side by side, `gap` pixels apart
    (pictures may differ in size)."""
    grids = [sample_grid(images) for images in cycles]
    height, width = max(g.shape[0] for g in grids) + gap, max(g.shape[1] for g in grids) + gap
    cells = [np.pad(g, ((0, height - g.shape[0]), (0, width - g.shape[1]), (0, 0)), constant_values=255)
             for g in grids]
    cells += [np.full((height, width, 3), 255, np.uint8)] * (-len(cells) % per_row)
    rows = [np.concatenate(cells[i:i + per_row], axis=1) for i in range(0, len(cells), per_row)]
    return np.concatenate(rows, axis=0)


MAX_LOGGED = 2**63  # no step, count or loss we log comes near it


def log_record(line: str) -> dict[str, Any] | None:
    """One line of a log.jsonl or eval.jsonl as a record: a JSON object of finite numbers with an
    integer step; None for anything else (a line torn by a crash, or one planted in the run folder)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # ValueError: also an integer too long to convert
        return None
    if not (isinstance(record, dict) and type(record.get("step")) is int and record["step"] >= 0):
        return None
    numbers = all(type(v) in (int, float) and abs(v) < MAX_LOGGED for v in record.values())  # NaN fails <
    return record if numbers else None


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a log.jsonl or eval.jsonl; lines that are not records are skipped."""
    if not path.is_file():
        return []
    records = (log_record(line) for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [record for record in records if record is not None]


def _smooth(values: np.ndarray) -> np.ndarray:
    window = max(1, len(values) // 50)
    if window == 1:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _panel(records: Sequence[dict[str, Any]], title: str, keys: Iterable[str], size=(900, 300)) -> np.ndarray:
    w, h = size
    left, right, top, bottom = 60, 150, 24, 28
    img = np.full((h, w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (left, 16), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    series = []
    for key in keys:
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        if points:
            steps, values = np.array(points, dtype=np.float64).T
            series.append((key, steps, _smooth(values)))
    x0, x1, y0, y1 = left, w - right, top, h - bottom
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    if not series:
        return img
    s_min = min(s.min() for _, s, _ in series)
    s_max = max(max(s.max() for _, s, _ in series), s_min + 1)
    v_min = min(v.min() for _, _, v in series)
    v_max = max(v.max() for _, _, v in series)
    v_max = v_max if v_max > v_min else v_min + 1e-3
    for frac in (0.0, 0.5, 1.0):
        y = int(y1 - frac * (y1 - y0))
        cv2.putText(img, f"{v_min + frac * (v_max - v_min):.3g}", (4, y + 4), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        x = int(x0 + frac * (x1 - x0))
        cv2.putText(img, f"{s_min + frac * (s_max - s_min):.0f}", (x - 12, h - 10), font, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for i, (key, steps, values) in enumerate(series):
        xs = x0 + (steps - s_min) / (s_max - s_min) * (x1 - x0)
        ys = y1 - (values - v_min) / (v_max - v_min) * (y1 - y0)
        color = COLORS[i % len(COLORS)]
        cv2.polylines(img, [np.stack([xs, ys], 1).round().astype(np.int32)], False, color, 1, cv2.LINE_AA)
        cv2.line(img, (x1 + 10, y0 + 10 + 16 * i), (x1 + 30, y0 + 10 + 16 * i), color, 2)
        cv2.putText(img, key, (x1 + 36, y0 + 14 + 16 * i), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def loss_curve(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Loss terms against steps (moving average), generators above discriminators; RGB."""
    return np.concatenate([_panel(records, title, keys) for title, keys in CURVE_PANELS], axis=0)


def eval_curve(records: Sequence[dict[str, Any]]) -> np.ndarray:
    """Held-out measures against steps, one panel per kind that the records hold; RGB."""
    panels = [(title, keys) for title, keys in EVAL_PANELS if any(k in r for r in records for k in keys)]
    return np.concatenate([_panel(records, title, keys) for title, keys in panels], axis=0)


def index_html(run_name: str, config: dict[str, Any], samples: Sequence[str], curve: str | None,
               known_answer: str | None, evaluation: tuple[str, str] | None = None) -> str:
    """A self-contained page: the loss curve, the held-out evaluation (image, caption), the known-answer
    report, samples newest first, the config."""
    esc = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>cgan run {esc(run_name)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}td{padding:0 1em 0 0}img{image-rendering:pixelated}"
             "</style>", f"<h1>cgan run {esc(run_name)}</h1>"]
    if curve:
        parts.append(f"<h2>Losses</h2><img src='{esc(curve)}' alt='loss curve'>")
    if evaluation:
        image, caption = evaluation
        parts.append(f"<h2>Held-out evaluation</h2><p>{esc(caption)}</p><img src='{esc(image)}' alt='eval curve'>")
    if known_answer:
        parts.append(f"<h2>Known-answer report</h2><pre>{esc(known_answer)}</pre>")
    if samples:
        parts.append("<h2>Samples of the held-out pictures (newest first): x, G(x), F(G(x)) / y, F(y), G(F(y))</h2>")
        parts += [f"<p>{esc(Path(s).stem)}<br><img src='{esc(s)}' alt='{esc(s)}'></p>" for s in samples]
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(json.dumps(v))}</td></tr>" for k, v in config.items())
    parts.append(f"<h2>Config</h2><table>{rows}</table>")
    return "\n".join(parts) + "\n"
