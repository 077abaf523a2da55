"""The figures that docs/recipe.md and docs/training.md quote from the learning benchmark's committed JSON: the
record over seeds (docs/learning/record.json) and the one- and two-seed trials that chose the recipe
(docs/learning/exploration.json). The reasoning is the pages' own; each figure sits in a named block.

    python -m benchmarks.learning_quotes --markdown docs/recipe.md --markdown docs/training.md
"""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import click

from .doc_blocks import update_page
from .learning import FIXED_TASKS
from .spans import signed, span

LEARNING = Path("docs/learning")
ANCHOR_PROBES = LEARNING / "colour_anchor_probes.json"  # the colour fit alone by the anchor's weight
FIT_PROBES = LEARNING / "colour_fit_probes.json"  # the one-seed runs that chose colour_fit and colour_match
SPATIAL_PROBES = LEARNING / "spatial_probes.json"  # trials for spatial looks, left out
DEV = LEARNING / "generalization_dev.json"  # the dev draws without the fit, and their references
HELDOUT = LEARNING / "generalization_heldout.json"  # the held-out draws, where the anchor was turned down
MATRIX, HUE, BUILTIN = "photo_matrix_curve", "photo_hue_sat", "builtin"
TASK_NAMES = {MATRIX: "colour matrix", HUE: "hue and saturation", BUILTIN: "built-in"}
POINTWISE_TRIAL = re.compile(r"pw[0-9]+$")  # the colour map's rate alone, as a multiple of lr


class Runs:
    """The runs (and references) of one record, by recipe and task."""

    def __init__(self, record: dict):
        self.runs = record["runs"]
        self.references = record.get("references", [])

    def of(self, recipe: str, task: str) -> list[dict]:
        runs = [r for r in self.runs if r["recipe"] == recipe and r["task"] == task]
        if not runs:
            raise ValueError(f"no runs of {recipe} on {task}")
        return runs

    def mean(self, recipe: str, task: str, key: str) -> float:
        return statistics.fmean(r[key] for r in self.of(recipe, task))

    def seed0(self, recipe: str, task: str, key: str = "gain_G") -> float:
        return next(r[key] for r in self.of(recipe, task) if r["seed"] == 0)

    def seconds(self, recipe: str, task: str) -> float:
        """Median seconds of a run (steps over step rate)."""
        return statistics.median(r["steps"] / r["steps_per_s"] for r in self.of(recipe, task))


def gains(runs: Runs, recipe: str, task: str, digits: int = 2) -> str:
    """Mean gain of G / F over the seeds, as `+5.28 / +5.27`."""
    return " / ".join(signed(runs.mean(recipe, task, f"gain_{d}"), digits) for d in "GF")


def change(db: float) -> str:
    return f"{'gained' if db >= 0 else 'lost'} {abs(db):.1f} dB"


def count_word(n: int) -> str:
    return {1: "one", 2: "two", 3: "three"}.get(n, str(n))


def judge_table(record: Runs) -> str:
    lines = ["| task | judge at 10 x | no judge | worst seed with the judge |", "| --- | --- | --- | --- |"]
    for task, name in ((MATRIX, "colour matrix and tone curve"), (HUE, "hue rotation and saturation"),
                       (BUILTIN, "built-in")):
        worst = " / ".join(signed(min(r[f"gain_{d}"] for r in record.of("cgan_no_fit", task))) for d in "GF")
        lines.append(f"| {name} | {gains(record, 'cgan_no_fit', task)} | {gains(record, 'cgan_no_judge', task)} | {worst} |")
    return "\n".join(lines)


