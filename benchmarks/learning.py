"""How well training learns: recipes side by side over seeds, on tasks with a known answer.

    python -m benchmarks.learning --quick                     # exploration: 2 seeds, short runs
    python -m benchmarks.learning                             # the record: 8 seeds, full budgets
    python -m benchmarks.learning --tasks photo_hue_sat --recipes cgan --variant lr5e-4:lr=5e-4 --seeds 4
    python -m benchmarks.learning --seeds 0 --pool A.json --pool B.json --markdown docs/learning.md

Tasks: `builtin` is `cgan-train`'s built-in run (synthetic shapes through a colour transform, its
default budget); `photo_<grade>` is the real-photo task of benchmarks.photo_task (resnet_6blocks,
ngf = ndf = 16, load 80, crop 64, 2,000 steps). Per run: PSNR of G and F against the known answers,
the gain over doing nothing, whether the run is below the task's floor (a poor mode), steps/s.
Per recipe and task: means with 2 standard errors over seeds. Every run is its own process with
one torch thread, `--jobs` at a time; the JSON of every run is saved after each one, and
`--markdown` writes the summary and every run as a page (docs/learning.md) from that JSON.
"""
from __future__ import annotations

import json
import math
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import torch

from cgan.infer.files import atomic_write
from cgan.train.checkpoint import generator_from_checkpoint, load_checkpoint
from cgan.train.config import make_config
from cgan.train.known_answer import mean_psnr
from cgan.train.loop import run_training

from .child import run_json
from .photo_task import GRADES, held_out, write_dataset
from .train_known_answer import builtin_run, parse_overrides

DEFAULT_OUT = Path("bench_out/learning.json")
DATA_DIR = Path("bench_out/learning_data")


@dataclass(frozen=True)
class Task:
    overrides: dict  # config of every run of this task
    floor_db: float  # every seed should gain at least this much over doing nothing (both G and F)
    goal_mean_db: float  # the mean gain should reach this


PHOTO_CONFIG = {"generator": "resnet_6blocks", "discriminator": "basic", "ngf": 16, "ndf": 16, "load_size": 80,
                "crop_size": 64, "max_steps": 2000, "workers": 0, "threads": 1, "device": "cpu"}
TASKS: dict[str, Task] = {
    "builtin": Task({"device": "cpu", "threads": 1}, floor_db=12.0, goal_mean_db=12.0),
    **{f"photo_{grade}": Task(PHOTO_CONFIG, floor_db=3.0, goal_mean_db=5.0) for grade in GRADES},
}
# Recipes compared by default; "official" restores the official defaults exactly.
RECIPES: dict[str, dict] = {"cgan": {}, "official": {"recipe": "official"}}


def one_run(task: str, seed: int, overrides: dict) -> dict:
    """Train one run of `task` with `seed` and config `overrides`; its known-answer figures."""
    config = {**TASKS[task].overrides, **overrides, "seed": seed}
    if task == "builtin":
        result = builtin_run(config)
        figures = {k: result.known_answer[k] for k in ("psnr_G", "psnr_F", "baseline_G", "baseline_F")}
    else:
        grade = task.removeprefix("photo_")
        data = write_dataset(DATA_DIR / grade, grade)
        with tempfile.TemporaryDirectory() as runs:
            result = run_training(make_config({}, {**config, "data": str(data), "runs_dir": runs}), progress=False)
            state = load_checkpoint(result.path / "checkpoints" / "latest.pt")
            G, F = generator_from_checkpoint(state, "G"), generator_from_checkpoint(state, "F")
        x, y = (torch.from_numpy(a) for a in held_out(grade))
        with torch.no_grad():
            figures = {"psnr_G": mean_psnr(G(x), y), "psnr_F": mean_psnr(F(y), x), "baseline_G": mean_psnr(x, y),
                       "baseline_F": mean_psnr(y, x)}
    return {"task": task, "seed": seed, "cpu": cpu_name(), "steps": result.steps,
            "steps_per_s": result.steps / result.seconds,
            **figures, "gain_G": figures["psnr_G"] - figures["baseline_G"],
            "gain_F": figures["psnr_F"] - figures["baseline_F"]}


