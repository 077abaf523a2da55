"""How well training learns: recipes side by side over seeds, on tasks with a known answer, beside
what each task allows.

    python -m benchmarks.learning --quick                     # exploration: 2 seeds, short runs
    python -m benchmarks.learning                             # the fixed tasks: 8 seeds, full budgets
    python -m benchmarks.learning --families colour,spatial --split dev --draws 4 --seeds 1 --recipes cgan
    python -m benchmarks.learning --tasks photo_hue_sat --recipes cgan --variant lr5e-4:lr=5e-4 --seeds 4
    python -m benchmarks.learning --seeds 0 --pool A.json --pool B.json --markdown docs/learning.md

Tasks: `builtin` is `cgan-train`'s built-in run (synthetic shapes through a colour transform, its
default budget); `photo_<grade>` is a fixed real-photo task of benchmarks.photo_task; `<family>_<seed>`
(e.g. `colour_1003`) is a look drawn from a family of benchmarks.task_families on the same photo
data. Photo tasks train resnet_6blocks, ngf = ndf = 16, load 80, crop 64, 2,000 steps, fp32. Per run:
PSNR of G and F against the known answers, the gain over doing nothing, steps/s. Per photo task and
seed, `--references` adds the paired ceiling and (colour grades) the unpaired oracle
(benchmarks.references), so that each gain is read as a share of what the task allows. Every run is
its own process with one torch thread, `--jobs` at a time; the record (runs, references, draws) is
saved after each one, and `--markdown` writes the page (benchmarks.learning_summary) from it.
"""
from __future__ import annotations

import json
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
import torch

from cgan.infer.files import atomic_write
from cgan.train.checkpoint import generator_from_checkpoint, load_checkpoint
from cgan.train.config import make_config
from cgan.train.known_answer import mean_psnr
from cgan.train.loop import run_training
from cgan.train.run_dir import RunDir

from .child import run_json
from .colour_grades import Grade
from .learning_summary import markdown, reference_key, references_by_key, summarize
from .photo_task import GRADES, Look, held_out, write_dataset
from .references import paired_ceiling, unpaired_oracle
from .task_families import FAMILIES, SPLITS, draw, draws, parse_task_name
from .train_known_answer import builtin_run, parse_overrides

DEFAULT_OUT = Path("bench_out/learning.json")
DATA_DIR = Path("bench_out/learning_data")


@dataclass(frozen=True)
class Task:
    overrides: dict  # config of every run of this task
    look: Look | None = None  # photo tasks: what Y holds (None: the built-in run)
    floor_db: float | None = None  # every seed should gain at least this much over doing nothing (G and F)
    goal_mean_db: float | None = None  # the mean gain should reach this


PHOTO_CONFIG = {"generator": "resnet_6blocks", "discriminator": "basic", "ngf": 16, "ndf": 16, "load_size": 80,
                "crop_size": 64, "max_steps": 2000, "workers": 0, "threads": 1, "device": "cpu",
                "precision": "fp32"}
FIXED_TASKS: dict[str, Task] = {
    "builtin": Task({"device": "cpu", "threads": 1, "precision": "fp32"}, floor_db=12.0, goal_mean_db=12.0),
    **{f"photo_{grade}": Task(PHOTO_CONFIG, look, floor_db=3.0, goal_mean_db=5.0) for grade, look in GRADES.items()},
}
# What the recipe may be tuned on: the fixed tasks and the dev draws; held-out draws are only reported.
CHOSEN_ON = [*FIXED_TASKS, *(f"{family}_{SPLITS['dev'][0]}..{SPLITS['dev'][-1]}" for family in FAMILIES)]
# Choices that held-out draws informed after all (each kept an option the dev draws had chosen from
# the default).
HELDOUT_INFORMED = ["colour_1000..1007 turned down --colour-anchor 0.15 (recipe cgan_anchor)",
                    "colour_1000..1007 kept --spatial-filter 7 off by default (recipe cgan_filter)"]