def anchor_table(probes: dict) -> str:
    """The colour fit alone on dev draws, one row per anchor weight: gains of G / F, and on the task with
    no look the PSNR against the untouched pictures (doing nothing is exact there)."""
    rows = probes["fit_only"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    cells = {(r["task"], r["anchor"]): r for r in rows}
    names = {"null": "no look (PSNR)"}
    lines = ["| anchor | " + " | ".join(names.get(t, t) for t in tasks) + " |",
             "| --- |" + " --- |" * len(tasks)]
    for anchor in sorted({r["anchor"] for r in rows}):
        row = []
        for task in tasks:
            r = cells.get((task, anchor))
            if r is None:
                row.append("")
            elif "psnr_G" in r:
                row.append(f"{r['psnr_G']:.1f} / {r['psnr_F']:.1f} dB")
            else:
                row.append(f"{signed(r['gain_G'] + 0.0)} / {signed(r['gain_F'] + 0.0)}")  # + 0.0: no −0.00
        lines.append(f"| {anchor:g} | " + " | ".join(row) + " |")
    return "\n".join(lines)


ANCHOR_RUNS = {"no_anchor": "no anchor (the recipe before)", "anchor_fit_and_match": "0.15 in the fit and in matching",
               "anchor_fit": "0.15 in the fit"}


# Rows of the colour-fit probe table: (row name, probe file, recipe in it); the first and last rows
# come from the dev draws' record (the recipe without the fit, and the unpaired oracle).
FIT_PROBE_ROWS = (("fit, then the GAN alone", "fit_colour", "fit600"),
                  ("fit, then the colour map at the spatial net's rate", "fit_colour", "fit600_slow"),
                  ("fit, then the colour map at the spatial net's rate", "fit_builtin", "fit600_slow"),
                  ("fit, then matching at weight 10", "fm", "fm10"),
                  ("fit, then matching at weight 3", "fm", "fm3"),
                  ("fit, then matching at weight 3", "fm_builtin", "fm3"),
                  ("the same, the fit from the nearest channel order (the default)", "fm2", "fm3"))
FIT_PROBE_TASKS = ("colour_0", "colour_1", "colour_2", "colour_3", BUILTIN)


def fit_probe_table(probes: dict, dev: dict, record: Runs) -> str:
    """The one-seed probes that chose colour_fit and colour_match, gains of G / F by dev draw (seeds
    joined by commas where there are several), between the recipe without the fit and the oracle."""
    def cell(runs: list[dict]) -> str:
        digits = 1 if len(runs) > 1 else 2
        return ", ".join(f"{signed(r['gain_G'], digits)} / {signed(r['gain_F'], digits)}"
                         for r in sorted(runs, key=lambda r: r["seed"]))

    rows: dict[str, dict[str, str]] = {}
    no_fit = {r["task"]: cell([r]) for r in dev["runs"] if r["recipe"] == "cgan_no_fit"}
    no_fit[BUILTIN] = f"{gains(record, 'cgan_no_fit', BUILTIN, 1)} ({len(record.of('cgan_no_fit', BUILTIN))} seeds)"
    rows["without the fit (`cgan_no_fit`)"] = no_fit
    for name, file, recipe in FIT_PROBE_ROWS:
        for task in FIT_PROBE_TASKS:
            runs = [r for r in probes["files"][file] if r["recipe"] == recipe and r["task"] == task
                    and (task != BUILTIN or file != "fm")]  # fm's built-in run is fm_builtin's seed 0
            if runs:
                rows.setdefault(name, {})[task] = cell(runs)
    rows["oracle (the grade's own family, fitted)"] = {r["task"]: cell([r]) for r in dev["references"]
                                                        if r["kind"] == "oracle"}
    titles = {BUILTIN: "built-in"}
    lines = ["| settings | " + " | ".join(titles.get(t, t) for t in FIT_PROBE_TASKS) + " |",
             "| --- |" + " --- |" * len(FIT_PROBE_TASKS)]
    lines += [f"| {name} | " + " | ".join(cells.get(t, "") for t in FIT_PROBE_TASKS) + " |"
              for name, cells in rows.items()]
    return "\n".join(lines)


SPATIAL_RUNS = {"cgan": "the recipe", "texture_match": "patch matching (weight 10)",
                "hold": "a fit kept as far as half the pictures confirm", "holdm": "the same, matching weighted alike"}


def spatial_runs_table(probes: dict, anchor_probes: dict) -> str:
    """Whole runs of the spatial trials on dev draws (one seed) where the recipe ran too: gains of G / F;
    the recipe's own run on a draw comes from the anchor probes' runs without an anchor where these
    have none."""
    runs = probes["runs"] + [{**r, "recipe": "cgan"} for r in anchor_probes["runs"] if r["recipe"] == "no_anchor"]
    cells: dict[tuple[str, str], dict] = {}
    for r in runs:
        cells.setdefault((r["recipe"], r["task"]), r)
    tasks = [t for t in dict.fromkeys(r["task"] for r in probes["runs"]) if ("cgan", t) in cells]
    lines = ["| settings | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for recipe, name in SPATIAL_RUNS.items():
        row = [f"{signed(c['gain_G'])} / {signed(c['gain_F'])}" if (c := cells.get((recipe, t))) else "" for t in tasks]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def filter_dev_table(probes: dict, dev: dict) -> str:
    """The dev draws that chose the spatial filter (one seed): gains of G / F without it (the recipe's
    runs in the probes, else in the dev record) and with it."""
    with_filter = [r for r in probes["runs"] if r["recipe"] == "spatial_filter"]
    without = {r["task"]: r for r in dev["runs"] + probes["runs"] if r["recipe"] == "cgan"}
    tasks = [r["task"] for r in with_filter]
    show = lambda r: f"{signed(r['gain_G'])} / {signed(r['gain_F'])}" if r else ""  # noqa: E731
    return "\n".join(["| spatial filter | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks),
                      "| none | " + " | ".join(show(without.get(t)) for t in tasks) + " |",
                      "| 7 x 7 | " + " | ".join(show(r) for r in with_filter) + " |"])


def decomposition_gap(probes: dict) -> str:
    """How far a trained G (and F) scored from its colour map alone, at most, in the decomposed runs."""
    gap = max(abs(row[d]["whole"] - row[d]["colours_only"]) for row in probes["decomposition"] for d in "GF")
    return f"{gap:.2f} dB"


def filter_heldout(heldout: Runs) -> dict[str, str]:
    """The held-out draws with the spatial filter (`cgan_filter`), seed 0: on spatial draws against the
    recipe as measured on all of them (`cgan_anchor`, whose anchored colour fit is the only other
    difference), on colour draws against the default (`cgan`); mean gains of G / F."""
    def means(recipe: str, family: str) -> tuple[str, list[dict]]:
        runs = [r for r in heldout.runs if r["recipe"] == recipe and r["seed"] == 0 and r["task"].startswith(family)]
        return " / ".join(signed(statistics.fmean(r[f"gain_{d}"] for r in runs)) for d in "GF") + " dB", runs

    (spatial, runs), (spatial_before, _) = means("cgan_filter", "spatial_"), means("cgan_anchor", "spatial_")
    (colour, colour_runs), (colour_before, _) = means("cgan_filter", "colour_"), means("cgan", "colour_")
    below = sum(min(r["gain_G"], r["gain_F"]) < 0 for r in runs)
    ceilings = [r for r in heldout.references if r["kind"] == "paired" and r.get("overrides") == {"spatial_filter": 7}]
    ceiling = " / ".join(signed(statistics.fmean(r[f"gain_{d}"] for r in ceilings)) for d in "GF")
    lower = sum(r["gain_G"] < heldout.seed0("cgan", r["task"]) for r in colour_runs)
    return {"filter_spatial": (f"over {len(runs)} spatial draws, a mean gain of {spatial} against {spatial_before} "
                               f"without it (`cgan_anchor`, whose anchored colour fit is the only other difference); "
                               f"{count_word(below)} of them still end below doing nothing in G or F, and the same "
                               f"nets trained paired gain {ceiling} dB there, so the filter lets the nets carry far "
                               f"more than the unpaired signal teaches them"),
            "filter_colour": (f"over {len(colour_runs)} colour draws (seed 0), {colour} against the default's "
                              f"{colour_before}, "
                              f"G lower on {lower} of them")}


def held_out_share_table(probes: dict) -> str:
    """The colour fit alone on dev draws: the whole fit against the share of it that the held-out half
    of the pictures chose (gain of G / F; PSNR against the untouched pictures on the task with no look)."""
    lines = ["| draw | whole fit | share kept (G / F) | fit kept at that share |", "| --- | --- | --- | --- |"]
    for row in probes["fit_only"]:
        null = row["task"] == "null"
        shown = (lambda g: f"{100 + g:.1f}") if null else (lambda g: signed(g + 0.0))
        whole = " / ".join(shown(row[d]["gain"]["1.0"]) for d in "GF")
        kept = " / ".join(shown(row[d]["gain"][str(float(row[d]["alpha"]))]) for d in "GF")
        shares = " / ".join(f"{row[d]['alpha']:.0%}" for d in "GF")
        unit = " dB" if null else ""
        lines.append(f"| {'no look (PSNR)' if null else row['task']} | {whole}{unit} | {shares} | {kept}{unit} |")
    return "\n".join(lines)


def anchor_runs_table(probes: dict) -> str:
    """Whole training runs on dev draws (one seed) by where the anchor acts: gains of G / F."""
    runs = probes["runs"]
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    cells = {(r["recipe"], r["task"]): r for r in runs}
    lines = ["| anchor | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for recipe, name in ANCHOR_RUNS.items():
        row = [f"{signed(c['gain_G'])} / {signed(c['gain_F'])}" if (c := cells.get((recipe, t))) else "" for t in tasks]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def anchor_heldout(heldout: Runs) -> dict[str, str]:
    """The held-out colour draws with the anchor (`cgan_anchor`) against the default (`cgan`), seed 0."""
    base = "cgan"
    tasks = sorted({r["task"] for r in heldout.runs if r["recipe"] == "cgan_anchor" and r["task"].startswith("colour")})
    both = lambda recipe, task: heldout.seed0(recipe, task, "gain_G") + heldout.seed0(recipe, task, "gain_F")  # noqa: E731
    worse = sum(both("cgan_anchor", t) < both(base, t) for t in tasks)
    means = {recipe: " / ".join(signed(statistics.fmean(heldout.seed0(recipe, t, f"gain_{d}") for t in tasks))
                                for d in "GF") for recipe in (base, "cgan_anchor")}
    return {"anchor_worse": f"{worse} of the {len(tasks)}",
            "anchor_means": f"{means['cgan_anchor']} dB against {means[base]} dB",
            "anchor_hue_before": gains_seed0(heldout, base, "colour_1006"),
            "anchor_hue_after": gains_seed0(heldout, "cgan_anchor", "colour_1006")}


def anchor_null_runs(probes: dict) -> str:
    """Whole runs on the task with no look: PSNR against the untouched pictures, without and with the anchor."""
    by_anchor = {r["anchor"]: r for r in probes["null_runs"]}
    return " and ".join(f"{by_anchor[a]['psnr_G']:.1f} / {by_anchor[a]['psnr_F']:.1f} dB {name}"
                        for a, name in ((0.0, "without the anchor"), (0.15, "with it at 0.15")))


def gains_seed0(runs: Runs, recipe: str, task: str) -> str:
    return " / ".join(signed(runs.seed0(recipe, task, f"gain_{d}"), 1) for d in "GF") + " dB"


def pointwise_rates(trials: Runs, task: str) -> str:
    """`1 x gained 6.3 dB, 3 x 8.6 dB, ... and 300 x 9.8 dB`: seed 0's gain of G at each rate tried on `task`."""
    found = sorted({r["overrides"]["pointwise_lr"] for r in trials.runs
                    if POINTWISE_TRIAL.match(r["recipe"]) and r["task"] == task})
    parts = [f"{rate:g} x {trials.seed0(f'pw{rate:g}', task):.1f} dB" for rate in found]
    parts[0] = parts[0].replace(" x ", " x gained ", 1)
    return ", ".join(parts[:-1]) + f" and {parts[-1]}"


def quick_preset(record: dict, exploration: dict) -> dict[str, str]:
    """docs/training.md's figures of the `quick` preset, which is the photo tasks' setting."""
    runs = Runs(record)
    photo = [r for task in (HUE, MATRIX) for r in runs.of("cgan_no_fit", task)]
    rates = [r["steps_per_s"] for r in photo]
    return {
        "quick_gain_hue": f"{signed(runs.mean('cgan_no_fit', HUE, 'gain_G'), 1)} dB",
        "quick_gain_matrix": f"{signed(runs.mean('cgan_no_fit', MATRIX, 'gain_G'), 1)} dB",
        "quick_worst": f"{signed(math.floor(min(min(r['gain_G'], r['gain_F']) for r in photo)), 0)} dB",
        "quick_pace": (f"{span(rates, '{:.1f}'.format)} step/s on one thread of an {photo[0]['cpu'].split(',')[0]} "
                       f"({span((r['steps'] / rate / 60 for r, rate in zip(photo, rates)), '{:.0f}'.format)} "
                       f"minutes for {photo[0]['steps']:,} steps)"),
    }


def recipe(record: dict, exploration: dict) -> dict[str, str]:
    """docs/recipe.md's figures."""
    runs, trials = Runs(record), Runs(exploration)
    anchor_probes = json.loads(ANCHOR_PROBES.read_text())
    spatial_probes = json.loads(SPATIAL_PROBES.read_text())
    seeds = len(runs.of("cgan_no_fit", MATRIX))
    pw1 = trials.seed0("pw1", BUILTIN)  # the trials of other settings compare with the colour map at 1 x
    versus_pw1 = lambda recipe: trials.seed0(recipe, BUILTIN) - pw1  # noqa: E731
    pw30 = trials.seed0("pw30", MATRIX)
    ema_gap = [runs.mean("cgan_no_judge", t, f"gain_{d}") - runs.mean("cgan_ema", t, f"gain_{d}")
               for t in TASK_NAMES for d in "GF"]
    poor = [r for r in runs.of("cgan_judge30", BUILTIN)
            if min(r["gain_G"], r["gain_F"]) < FIXED_TASKS[BUILTIN].floor_db]
    worst = min(runs.of("cgan_judge30", BUILTIN), key=lambda r: r["gain_G"])
    bf16_slower = (statistics.fmean(r["steps_per_s"] for r in runs.of("cgan_no_fit", BUILTIN))
                   / statistics.fmean(r["steps_per_s"] for r in runs.of("cgan_bf16", BUILTIN)))
    photo_minutes = statistics.fmean(runs.seconds("cgan_no_fit", t) for t in (MATRIX, HUE)) * bf16_slower / 60
    colour_map_added = trials.mean("res_id0_pw", BUILTIN, "gain_G") - trials.mean("res_id0", BUILTIN, "gain_G")
    time_vs_pw1 = lambda recipe: trials.seconds(recipe, BUILTIN) / trials.seconds("pw1", BUILTIN)  # noqa: E731
    return {
        "seeds": str(seeds),
        "res_change_spread": span((r["gain_G"] for r in trials.of("res_change_x1", BUILTIN)), "{:.0f}".format,
                                  " dB", sep=" and "),
        "colour_map_added": f"{colour_map_added:.1f} dB",
        "pointwise_rates_builtin": pointwise_rates(trials, BUILTIN),
        "pointwise_rates_matrix": pointwise_rates(trials, MATRIX),
        "ema_gap": span(ema_gap, "{:.1f}".format, " dB"),
        "ema_means": ", ".join(f"{TASK_NAMES[t]} {gains(runs, 'cgan_no_judge', t, 1)} against "
                               f"{gains(runs, 'cgan_ema', t, 1)}" for t in (BUILTIN, HUE, MATRIX)),
        "judge_table": judge_table(runs),
        "fit_probe_table": fit_probe_table(json.loads(FIT_PROBES.read_text()), json.loads(DEV.read_text()), runs),
        "anchor_table": anchor_table(anchor_probes),
        "spatial_runs_table": spatial_runs_table(spatial_probes, anchor_probes),
        "held_out_share_table": held_out_share_table(spatial_probes),
        "decomposition_gap": decomposition_gap(spatial_probes),
        **filter_heldout(Runs(json.loads(HELDOUT.read_text()))),
        "filter_dev_table": filter_dev_table(spatial_probes, json.loads(DEV.read_text())),
        "anchor_runs_table": anchor_runs_table(anchor_probes),
        "anchor_null_runs": anchor_null_runs(anchor_probes),
        **anchor_heldout(Runs(json.loads(HELDOUT.read_text()))),
        "judge30_matrix": gains(runs, "cgan_judge30", MATRIX),
        "judge30_poor": f"{count_word(len(poor))} built-in seed of {len(runs.of('cgan_judge30', BUILTIN))}",
        "judge30_worst": f"{signed(worst['gain_G'], 1)} / {signed(worst['gain_F'], 1)}",
        "matrix_do_nothing": f"{runs.mean('cgan_no_fit', MATRIX, 'baseline_G'):.1f} dB",
        "matrix_gain": gains(runs, "cgan_no_fit", MATRIX).replace("+", "") + " dB",
        "matrix_goal": f"{FIXED_TASKS[MATRIX].goal_mean_db:g} dB",
        "lower_cycle": change(trials.seed0("pw30_lambda_x5_lambda_y5", MATRIX) - pw30),
        "decaying_rate": change(trials.seed0("pw30_epochs3_epochs_decay2", MATRIX) - pw30),
        "slower_spatial": change(trials.seed0("pw60_lr0.0001_lr_d0.0002", MATRIX) - pw30),
        "higher_rate": f"{-versus_pw1('pw1_lr0.0005'):.1f} dB worse",
        "generator_rate": f"{versus_pw1('pw1_lr0.0004_lr_d0.0002'):.1f} dB better",
        "batch_gains": (f"{signed(versus_pw1('pw1_batch_size2_epochs6_epochs_decay6'), 1)} and "
                        f"{signed(versus_pw1('pw1_batch_size4_epochs12_epochs_decay12'), 1)} dB, at "
                        f"{time_vs_pw1('pw1_batch_size2_epochs6_epochs_decay6'):.1f}x and "
                        f"{time_vs_pw1('pw1_batch_size4_epochs12_epochs_decay12'):.1f}x the time"),
        "twice_the_steps": (f"{signed(versus_pw1('pw1_epochs6_epochs_decay6'), 1)} dB at "
                            f"{time_vs_pw1('pw1_epochs6_epochs_decay6'):.1f}x"),
        "no_pool": f"{signed(versus_pw1('pw1_pool_size0'), 1)} dB",
        "shorter_decay": f"{signed(versus_pw1('pw1_epochs5_epochs_decay1'), 1)} dB",
        "bf16_slower": f"{bf16_slower:.1f} times",
        "bf16_gains": f"{gains(runs, 'cgan_bf16', BUILTIN)} dB against fp32's {gains(runs, 'cgan_no_fit', BUILTIN)}",
        "bf16_worst": signed(math.floor(min(min(r["gain_G"], r["gain_F"]) for r in runs.of("cgan_bf16", BUILTIN))), 0),
        "bf16_photo_minutes": f"{photo_minutes:.0f} minutes",
    }


PAGES = {"recipe.md": recipe, "training.md": quick_preset}  # page name -> its figures from (record, exploration)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--record", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=LEARNING / "record.json", show_default=True, help="The record over seeds.")
@click.option("--exploration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=LEARNING / "exploration.json", show_default=True, help="The trials that chose the recipe.")
@click.option("--markdown", "pages", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"A page whose figures to rewrite; one of {', '.join(PAGES)} (repeatable).")
def main(record: Path, exploration: Path, pages: tuple[Path, ...]) -> None:
    """Rewrite the figures pages quote from the learning benchmark's JSON; measures nothing."""
    for page in pages:
        if page.name not in PAGES:
            raise click.ClickException(f"--markdown {page}: no figures for a page of that name; choose from "
                                       f"{', '.join(PAGES)}")
    for page in pages:
        try:
            found = PAGES[page.name](*(json.loads(path.read_text()) for path in (record, exploration)))
        except (ValueError, KeyError, TypeError, StopIteration) as e:
            raise click.ClickException(f"--record {record} / --exploration {exploration}: not the runs "
                                       f"{page.name} quotes ({type(e).__name__}: {e})") from None
        try:
            update_page(page, found)
        except ValueError as e:
            raise click.ClickException(f"--markdown {e}") from None
        click.echo(f"page: {page}", err=True)


if __name__ == "__main__":
    main()