@dataclass(frozen=True)
class Spread:
    mean: float
    se2: float  # two standard errors of the mean (0 with one seed)

    @classmethod
    def of(cls, values: list[float]) -> "Spread":
        se2 = 2 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), se2)

    def __str__(self) -> str:
        return f"{self.mean:6.2f} ± {self.se2:4.2f}"


def below_floor(run: dict) -> bool:
    floor = TASKS[run["task"]].floor_db
    return min(run["gain_G"], run["gain_F"]) < floor


def summarize(runs: list[dict]) -> list[str]:
    """One line per (task, recipe): means ± 2 SE over seeds, poor-mode seeds, steps/s, target verdicts."""
    lines = [f"{'task':22} {'recipe':14} {'seeds':>5} {'PSNR G':>13} {'PSNR F':>13} {'gain G':>13} "
             f"{'gain F':>13} {'step/s':>6}  poor-mode seeds; targets"]
    keys = sorted({(r["task"], r["recipe"]) for r in runs}, key=lambda k: (k[0], k[1] != "cgan", k[1]))
    for task, recipe in keys:
        group = sorted((r for r in runs if (r["task"], r["recipe"]) == (task, recipe)), key=lambda r: r["seed"])
        poor = [r["seed"] for r in group if below_floor(r)]
        gains = [min(r["gain_G"], r["gain_F"]) for r in group]
        t = TASKS[task]
        verdict = (f"mean gain ≥ {t.goal_mean_db:g}: "
                   f"{'met' if min(Spread.of([r['gain_G'] for r in group]).mean, Spread.of([r['gain_F'] for r in group]).mean) >= t.goal_mean_db else 'NOT met'}"
                   f", every seed ≥ {t.floor_db:g}: {'met' if min(gains) >= t.floor_db else 'NOT met'}")
        cells = [str(Spread.of([r[m] for r in group])) for m in ("psnr_G", "psnr_F", "gain_G", "gain_F")]
        lines.append(f"{task:22} {recipe:14} {len(group):5} {' '.join(f'{c:>13}' for c in cells)} "
                     f"{statistics.fmean(r['steps_per_s'] for r in group):6.2f}  "
                     f"{','.join(map(str, poor)) or '-'}; {verdict}")
    return lines


