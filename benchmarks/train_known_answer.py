"""Train on the built-in known-answer dataset with a fixed budget; print accuracy, wall time and steps/s.

    python -m benchmarks.train_known_answer                       # the default `cgan-train` run
    python -m benchmarks.train_known_answer --set max_steps=600 --set ngf=8 --set threads=2

The run goes to a temporary runs folder (or --runs-dir) and is the same code path as `cgan-train`.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile

import click
import torch

from cgan.train.config import ConfigError, make_config
from cgan.train.known_answer import KnownAnswerDataset, format_report
from cgan.train.loop import RunResult, run_training


def parse_overrides(pairs: tuple[str, ...], option: str = "--set") -> dict:
    """`key=value` pairs; values are read as JSON when they parse (numbers, true, null), else as text."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: write key=value", param_hint=option)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def builtin_run(overrides: dict, runs_dir: str | None = None, echo=lambda line: None) -> RunResult:
    """The built-in known-answer run with config `overrides`, kept in `runs_dir` (default: a temporary
    folder, removed afterwards). Raises ConfigError for a bad override."""
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config({}, {"runs_dir": runs_dir or tmp, **overrides}, builtin_domains=KnownAnswerDataset.domains)
        return run_training(config, echo=echo, progress=False)


@click.command()
@click.option("--set", "pairs", multiple=True, help="A TrainConfig override, key=value (repeatable).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None, help="Keep the run here.")
def main(pairs: tuple[str, ...], runs_dir: str | None) -> None:
    """Train the built-in run and report translation accuracy against the do-nothing baseline."""
    try:
        result = builtin_run(parse_overrides(pairs), runs_dir, echo=click.echo)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    config, report = result.config, result.known_answer
    click.echo(format_report(report))
    summary = {
        "steps": result.steps,
        "wall_s": round(result.seconds, 1),
        "steps_per_s": round(result.steps / result.seconds, 3),
        "gain_G_db": round(report["psnr_G"] - report["baseline_G"], 2),
        "gain_F_db": round(report["psnr_F"] - report["baseline_F"], 2),
        **{k: round(v, 2) for k, v in report.items() if k.startswith(("psnr", "baseline"))},
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "config": {k: v for k, v in config.to_dict().items() if k in (
            "generator", "discriminator", "ngf", "ndf", "crop_size", "batch_size", "epochs", "epochs_decay",
            "max_dataset_size", "max_steps", "lr", "precision")},
    }
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    main()
