"""Figures in hand-written pages: each sits between a pair of named HTML comments (invisible once rendered),
`<!-- name -->figure<!-- /name -->`, and a benchmark's `--markdown` rewrites them from its JSON. The prose
around them stays the page's own; a name the page lacks, or one the generator does not know, is an error,
so page and generator cannot drift apart.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cgan.infer.files import atomic_write

BLOCK = re.compile(r"<!-- ([a-z][a-z0-9_]*) -->(.*?)<!-- /\1 -->", re.DOTALL)


def names(text: str) -> list[str]:
    """The names of the generated blocks in `text`, in order."""
    return [m.group(1) for m in BLOCK.finditer(text)]


def fill(text: str, figures: dict[str, str]) -> str:
    """`text` with every block's content replaced by `figures[name]`; a figure of several lines gets lines of
    its own. Raises ValueError naming the blocks the page lacks or the generator does not know."""
    found = names(text)
    unknown = sorted(set(found) - set(figures))
    missing = [name for name in figures if name not in found]
    if unknown or missing:
        parts = ([f"has blocks no figure fills: {', '.join(unknown)}"] if unknown else []) + (
            [f"lacks the blocks {' '.join(f'<!-- {name} -->' for name in missing)}"] if missing else [])
        raise ValueError("; ".join(parts))

    def content(m: re.Match) -> str:
        name, value = m.group(1), figures[m.group(1)]
        if "\n" in value:
            value = "\n" + value + "\n"
        return f"<!-- {name} -->{value}<!-- /{name} -->"

    return BLOCK.sub(content, text)


def update_page(page: Path, figures: dict[str, str]) -> None:
    """Rewrite the blocks of `page` in place (through a temp file). Raises ValueError naming the page."""
    try:
        text = page.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{page}: cannot read it ({e.strerror}); --markdown rewrites the figures of an "
                         "existing page") from None
    try:
        filled = fill(text, figures)
    except ValueError as e:
        raise ValueError(f"{page}: {e}") from None
    with atomic_write(page, "w", fsync=False) as f:
        f.write(filled)


def pages_from_runs(shown: Sequence[Path], page: Path | None, recipes: Iterable[str],
                    describe: Callable[[dict], str], figures: Callable[[dict[str, dict]], dict[str, str]]) -> None:
    """`--show RUN ... [--markdown PAGE]` of a benchmark run once per recipe: print each saved run (`describe`)
    and, given a page, fill its blocks with `figures` of the runs keyed by recipe. Raises ValueError in one line
    naming the file or option at fault."""
    records = {}
    for path in shown:
        try:
            record = json.loads(path.read_text())
            print(f"{path}:\n{describe(record)}")
            records[record["recipe"]] = record
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"--show {path}: not a saved run of this benchmark ({type(e).__name__}: {e})") from None
    if page is None:
        return
    recipes = list(recipes)
    if sorted(records) != sorted(recipes):
        raise ValueError(f"--markdown {page}: needs one --show per recipe ({', '.join(recipes)}); got "
                         f"{', '.join(map(str, records)) or 'none'}")
    try:
        update_page(page, figures(records))
    except (KeyError, TypeError) as e:
        raise ValueError(f"--show: a saved run lacks {e} ({type(e).__name__})") from None
    except ValueError as e:
        raise ValueError(f"--markdown {e}") from None
    print(f"page: {page}", file=sys.stderr)