def cpu_name() -> str:
    """The CPU's model name and what torch's CPU kernels use on it (e.g. AVX2, AVX512)."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, torch {torch.backends.cpu.get_cpu_capability()}"


def markdown(runs: list[dict]) -> str:
    """The page of docs/learning.md: the summary, then every run; figures from the runs' JSON only."""
    cpus = sorted({r.get("cpu", "unknown CPU") for r in runs})
    lines = ["# Learning benchmark", "",
             "Generated by `python -m benchmarks.learning --markdown` from the runs' JSON; what the tasks are and "
             "why the recipe is what it is: [recipe.md](recipe.md).", "",
             f"CPU: {'; '.join(cpus)}. One torch thread per run, fp32 (what `--precision auto` picks on a CPU "
             "without native bf16) unless a recipe's settings name another precision. Runs side by side share "
             "the machine, so step/s compares only runs made at the same time.", "",
             "PSNR in dB on [0, 1] images, mean ± 2 standard errors over seeds; gain = PSNR − PSNR of doing nothing; "
             "poor-mode seeds gain less than the task's floor in G or F.", "",
             "| recipe | settings beside the task's |", "| --- | --- |",
             *(f"| {name} | {', '.join(f'`{k}={json.dumps(v)}`' for k, v in overrides.items()) or 'the defaults'} |"
               for name, overrides in sorted({r["recipe"]: r.get("overrides", {}) for r in runs}.items())),
             "", "```", *summarize(runs), "```", "",
             "| task | recipe | seed | steps | PSNR G | PSNR F | do-nothing G | do-nothing F | step/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(runs, key=lambda r: (r["task"], r["recipe"], r["seed"])):
        lines.append(f"| {r['task']} | {r['recipe']} | {r['seed']} | {r['steps']} | {r['psnr_G']:.2f} | "
                     f"{r['psnr_F']:.2f} | {r['baseline_G']:.2f} | {r['baseline_F']:.2f} | {r['steps_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


def parse_variant(text: str) -> tuple[str, dict]:
    """NAME:key=value,key=value (values read as JSON when they parse) -> (NAME, overrides)."""
    name, _, pairs = text.partition(":")
    return name, parse_overrides(tuple(filter(None, pairs.split(","))), "--variant")


@click.command()
@click.option("--tasks", default=",".join(TASKS), show_default=True, help="Comma-separated tasks.")
@click.option("--recipes", default=",".join(RECIPES), show_default=True, help="Comma-separated recipes.")
@click.option("--variant", "variants", multiple=True, help="An extra recipe, NAME:key=value,... (repeatable).")
@click.option("--seeds", default=8, show_default=True, help="Seeds per task and recipe.")
@click.option("--first-seed", default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Override every task's step budget (exploration).")
@click.option("--jobs", default=2, show_default=True, help="Runs at a time (one torch thread each).")
@click.option("--quick", is_flag=True, help="2 seeds, 300 steps: a smoke run, figures meaningless.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--pool", "pool_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An earlier --out file whose runs join these in the summary (repeatable).")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the summary and every run (with --pool: the pooled ones) as a markdown page.")
@click.option("--run", "internal", hidden=True, default=None, help="Internal: JSON of one run's arguments.")
def main(tasks, recipes, variants, seeds, first_seed, steps, jobs, quick, out, pool_files, markdown_file,
         internal) -> None:
    """Train every recipe on every task over seeds; print each run, then means ± 2 SE and the targets."""
    if internal:
        args = json.loads(internal)
        click.echo(json.dumps(one_run(args["task"], args["seed"], args["overrides"])))
        return
    if quick:
        seeds, steps = 2, steps or 300
    chosen = {name: RECIPES[name] for name in filter(None, recipes.split(","))}
    chosen.update(parse_variant(v) for v in variants)
    unknown = [t for t in tasks.split(",") if t not in TASKS]
    if unknown:
        raise click.BadParameter(f"unknown task {unknown[0]!r}; choose from {', '.join(TASKS)}", param_hint="--tasks")
    cases = [(task, recipe, seed) for task in tasks.split(",") for recipe in chosen
             for seed in range(first_seed, first_seed + seeds)]
    runs: list[dict] = []
    for path in pool_files:
        runs += json.loads(path.read_text())["runs"]

    def run_case(case) -> dict:
        task, recipe, seed = case
        overrides = {**chosen[recipe], **({"max_steps": steps} if steps else {})}
        arguments = json.dumps({"task": task, "seed": seed, "overrides": overrides})
        result = {**run_json("benchmarks.learning", ["--run", arguments], f"{task} {recipe} seed {seed}"),
                  "recipe": recipe, "overrides": overrides}
        click.echo(f"{task} {recipe} seed {seed}: G {result['psnr_G']:.2f} dB ({result['gain_G']:+.2f}), "
                   f"F {result['psnr_F']:.2f} dB ({result['gain_F']:+.2f}), {result['steps_per_s']:.2f} step/s")
        runs.append(result)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out, "w", fsync=False) as f:
            json.dump({"runs": runs}, f, indent=1)
        return result

    for grade in {t.removeprefix("photo_") for t in tasks.split(",") if t.startswith("photo_")}:
        write_dataset(DATA_DIR / grade, grade)  # once, before the runs that share it
    if cases:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(run_case, cases))
    if not runs:
        raise click.ClickException("no runs to summarize: give --seeds N or --pool FILE")
    for line in summarize(runs):
        click.echo(line)
    if markdown_file:
        with atomic_write(markdown_file, "w", fsync=False) as f:
            f.write(markdown(runs))


if __name__ == "__main__":
    main()
