"""Every page of docs/ generated from committed JSON, with the command that writes it; none measures anything.

    python -m benchmarks.pages            # rewrite every page from its JSON
    python -m benchmarks.pages --check    # only say which pages differ from what their JSON gives

A page is written whole (its generator owns it) or has hand-written prose around named blocks that its
generator fills (benchmarks/doc_blocks.py). tests/test_doc_pages.py checks every committed page.
"""
from __future__ import annotations

import contextlib
import io
import runpy
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import click

from cgan.infer.files import atomic_write

LEARNING = "docs/learning"
# page -> the command (`python -m` and its arguments) that writes it; "{page}" stands for the page written.
PAGES: dict[str, list[str]] = {
    "docs/benchmarks.md": ["benchmarks", "--show", "docs/benchmarks.json", "--markdown", "{page}"],
    "docs/export.md": ["benchmarks.plain_export", "--show", "docs/export/plain_export.json",
                       "--markdown", "{page}"],
    "docs/temporal.md": ["benchmarks.temporal", "--show", "docs/temporal/cgan.json",
                         "--show", "docs/temporal/official.json", "--markdown", "{page}"],
    "docs/tiling.md": ["benchmarks.large_images", "--show", "docs/tiling/cgan.json",
                       "--show", "docs/tiling/official.json", "--markdown", "{page}"],
    "docs/recipe.md": ["benchmarks.learning_quotes", "--markdown", "{page}"],
    "docs/training.md": ["benchmarks.learning_quotes", "--markdown", "{page}"],
    "docs/learning.md": ["benchmarks.learning", "--seeds", "0", "--pool", f"{LEARNING}/record.json",
                         "--pool", f"{LEARNING}/generalization_dev.json",
                         "--pool", f"{LEARNING}/generalization_heldout.json", "--markdown", "{page}"],
    "docs/learning_exploration.md": ["benchmarks.learning", "--seeds", "0",
                                     "--pool", f"{LEARNING}/exploration.json", "--markdown", "{page}"],
    "docs/precision_auto.md": ["benchmarks.precision_auto", "--show", "docs/precision_auto.json",
                               "--markdown", "{page}"],
    "docs/web_speed.md": ["benchmarks.web", "--show", "docs/web_speed.json", "--markdown", "{page}"],
}


def write(page: str, target: Path) -> None:
    """Run `page`'s command in this process, writing `target` (a copy of the page, for pages with blocks).
    Its table goes nowhere; raises RuntimeError with the command's last words if it fails."""
    module, *args = PAGES[page]
    argv, out = [module, *(a.replace("{page}", str(target)) for a in args)], io.StringIO()
    saved = sys.argv
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'benchmarks", RuntimeWarning)  # runpy: the module was imported before
            runpy.run_module(module, run_name="__main__", alter_sys=False)
    except SystemExit as e:
        if e.code not in (0, None):
            said = e.code if isinstance(e.code, str) else out.getvalue()[-300:]
            raise RuntimeError(f"python -m {' '.join(argv)}: {said}") from None
    finally:
        sys.argv = saved


def rendered(page: str) -> str:
    """What `page`'s command writes from the committed JSON, the committed page left as it is."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / Path(page).name
        shutil.copy(page, copy)
        write(page, copy)
        return copy.read_text(encoding="utf-8")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--check", is_flag=True, help="Write nothing: list the pages that differ from what their JSON gives.")
def main(check: bool) -> None:
    """Rewrite every generated page of docs/ from its committed JSON (run from the repository's root)."""
    stale = []
    for page in PAGES:
        try:
            text = rendered(page)
        except (OSError, RuntimeError) as e:
            raise click.ClickException(f"{page}: {e}") from None
        if text != Path(page).read_text(encoding="utf-8"):
            stale.append(page)
            if not check:
                with atomic_write(Path(page), "w", fsync=False) as f:
                    f.write(text)
    click.echo(f"{'differ' if check else 'rewritten'}: {', '.join(stale)}" if stale
               else "every page is what its JSON gives")
    if check and stale:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
