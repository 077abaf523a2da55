"""The suite's one table (markdown) and its JSON, with targets marked."""
from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from cgan.infer.files import atomic_write


@dataclass(frozen=True)
class Row:
    """One figure of the table. A row with a `goal` is a target: met when value >= goal (unless a
    section decides `met` itself, for targets with more than one condition)."""

    section: str
    what: str
    value: float
    unit: str
    detail: str = ""  # how it compares, in words: "41% of the fp32 matmul limit"
    goal: float | None = None
    met: bool | None = None

    @property
    def is_target(self) -> bool:
        return self.goal is not None

    def verdict(self) -> str:
        if not self.is_target:
            return ""
        met = self.met if self.met is not None else self.value >= self.goal
        return f"≥ {self.goal:g}{self.unit}: {'met' if met else 'NOT met'}"

    def to_json(self) -> dict:
        data = asdict(self)
        if self.is_target and self.met is None:
            data["met"] = self.value >= self.goal
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}


def figure(value: float) -> str:
    """A value to about three significant digits, as the tables print it."""
    if not math.isfinite(value):
        return "inf" if value > 0 else "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def table(rows: list[Row]) -> str:
    """All rows as one markdown table; the section name appears on its first row only."""
    lines = ["| section | measurement | value | compared | target |", "| --- | --- | ---: | --- | --- |"]
    previous = None
    for row in rows:
        section = row.section if row.section != previous else ""
        previous = row.section
        value = f"{figure(row.value)} {row.unit}".rstrip()
        lines.append(f"| {section} | {row.what} | {value} | {row.detail} | {row.verdict()} |")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What the figures were measured on; load average tells whether other work shared the CPU."""
    import onnxruntime
    import torch

    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }


def read_rows(path: Path) -> list[Row]:
    """The rows of a saved run (its JSON), with unmeasured values back to NaN."""
    try:
        data = json.loads(path.read_text())
        return [Row(**{**r, "value": math.nan if r["value"] is None else r["value"]}) for r in data["rows"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a benchmarks JSON file ({e})") from None


def write_json(path: Path, data: dict) -> None:
    """Write `data` to `path` through a temp file, so a stopped run never leaves a half-written file."""
    with atomic_write(path, "w", fsync=False) as f:
        json.dump(data, f, indent=2)
        f.write("\n")