# Recipes compared by default; "official" restores the official defaults exactly.
RECIPES: dict[str, dict] = {"cgan": {}, "official": {"recipe": "official"}}
REFERENCES = ("paired", "oracle")


def task(name: str) -> Task:
    """A fixed task by name, or a drawn one (`colour_1003`). Raises ValueError naming the choices."""
    if name in FIXED_TASKS:
        return FIXED_TASKS[name]
    drawn = parse_task_name(name)
    if drawn is None:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(FIXED_TASKS)} or FAMILY_SEED with a "
                         f"family of {', '.join(FAMILIES)} (e.g. colour_1000)")
    return Task(PHOTO_CONFIG, draw(*drawn).look)


def floors(name: str) -> tuple[float | None, float | None]:
    t = task(name)
    return t.floor_db, t.goal_mean_db


def photo_config(name: str, seed: int, overrides: dict):
    """The TrainConfig of a photo task's run, on its data folder (written once)."""
    data = write_dataset(DATA_DIR / name, task(name).look)
    return make_config({}, {**task(name).overrides, **overrides, "seed": seed, "data": str(data)})


def _figures(task_name: str, seed: int, figures: dict) -> dict:
    return {"task": task_name, "seed": seed, "cpu": cpu_name(), **figures,
            "gain_G": figures["psnr_G"] - figures["baseline_G"], "gain_F": figures["psnr_F"] - figures["baseline_F"]}


def one_run(name: str, seed: int, overrides: dict) -> dict:
    """Train one unpaired run of task `name` with `seed` and config `overrides`; its known-answer figures."""
    t = task(name)
    if t.look is None:
        result = builtin_run({**t.overrides, **overrides, "seed": seed})
        figures = {k: result.known_answer[k] for k in ("psnr_G", "psnr_F", "baseline_G", "baseline_F")}
    else:
        with tempfile.TemporaryDirectory() as runs:
            config = photo_config(name, seed, {**overrides, "runs_dir": runs})
            result = run_training(config, progress=False)
            state = load_checkpoint(RunDir(result.path).latest_checkpoint)
            G, F = generator_from_checkpoint(state, "G"), generator_from_checkpoint(state, "F")
        x, y = (torch.from_numpy(a) for a in held_out(t.look))
        with torch.no_grad():
            figures = {"psnr_G": mean_psnr(G(x), y), "psnr_F": mean_psnr(F(y), x), "baseline_G": mean_psnr(x, y),
                       "baseline_F": mean_psnr(y, x)}
    return _figures(name, seed, {"steps": result.steps, "seconds": result.seconds,
                                 "steps_per_s": result.steps / result.seconds, **figures})


def paired_run(name: str, seed: int, overrides: dict) -> dict:
    """The paired ceiling of task `name` for the unpaired run with this seed and these overrides."""
    config = photo_config(name, seed, overrides)  # nothing is written to its runs folder
    return {"kind": "paired", **_figures(name, seed, paired_ceiling(config, task(name).look))}


def oracle_run(name: str, seed: int, overrides: dict) -> dict:
    """The unpaired oracle of task `name` (its data only: seed and overrides play no part)."""
    torch.set_num_threads(1)  # as every training run
    return {"kind": "oracle", **_figures(name, 0, unpaired_oracle(task(name).look))}


CASES: dict[str, Callable[[str, int, dict], dict]] = {"unpaired": one_run, "paired": paired_run, "oracle": oracle_run}


