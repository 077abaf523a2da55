"""Pages whose figures come from committed JSON: each generator, run on that JSON, writes the page exactly as
committed (so no figure drifts from its measurement), refuses what it cannot fill in one line, and no user
document speaks of machine load, dates or issue numbers."""
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks import large_images, learning_quotes, precision_auto, temporal
from benchmarks.doc_blocks import BLOCK, fill, names
from benchmarks.pages import PAGES, write
from helpers import assert_one_line_error

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def temporal_cli(*args):
    return CliRunner().invoke(temporal.main, [str(a) for a in args])


def large_images_cli(*args) -> None:
    """`python -m benchmarks.large_images ARGS` in this process; it refuses with SystemExit(one line)."""
    large_images.main([str(a) for a in args])


def quotes_cli(*args):
    return CliRunner().invoke(learning_quotes.main, ["--record", str(DOCS / "learning" / "record.json"),
                                                     "--exploration", str(DOCS / "learning" / "exploration.json"),
                                                     *map(str, args)])


def test_every_generated_page_is_listed():
    """A page with blocks, or one whose head names the command that writes it, is checked below."""
    texts = {f"docs/{p.name}": p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    generated = {page for page, text in texts.items()
                 if names(text) or "--markdown" in "\n".join(text.splitlines()[:5])}
    assert generated == set(PAGES)


@pytest.mark.parametrize("page", list(PAGES))
def test_the_committed_page_is_what_its_generator_writes_from_the_committed_json(page, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    committed = (ROOT / page).read_text(encoding="utf-8")
    copy = tmp_path / Path(page).name  # the page without its figures: blocks emptied, a whole page absent
    if names(committed):
        copy.write_text(BLOCK.sub(lambda m: f"<!-- {m[1]} --><!-- /{m[1]} -->", committed))
    write(page, copy)
    assert copy.read_text(encoding="utf-8") == committed


def test_fill_rewrites_only_the_blocks_inline_and_on_lines_of_their_own():
    page = "Gain <!-- gain -->1.0 dB<!-- /gain --> here.\n\n<!-- table -->\n| old |\n<!-- /table -->\nend\n"
    filled = fill(page, {"gain": "2.5 dB", "table": "| a |\n| b |"})
    assert filled == ("Gain <!-- gain -->2.5 dB<!-- /gain --> here.\n\n"
                      "<!-- table -->\n| a |\n| b |\n<!-- /table -->\nend\n")
    assert fill(filled, {"gain": "2.5 dB", "table": "| a |\n| b |"}) == filled


@pytest.mark.parametrize("figures, message", [
    ({"gain": "1", "table": "x"}, "lacks the blocks <!-- gain -->"),
    ({}, "has blocks no figure fills: table"),
])
def test_fill_refuses_a_block_without_figure_and_a_figure_without_block(figures, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        fill("<!-- table -->x<!-- /table -->", figures)


def test_a_page_needs_both_recipes_runs_and_is_left_as_it_was(tmp_path):
    page = shutil.copy(DOCS / "temporal.md", tmp_path / "temporal.md")
    result = temporal_cli("--show", DOCS / "temporal" / "cgan.json", "--markdown", page)
    assert_one_line_error(result, "needs one --show per recipe", "cgan, official")
    page = shutil.copy(DOCS / "tiling.md", tmp_path / "tiling.md")
    with pytest.raises(SystemExit, match=re.escape(f"--markdown {page}: needs one --show per recipe (official, "
                                                   "cgan); got cgan")) as refused:
        large_images_cli("--show", DOCS / "tiling" / "cgan.json", "--markdown", page)
    assert "\n" not in str(refused.value.code)
    assert (tmp_path / "temporal.md").read_text() == (DOCS / "temporal.md").read_text()
    assert (tmp_path / "tiling.md").read_text() == (DOCS / "tiling.md").read_text()


def test_a_saved_file_of_another_kind_is_one_line_naming_it(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"runs": []}')
    assert_one_line_error(temporal_cli("--show", other), f"--show {other}: not a saved run of this benchmark")
    assert_one_line_error(CliRunner().invoke(precision_auto.main, ["--show", str(other)]),
                          f"--show {other}: not a record of this benchmark")
    page = shutil.copy(DOCS / "recipe.md", tmp_path / "recipe.md")
    result = CliRunner().invoke(learning_quotes.main, ["--record", str(other), "--markdown", str(page)])
    assert_one_line_error(result, f"--record {other}", "not the runs recipe.md quotes")
    assert (tmp_path / "recipe.md").read_text() == (DOCS / "recipe.md").read_text()


def test_quotes_refuse_a_page_they_have_no_figures_for(tmp_path):
    page = tmp_path / "notes.md"
    page.write_text("# Notes\n")
    assert_one_line_error(quotes_cli("--markdown", page), f"--markdown {page}: no figures for a page of that name",
                          "recipe.md, training.md")


USER_DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
NOT_IN_USER_DOCUMENTS = {
    "machine load": (r"busy with other jobs|on an idle machine|load average (of |was |about )?[0-9]|load_average"
                     r"|shared cores"),
    "a date or time": r"\b20[0-9]{2}-[01][0-9]-[0-3][0-9]\b|\b[0-2]?[0-9]:[0-5][0-9] ?UTC\b",
    "an issue number": r"(?<![\w&/])#[0-9]+\b|\bissues? #?[0-9]+\b",
}


@pytest.mark.parametrize("what", list(NOT_IN_USER_DOCUMENTS))
def test_no_user_document_speaks_of_machine_load_dates_or_issues(what):
    found = [f"{doc.relative_to(ROOT)}:{n}: {line.strip()}" for doc in USER_DOCUMENTS
             for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(NOT_IN_USER_DOCUMENTS[what], line, re.IGNORECASE)]
    assert not found, f"{what} in user documents:\n" + "\n".join(found)
