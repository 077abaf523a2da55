"""`python -m benchmarks`: run the suite, print one table, write the JSON."""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import click
import torch

from cgan.infer.files import atomic_write

from .markdown import page
from .report import machine, read_rows, table, write_json
from .suite import SECTIONS, SuiteConfig, quick, run_suite

DEFAULT_OUT = Path("bench_out/benchmarks.json")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", "is_quick", is_flag=True, help="The smallest configuration: a smoke run in seconds, figures meaningless.")
@click.option("--only", multiple=True, type=click.Choice(list(SECTIONS)), help="Run only this section (repeatable), with any it needs.")
@click.option("--threads", type=click.IntRange(min=1), default=os.cpu_count(), show_default=True, help="Threads for PyTorch and ONNX Runtime.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True, help="JSON results, saved after each section (\"complete\": false until the end); replaced by each run.")
@click.option("--show", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Print the table of a saved run (even an unfinished one) and exit.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Also write the run (--show FILE, else this run) as a markdown page to this file, replacing it; e.g. docs/benchmarks.md.")
def main(is_quick: bool, only: tuple[str, ...], threads: int, out: Path, show: Path | None, markdown: Path | None) -> None:
    """Measure cgan's speed against the machine's limit and its baselines; print one table.

    Every figure is the median of several runs and every comparison a ratio measured in the same
    run. The full suite takes under 15 minutes on a 2-core CPU.
    """
    if show is not None:
        try:
            click.echo(table(read_rows(show)))
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        write_page(show, markdown)
        return
    torch.set_num_threads(threads)
    config = SuiteConfig(threads=threads)
    config = quick(config) if is_quick else config
    before, start = machine(), time.perf_counter()

    def save(rows, sections, section_seconds, complete=False) -> float:
        load_after = os.getloadavg()[0]
        write_json(out, {"command": shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]]), "complete": complete,
                         "quick": is_quick, "config": vars(config),
                         "machine": {**before, "load_average_1min_after": load_after},
                         "seconds": time.perf_counter() - start, "section_seconds": section_seconds,
                         "rows": [r.to_json() for r in rows], "sections": sections})
        return load_after

    rows, sections, section_seconds = run_suite(config, only or tuple(SECTIONS),
                                                echo=lambda line: click.echo(line, err=True), after_section=save)
    load_after = save(rows, sections, section_seconds, complete=True)
    click.echo(table(rows))
    click.echo(f"\n{before['cpu']}, {before['cpus']} CPUs ({before['torch_cpu_capability']}), torch {before['torch']}, "
               f"ONNX Runtime {before['onnxruntime']}, {threads} threads; {(time.perf_counter() - start) / 60:.1f} min; "
               f"load average {before['load_average_1min']:.1f} before, {load_after:.1f} after")
    click.echo(f"results: {out}", err=True)
    write_page(out, markdown)
    failed = [name for name, section in sections.items() if "error" in section]
    if failed:
        raise click.ClickException(f"section(s) failed: {', '.join(failed)} (see the table)")


def write_page(source: Path, markdown: Path | None) -> None:
    """The markdown page of the run saved at `source`, written through a temp file."""
    if markdown is None:
        return
    try:
        text = page(source)
        with atomic_write(markdown, "w", fsync=False) as f:
            f.write(text)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"--markdown {markdown}: cannot write it ({e.strerror})") from None
    click.echo(f"page: {markdown}", err=True)


if __name__ == "__main__":
    main()
