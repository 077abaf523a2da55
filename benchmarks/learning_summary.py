"""The learning benchmark's record read back: per-task summaries, the per-family headline against the
references, the targets, and the markdown page (docs/learning.md). Every figure comes from the
record's JSON; the prose says what is measured, never how much.

A record: {"chosen_on": [task names the recipe may be tuned on], "heldout_informed": [choices held-out
draws informed after all], "runs": [unpaired runs],
"references": [paired and oracle runs], "draws": {task name: its look}}.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Callable

from .task_families import FAMILIES, SPLITS, parse_task_name

SHARE_MIN_DB = 1.0  # a reference gaining less than this gives no share: the ratio would be mostly noise


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


@dataclass(frozen=True)
class FamilyTarget:
    reference: str  # "oracle" or "paired": the reference whose gain the shares are of
    mean_share: float  # the mean share over draws should reach this
    every_run: Callable[[float, float | None], bool]  # (gain, share) of one run (draw x seed) -> met
    every_run_text: str


FAMILY_TARGETS: dict[str, FamilyTarget] = {
    "colour": FamilyTarget("oracle", 0.8, lambda gain, share: share >= 0.5 if share is not None else gain >= 0,
                           "every run ≥ 50 % of its oracle's gain (without one, not below doing nothing)"),
    "spatial": FamilyTarget("paired", 0.3, lambda gain, share: gain >= 0, "no run below doing nothing"),
}


def reference_key(kind: str, task: str, seed: int, overrides: dict) -> tuple:
    """Which unpaired runs a reference serves: the paired ceiling trains with the run's config and seed;
    the oracle depends on the task's data only."""
    if kind == "oracle":
        return kind, task
    return kind, task, seed, json.dumps(overrides, sort_keys=True)


def references_by_key(references: list[dict]) -> dict[tuple, dict]:
    return {reference_key(r["kind"], r["task"], r["seed"], r.get("overrides", {})): r for r in references}


@dataclass(frozen=True)
class Scored:
    """One unpaired run of a drawn task beside its references (None where not measured)."""
    run: dict
    paired: dict | None
    oracle: dict | None

    def gain(self, which: str) -> float:
        return self.run[f"gain_{which}"]

    def reference_gain(self, kind: str, which: str) -> float | None:
        reference = getattr(self, kind)
        return None if reference is None else reference[f"gain_{which}"]

    def share(self, kind: str, which: str) -> float | None:
        """gain / the reference's gain; None without a reference or when it gains too little."""
        reference = self.reference_gain(kind, which)
        return None if reference is None or reference < SHARE_MIN_DB else self.gain(which) / reference


def scored_runs(record: dict) -> dict[tuple[str, str, str], dict[str, list[Scored]]]:
    """The record's drawn-task runs with their references, by (family, split, recipe), then by task."""
    refs = references_by_key(record.get("references", []))
    groups: dict[tuple[str, str, str], dict[str, list[Scored]]] = {}
    for r in record["runs"]:
        drawn = parse_task_name(r["task"])
        if drawn is None:
            continue
        overrides = r.get("overrides", {})
        scored = Scored(r, refs.get(reference_key("paired", r["task"], r["seed"], overrides)),
                        refs.get(reference_key("oracle", r["task"], r["seed"], overrides)))
        groups.setdefault((drawn[0], split_of(r["task"]), r["recipe"]), {}).setdefault(r["task"], []).append(scored)
    order = sorted(groups, key=lambda g: (g[0], g[1] != "heldout", g[2] != "cgan", g[2]))
    return {g: dict(sorted(groups[g].items(), key=lambda item: parse_task_name(item[0])[1])) for g in order}


def split_of(task: str) -> str:
    _, seed = parse_task_name(task)
    return next((name for name, seeds in SPLITS.items() if seed in seeds), "other")


def _mean(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _db(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)} %"


def _both(value: Callable[[str], float | None], cell: Callable[[float | None], str]) -> str:
    """A G / F cell."""
    return " / ".join(cell(value(which)) for which in ("G", "F"))


@dataclass(frozen=True)
class Column:
    title: str
    figure: Callable[[Scored, str], float | None]  # of one run, for generator G or F
    cell: Callable[[float | None], str]
    worst: bool  # the worst-run row shows this column


COLUMNS = (
    Column("gain", lambda s, w: s.gain(w), _db, True),
    Column("paired gain", lambda s, w: s.reference_gain("paired", w), _db, False),
    Column("oracle gain", lambda s, w: s.reference_gain("oracle", w), _db, False),
    Column("share of oracle", lambda s, w: s.share("oracle", w), _pct, True),
    Column("share of paired", lambda s, w: s.share("paired", w), _pct, True),
)


