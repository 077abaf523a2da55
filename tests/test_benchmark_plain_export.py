"""`python -m benchmarks.plain_export --quick` end to end, and the page it rewrites (nothing is timed here)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import plain_export


def test_quick_run_counts_inputs_outputs_and_warnings_and_writes_the_page(tmp_path):
    out = tmp_path / "plain_export.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.plain_export", "--quick", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(out.read_text())
    files = data["files"]
    assert [files["default"][k] for k in ("inputs", "outputs", "warnings")] == [1, 1, 0]
    assert [files["plain"][k] for k in ("inputs", "outputs", "warnings")] == [1, 1, 0]
    layers = 17  # resnet_6blocks' instance norms: two optional inputs and two outputs each, and the weight
    assert [files["statistics"][k] for k in ("inputs", "outputs", "warnings")] == [2 + 2 * layers, 1 + 2 * layers,
                                                                                   1 + 2 * layers]
    assert "appears in graph inputs" in files["statistics"]["first_warning"]
    assert files["default"]["nodes"] < files["plain"]["nodes"]  # the shape arithmetic around each Pad is folded
    for size in data["sizes"]:
        assert set(size["ratio"]) == set(plain_export.FILES) and size["ratio"]["plain"] == 1.0
        assert size["max_abs_vs_plain"]["default"] <= 1e-4 and size["max_abs_vs_plain"]["statistics"] <= 1e-4
    assert "| cgan-export default" in done.stdout

    page = tmp_path / "export.md"
    page.write_text(f"# Export\n\nbefore\n\n{plain_export.MARKERS[0]}\nold figures\n{plain_export.MARKERS[1]}\n\nafter\n")
    shown = subprocess.run([sys.executable, "-m", "benchmarks.plain_export", "--show", str(out), "--markdown",
                            str(page)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = page.read_text()
    assert "old figures" not in text and text.startswith("# Export\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "| plain `torch.onnx.export` | 1 | 1 | 0 |" in text and text.count(plain_export.MARKERS[0]) == 1


def test_a_page_without_the_markers_is_left_alone(tmp_path):
    page = tmp_path / "export.md"
    page.write_text("# Export\n")
    with pytest.raises(SystemExit, match="no generated part"):
        plain_export.update_page(page, {})
    assert page.read_text() == "# Export\n"
