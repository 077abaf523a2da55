"""`python -m benchmarks.plain_export --quick` end to end, and the page it rewrites (nothing is timed here)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import plain_export
from helpers import quick_benchmark

SAVED = Path(__file__).resolve().parent.parent / "docs" / "export" / "plain_export.json"


def test_quick_run_counts_inputs_outputs_and_warnings_and_writes_the_page(tmp_path):
    out = tmp_path / "plain_export.json"
    data, done = quick_benchmark("plain_export", out)
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
    block = plain_export.BLOCK
    page.write_text(f"# Export\n\nbefore\n\n<!-- {block} -->\nold figures\n<!-- /{block} -->\n\n"
                    "within <!-- statistics_within -->?<!-- /statistics_within -->\n")
    shown = subprocess.run([sys.executable, "-m", "benchmarks.plain_export", "--show", str(out), "--markdown",
                            str(page)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = page.read_text()
    assert "old figures" not in text and text.startswith("# Export\n\nbefore\n\n")
    assert re.search(r"\n\nwithin <!-- statistics_within -->[0-9]+%<!-- /statistics_within -->\n$", text), text
    assert "| plain `torch.onnx.export` | 1 | 1 | 0 |" in text and text.count(f"<!-- {block} -->") == 1


@pytest.mark.parametrize("text", ["# Export\n", None])
def test_a_page_without_the_block_is_refused_in_one_line_and_left_alone(tmp_path, text):
    page = tmp_path / "export.md"
    if text is not None:
        page.write_text(text)
    with pytest.raises(SystemExit) as refused:
        plain_export.main(["--show", str(SAVED), "--markdown", str(page)])
    message = str(refused.value.code)
    assert message.startswith(f"--markdown {page}: ") and "\n" not in message
    assert ("lacks the blocks <!-- plain_export -->" if text else "cannot read it") in message
    assert (page.read_text() if text else None) == text