def headline(record: dict) -> list[str]:
    """Per family, split and recipe: a markdown table of every draw (gains over doing nothing, the
    references' gains, the shares of them reached; means over seeds), the mean over draws (each draw
    weighs alike), the worst run, and the family's targets."""
    lines: list[str] = []
    for (family, split, recipe), by_task in scored_runs(record).items():
        def of_draw(runs: list[Scored], column: Column) -> Callable[[str], float | None]:
            return lambda w: _mean(column.figure(s, w) for s in runs)

        def of_mean(column: Column) -> Callable[[str], float | None]:
            return lambda w: _mean(of_draw(runs, column)(w) for runs in by_task.values())

        def of_worst(column: Column) -> Callable[[str], float | None]:
            return lambda w: min((v for runs in by_task.values() for s in runs
                                  if (v := column.figure(s, w)) is not None), default=None)

        lines += [f"### {family}, {split} draws, recipe {recipe}", "",
                  f"| draw | seeds | do-nothing | {' | '.join(c.title for c in COLUMNS)} |",
                  f"| --- | --- | --- |{' --- |' * len(COLUMNS)}"]
        for task, runs in by_task.items():
            nothing = f"{runs[0].run['baseline_G']:.2f} / {runs[0].run['baseline_F']:.2f}"
            lines.append(f"| {task} | {len(runs)} | {nothing} | "
                         f"{' | '.join(_both(of_draw(runs, c), c.cell) for c in COLUMNS)} |")
        worst = (_both(of_worst(c), c.cell) if c.worst else "" for c in COLUMNS)
        lines += [f"| **mean** | | | {' | '.join(_both(of_mean(c), c.cell) for c in COLUMNS)} |",
                  f"| **worst run** | | | {' | '.join(worst)} |",
                  "", *_verdicts(by_task, FAMILY_TARGETS[family]), ""]
    draws = record.get("draws", {})
    if lines and draws:
        lines += ["Draws (the look Y holds):", "", "| draw | split | look |", "| --- | --- | --- |",
                  *(f"| {name} | {split_of(name)} | {draws[name]} |"
                    for name in sorted(draws, key=lambda n: parse_task_name(n))), ""]
    return lines


def _verdicts(by_task: dict[str, list[Scored]], target: FamilyTarget) -> list[str]:
    out = []
    for which in ("G", "F"):
        shares = [_mean(s.share(target.reference, which) for s in runs) for runs in by_task.values()]
        mean = _mean(shares)
        every = all(target.every_run(s.gain(which), s.share(target.reference, which))
                    for runs in by_task.values() for s in runs)
        missing = sum(v is None for v in shares)
        note = f" ({missing} draw(s) without a usable {target.reference} gain left out)" if missing else ""
        out.append(f"- {which}: mean share of the {target.reference} gain ≥ {100 * target.mean_share:.0f} %: "
                   f"{_pct(mean)}, {'met' if mean is not None and mean >= target.mean_share else 'NOT met'}{note}; "
                   f"{target.every_run_text}: {'met' if every else 'NOT met'}")
    return out


def summarize(runs: list[dict], floors: Callable[[str], tuple[float | None, float | None]]) -> list[str]:
    """One line per (task, recipe): means ± 2 SE over seeds, poor-mode seeds, steps/s, and the task's own
    targets where it has them. `floors(task)` gives (every seed's floor, the mean's goal) in dB."""
    lines = [f"{'task':22} {'recipe':14} {'seeds':>5} {'PSNR G':>13} {'PSNR F':>13} {'gain G':>13} "
             f"{'gain F':>13} {'step/s':>6}  poor-mode seeds; targets"]
    keys = sorted({(r["task"], r["recipe"]) for r in runs}, key=lambda k: (k[0], k[1] != "cgan", k[1]))
    for task, recipe in keys:
        group = sorted((r for r in runs if (r["task"], r["recipe"]) == (task, recipe)), key=lambda r: r["seed"])
        floor, goal = floors(task)
        gains = [min(r["gain_G"], r["gain_F"]) for r in group]
        poor = [r["seed"] for r, g in zip(group, gains) if floor is not None and g < floor]
        verdict = "-"
        if floor is not None:
            mean_gain = min(Spread.of([r[f"gain_{w}"] for r in group]).mean for w in ("G", "F"))
            verdict = (f"mean gain ≥ {goal:g}: {'met' if mean_gain >= goal else 'NOT met'}"
                       f", every seed ≥ {floor:g}: {'met' if min(gains) >= floor else 'NOT met'}")
        cells = [str(Spread.of([r[m] for r in group])) for m in ("psnr_G", "psnr_F", "gain_G", "gain_F")]
        lines.append(f"{task:22} {recipe:14} {len(group):5} {' '.join(f'{c:>13}' for c in cells)} "
                     f"{statistics.fmean(r['steps_per_s'] for r in group):6.2f}  "
                     f"{','.join(map(str, poor)) or '-'}; {verdict}")
    return lines


def wall_times(record: dict) -> list[str]:
    """Mean wall seconds per kind of run (unpaired training, paired ceiling, oracle fit)."""
    kinds = {"unpaired": [r for r in record["runs"] if "seconds" in r]}
    for r in record.get("references", []):
        kinds.setdefault(r["kind"], []).append(r)
    return [f"- {kind}: {statistics.fmean(r['seconds'] for r in rows) / 60:.1f} min on average over {len(rows)}"
            for kind, rows in kinds.items() if rows]


