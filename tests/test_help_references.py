"""Every page (and section) that a command's --help points to exists."""
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.infer.cli import main as infer_main
from cgan.train.cli import main as train_main

ROOT = Path(__file__).resolve().parents[1]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a markdown page's headings: lower case, spaces to '-', punctuation dropped."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("command", [train_main, export_main, infer_main], ids=["train", "export", "infer"])
def test_every_page_named_in_help_exists(command):
    text = " ".join(CliRunner().invoke(command, ["--help"], terminal_width=1000).output.split())
    references = re.findall(r"((?:docs/[\w.-]+\.md|README\.md)(?:#[\w-]+)?)", text)
    assert references or command is not train_main
    for reference in references:
        path, _, anchor = reference.partition("#")
        assert (ROOT / path).is_file(), reference
        assert not anchor or anchor in anchors(ROOT / path), reference


def test_train_help_names_no_readme_section_on_compile():
    text = " ".join(CliRunner().invoke(train_main, ["--help"]).output.split())
    assert "see the README" not in text