def references_for(name: str, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The references task `name` can have: none for the built-in run, the oracle for colour grades only."""
    look = task(name).look
    return tuple(k for k in kinds if look is not None and (k != "oracle" or isinstance(look, Grade)))


Case = tuple[str, str, str, int, dict]  # kind, task, recipe, seed, config overrides


def run_key(task_name: str, recipe: str, seed: int, overrides: dict) -> tuple:
    """What makes two unpaired runs the same run."""
    return task_name, recipe, seed, json.dumps(overrides, sort_keys=True)


def plan(names: list[str], recipes: dict[str, dict], seeds: range, steps: int | None, kinds: tuple[str, ...],
         known: set[tuple], done: set[tuple] = frozenset()) -> list[Case]:
    """Every run to make, in order: per task, each recipe's seeds, each unpaired run followed by its paired
    ceiling, then the task's oracle; references already `known` (by reference_key) and runs already
    `done` (by run_key) are not made again."""
    cases: list[Case] = []
    for name in names:
        wanted = references_for(name, kinds)
        for recipe, recipe_overrides in recipes.items():
            overrides = {**recipe_overrides, **({"max_steps": steps} if steps else {})}
            for seed in seeds:
                if run_key(name, recipe, seed, overrides) not in done:
                    cases.append(("unpaired", name, recipe, seed, overrides))
                if "paired" in wanted and reference_key("paired", name, seed, overrides) not in known:
                    cases.append(("paired", name, recipe, seed, overrides))
        if "oracle" in wanted and seeds and reference_key("oracle", name, 0, {}) not in known:
            cases.append(("oracle", name, "", 0, {}))
    return cases


def cpu_name() -> str:
    """The CPU's model name and what torch's CPU kernels use on it (e.g. AVX2, AVX512)."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, torch {torch.backends.cpu.get_cpu_capability()}"


def parse_variant(text: str) -> tuple[str, dict]:
    """NAME:key=value,key=value (values read as JSON when they parse) -> (NAME, overrides)."""
    name, _, pairs = text.partition(":")
    return name, parse_overrides(tuple(filter(None, pairs.split(","))), "--variant")


def split_list(text: str | None) -> list[str]:
    return [item for item in (text or "").split(",") if item]


def chosen_tasks(tasks: str | None, families: str | None, split: str, count: int) -> list[str]:
    """Task names from --tasks and the draws of --families (default: the fixed tasks, without --families)."""
    names = split_list(tasks) if tasks is not None else ([] if families else list(FIXED_TASKS))
    try:
        for name in names:
            task(name)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--tasks") from None
    try:
        names += [d.name for d in draws(split_list(families), split, count)]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--families/--split/--draws") from None
    return list(dict.fromkeys(names))


def read_record(path: Path) -> dict:
    """An earlier --out file. Raises click.BadParameter naming it when it is not one."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("runs"), list):
            raise ValueError("no list of runs")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise click.BadParameter(f"{path}: not a record of benchmarks.learning ({e})", param_hint="--pool") from None
    return record


@click.command()
@click.option("--tasks", default=None, help="Comma-separated tasks: builtin, photo_matrix_curve, photo_hue_sat, "
              "FAMILY_SEED (default: the fixed ones, unless --families is given).")
@click.option("--families", default=None, help=f"Comma-separated task families ({', '.join(FAMILIES)}): "
              "adds their first --draws draws of --split.")
@click.option("--split", type=click.Choice(list(SPLITS)), default="dev", show_default=True,
              help="dev draws may be tuned on; heldout draws are only reported.")
@click.option("--draws", "draw_count", default=4, show_default=True, help="Draws per family.")
@click.option("--recipes", default=",".join(RECIPES), show_default=True,
              help="Comma-separated recipes (a --variant's name may be among them).")
@click.option("--variant", "variants", multiple=True, help="An extra recipe, NAME:key=value,... (repeatable).")
@click.option("--references", "reference_kinds", default=",".join(REFERENCES), show_default=True,
              help="References per photo task and seed: paired, oracle (colour grades), or none.")
@click.option("--seeds", default=8, show_default=True, help="Seeds per task and recipe.")
@click.option("--first-seed", default=0, show_default=True)
@click.option("--steps", type=int, default=None, help="Override every task's step budget (exploration).")
@click.option("--jobs", default=2, show_default=True, help="Runs at a time (one torch thread each).")
@click.option("--quick", is_flag=True, help="2 seeds, 300 steps: a smoke run, figures meaningless.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--pool", "pool_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An earlier --out file whose runs and references join these (repeatable); runs and "
              "references found there are not measured again.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the page (with --pool: of the pooled runs) as markdown.")
@click.option("--run", "internal", hidden=True, default=None, help="Internal: JSON of one run's arguments.")
def main(tasks, families, split, draw_count, recipes, variants, reference_kinds, seeds, first_seed, steps, jobs,
         quick, out, pool_files, markdown_file, internal) -> None:
    """Train every recipe on every task over seeds, with the references; print each run, then the summary."""
    if internal:
        args = json.loads(internal)
        click.echo(json.dumps(CASES[args.get("kind", "unpaired")](args["task"], args["seed"], args["overrides"])))
        return
    if quick:
        seeds, steps = 2, steps or 300
    variant_recipes = dict(parse_variant(v) for v in variants)
    unknown_recipes = [r for r in split_list(recipes) if r not in RECIPES and r not in variant_recipes]
    if unknown_recipes:
        raise click.BadParameter(f"unknown recipe {unknown_recipes[0]!r}; choose from {', '.join(RECIPES)} or "
                                 "add one with --variant", param_hint="--recipes")
    kinds = tuple(k for k in split_list(reference_kinds) if k != "none")
    if any(k not in REFERENCES for k in kinds):
        raise click.BadParameter(f"{reference_kinds!r}: choose from {', '.join(REFERENCES)} or none",
                                 param_hint="--references")
    chosen = {name: RECIPES[name] for name in split_list(recipes) if name in RECIPES}
    chosen.update(variant_recipes)
    names = chosen_tasks(tasks, families, split, draw_count)
    record: dict = {"chosen_on": CHOSEN_ON, "heldout_informed": HELDOUT_INFORMED, "runs": [], "references": [],
                    "draws": {}}
    for path in pool_files:
        pooled = read_record(path)
        record["runs"] += pooled["runs"]
        record["references"] += pooled.get("references", [])
        record["draws"].update(pooled.get("draws", {}))
    record["draws"].update({n: draw(*parse_task_name(n)).look.describe() for n in names if parse_task_name(n)})

    cases = plan(names, chosen, range(first_seed, first_seed + seeds), steps, kinds,
                 set(references_by_key(record["references"])),
                 {run_key(r["task"], r["recipe"], r["seed"], r.get("overrides", {})) for r in record["runs"]})
    saving = threading.Lock()

    def run_case(case) -> dict:
        kind, name, recipe, seed, overrides = case
        arguments = json.dumps({"kind": kind, "task": name, "seed": seed, "overrides": overrides})
        label = f"{name} {kind} {recipe} seed {seed}"
        result = {**run_json("benchmarks.learning", ["--run", arguments], label), "recipe": recipe,
                  "overrides": overrides}
        click.echo(f"{label}: G {result['psnr_G']:.2f} dB ({result['gain_G']:+.2f}), "
                   f"F {result['psnr_F']:.2f} dB ({result['gain_F']:+.2f}), {result['seconds'] / 60:.1f} min")
        with saving:
            record["references" if kind != "unpaired" else "runs"].append(result)
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(out, "w", fsync=False) as f:
                json.dump(record, f, indent=1)
        return result

    for name in names:
        if task(name).look is not None:
            write_dataset(DATA_DIR / name, task(name).look)  # once, before the runs that share it
    if cases:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(run_case, cases))
    if not record["runs"]:
        raise click.ClickException("no runs to summarize: give --seeds N or --pool FILE")
    for line in summarize(record["runs"], floors):
        click.echo(line)
    if markdown_file:
        with atomic_write(markdown_file, "w", fsync=False) as f:
            f.write(markdown(record, floors))


if __name__ == "__main__":
    main()