def _settings(overrides: dict) -> str:
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in overrides.items()) or "the defaults"


def markdown(record: dict, floors: Callable[[str], tuple[float | None, float | None]]) -> str:
    """The page of docs/learning.md: the drawn tasks' headline against the references, then the fixed
    tasks' summary, then every run; figures from the record only."""
    runs, references = record["runs"], record.get("references", [])
    cpus = sorted({r.get("cpu", "unknown CPU") for r in [*runs, *references]})
    chosen = record.get("chosen_on", [])
    informed = record.get("heldout_informed", [])
    lines = ["# Learning benchmark", "",
             "Generated by `python -m benchmarks.learning --markdown` from the runs' JSON; what the tasks are and "
             "why the recipe is what it is: [recipe.md](recipe.md).", "",
             f"CPU: {'; '.join(cpus)}. One torch thread per run, fp32 unless a recipe's settings name another "
             "precision. Runs side by side share the machine, so step/s compares only runs made at the same time.", "",
             "PSNR in dB on [0, 1] images; gain = PSNR − PSNR of doing nothing (returning the input).", ""]
    if any(parse_task_name(r["task"]) for r in runs):
        lines += ["## Drawn tasks: what the recipe reaches of what the task allows", "",
                  "The photo tasks' data and budget (X: crops of the photographs scikit-image ships, Y: other "
                  "crops through a look, scored on crops of other photographs; resnet_6blocks, ngf = ndf = 16, "
                  "load 80, crop 64, 2,000 steps, fp32), with the look drawn from a seed "
                  f"(`benchmarks/task_families.py`), in families: {', '.join(FAMILIES)}. A colour draw composes "
                  "one to three parametric grades (channel mixing near the identity; per-channel gamma with an "
                  "S-curve, lift and gain; hue rotation and saturation; white balance; split toning). A spatial "
                  "draw is blur, sharpening, local contrast, edge-preserving smoothing, ink lines over smoothing "
                  "or posterization, sometimes followed by a second look or fine grain. A draw is kept when doing "
                  "nothing scores within the family's range on training-photo crops.", "",
                  f"The recipe may be tuned on: {', '.join(chosen) or 'nothing recorded'}. The `heldout` draws "
                  "are only reported" + (f", except: {'; '.join(informed)}." if informed else "."), "",
                  "References, per draw: the **paired ceiling** (the same generators built from the same config, "
                  "optimizer groups, schedule and precision, trained for the same steps on the same crops but "
                  "supervised, L1 to the true answer: what the nets can carry) and, for colour draws, the "
                  "**unpaired oracle** (the draw's own grade with free parameters, fitted by matching the colours "
                  "of the X training pixels through it to those of Y in sliced Wasserstein distance, best of "
                  "three starts; F is its numeric inverse: what the unpaired colours can tell, as X and Y are "
                  "crops of different places). Share = gain / the reference's gain, for G and F; a reference "
                  f"gaining under {SHARE_MIN_DB} dB gives none (–). Targets: "
                  + "; ".join(f"{family}, mean share of the {t.reference} gain ≥ {_pct(t.mean_share)} and "
                              f"{t.every_run_text}" for family, t in FAMILY_TARGETS.items()) + ".", "",
                  *headline(record)]
        times = wall_times(record)
        if times:
            lines += ["Wall time per run (one thread, on a shared machine):", "", *times, ""]
    fixed = [r for r in runs if not parse_task_name(r["task"])]
    if fixed:
        lines += ["## Fixed tasks", "",
                  "Mean ± 2 standard errors over seeds; poor-mode seeds gain less than the task's floor in G or F.",
                  "", "| recipe | settings beside the task's |", "| --- | --- |",
                  *(f"| {name} | {_settings(overrides)} |"
                    for name, overrides in sorted({r["recipe"]: r.get("overrides", {}) for r in fixed}.items())),
                  "", "```", *summarize(fixed, floors), "```", ""]
    lines += ["## Every run", "",
              "| task | recipe | seed | steps | PSNR G | PSNR F | do-nothing G | do-nothing F | step/s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(runs, key=lambda r: (r["task"], r["recipe"], r["seed"])):
        lines.append(f"| {r['task']} | {r['recipe']} | {r['seed']} | {r['steps']} | {r['psnr_G']:.2f} | "
                     f"{r['psnr_F']:.2f} | {r['baseline_G']:.2f} | {r['baseline_F']:.2f} | {r['steps_per_s']:.2f} |")
    if references:
        lines += ["", "References:", "", "| task | reference | recipe | seed | PSNR G | PSNR F | fitted |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in sorted(references, key=lambda r: (r["task"], r["kind"], r.get("recipe", ""), r["seed"])):
            lines.append(f"| {r['task']} | {r['kind']} | {r.get('recipe', '')} | {r['seed']} | {r['psnr_G']:.2f} | "
                         f"{r['psnr_F']:.2f} | {r.get('fitted', '')} |")
    return "\n".join(lines) + "\n"
