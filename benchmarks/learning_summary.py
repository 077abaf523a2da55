"""The learning benchmark's record read back: per-task summaries, the per-family headline against the
references, the targets, and the markdown page (docs/learning.md). Every figure comes from the
record's JSON; the prose says what is measured, never how much.

A record: {"chosen_on": [task names the recipe may be tuned on], "runs": [unpaired runs],
"references": [paired and oracle runs], "draws": {task name: its look}}.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Callable

from .task_families import FAMILIES, SPLITS, parse_task_name

SHARE_MIN_DB = 0.1  # a reference gaining less than this gives no share of its gain


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
    "colour": FamilyTarget("oracle", 0.8, lambda gain, share: share is None or share >= 0.5,
                           "every run ≥ 50 % of its oracle's gain"),
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


def share(gain: float, reference: dict | None, which: str) -> float | None:
    """gain / the reference's gain of generator `which`; None without a reference or when it gains too little."""
    if reference is None or reference[f"gain_{which}"] < SHARE_MIN_DB:
        return None
    return gain / reference[f"gain_{which}"]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _cell(value: float | None, fmt: str = "+.2f") -> str:
    return "–" if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def headline(record: dict) -> list[str]:
    """Per family, split and recipe: a markdown table of every draw (gains over doing nothing, the
    references' gains, the shares of them reached), its mean and worst, and the family's targets."""
    refs = references_by_key(record.get("references", []))
    draws = record.get("draws", {})
    drawn = [r for r in record["runs"] if parse_task_name(r["task"])]
    lines: list[str] = []
    groups = sorted({(parse_task_name(r["task"])[0], split_of(r["task"]), r["recipe"]) for r in drawn},
                    key=lambda g: (g[0], g[1] != "heldout", g[2] != "cgan", g[2]))
    for family, split, recipe in groups:
        runs = [r for r in drawn if (parse_task_name(r["task"])[0], split_of(r["task"]), r["recipe"]) ==
                (family, split, recipe)]
        target = FAMILY_TARGETS[family]
        lines += [f"### {family}, {split} draws, recipe {recipe}", "",
                  f"Gains in dB over doing nothing, G / F, mean over seeds; shares of the {target.reference} "
                  "reference's gain.", "",
                  "| draw | seeds | do-nothing | gain | paired gain | oracle gain | share of oracle | share of paired |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        per_draw: dict[str, dict[str, list]] = {}
        for task in sorted({r["task"] for r in runs}, key=lambda t: parse_task_name(t)[1]):
            of_task = [r for r in runs if r["task"] == task]
            figures: dict[str, list] = {}
            for r in of_task:
                paired = refs.get(reference_key("paired", task, r["seed"], r.get("overrides", {})))
                oracle = refs.get(reference_key("oracle", task, 0, {}))
                for which in ("G", "F"):
                    figures.setdefault(f"gain_{which}", []).append(r[f"gain_{which}"])
                    figures.setdefault(f"paired_{which}", []).append(paired and paired[f"gain_{which}"])
                    figures.setdefault(f"oracle_{which}", []).append(oracle and oracle[f"gain_{which}"])
                    figures.setdefault(f"share_oracle_{which}", []).append(share(r[f"gain_{which}"], oracle, which))
                    figures.setdefault(f"share_paired_{which}", []).append(share(r[f"gain_{which}"], paired, which))
                    figures.setdefault(f"met_{which}", []).append(target.every_run(
                        r[f"gain_{which}"], share(r[f"gain_{which}"], refs.get(
                            reference_key(target.reference, task, r["seed"], r.get("overrides", {}))), which)))
            per_draw[task] = figures

            def pair(key: str, cell=_cell) -> str:
                return " / ".join(cell(_mean(figures[f"{key}_{w}"])) for w in ("G", "F"))
            nothing = f"{of_task[0]['baseline_G']:.2f} / {of_task[0]['baseline_F']:.2f}"
            lines.append(f"| {task} | {len(of_task)} | {nothing} | {pair('gain')} | {pair('paired')} | "
                         f"{pair('oracle')} | {pair('share_oracle', _pct)} | {pair('share_paired', _pct)} |")
        lines += _family_rows(per_draw)
        lines += ["", *_verdicts(family, per_draw, target), ""]
    if draws and groups:
        lines += ["Draws (the look Y holds; do-nothing PSNR on the probe crops of training photos):", "",
                  "| draw | split | look |", "| --- | --- | --- |",
                  *(f"| {name} | {split_of(name)} | {draws[name]} |"
                    for name in sorted(draws, key=lambda n: parse_task_name(n))), ""]
    return lines


def split_of(task: str) -> str:
    _, seed = parse_task_name(task)
    return next((name for name, seeds in SPLITS.items() if seed in seeds), "other")


def _family_rows(per_draw: dict[str, dict[str, list]]) -> list[str]:
    """The mean row (draws weigh alike) and the worst row (the worst run of any draw)."""
    def over_draws(key: str, reduce) -> str:
        cells = []
        for which in ("G", "F"):
            values = [v for f in per_draw.values() for v in ([_mean(f[f"{key}_{which}"])] if reduce is None
                                                               else f[f"{key}_{which}"]) if v is not None]
            cells.append("–" if not values else (statistics.fmean(values) if reduce is None else reduce(values)))
        return cells

    def fmt(cells: list, pct: bool = False) -> str:
        return " / ".join(c if isinstance(c, str) else (_pct(c) if pct else _cell(c)) for c in cells)
    mean_row = (f"| **mean** | | | {fmt(over_draws('gain', None))} | {fmt(over_draws('paired', None))} | "
                f"{fmt(over_draws('oracle', None))} | {fmt(over_draws('share_oracle', None), True)} | "
                f"{fmt(over_draws('share_paired', None), True)} |")
    worst_row = (f"| **worst run** | | | {fmt(over_draws('gain', min))} | | | "
                 f"{fmt(over_draws('share_oracle', min), True)} | {fmt(over_draws('share_paired', min), True)} |")
    return [mean_row, worst_row]


def _verdicts(family: str, per_draw: dict[str, dict[str, list]], target: FamilyTarget) -> list[str]:
    out = []
    for which in ("G", "F"):
        shares = [_mean(f[f"share_{target.reference}_{which}"]) for f in per_draw.values()]
        mean = _mean(shares)
        every = all(all(f[f"met_{which}"]) for f in per_draw.values())
        missing = sum(s is None for s in shares)
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


def markdown(record: dict, floors: Callable[[str], tuple[float | None, float | None]]) -> str:
    """The page of docs/learning.md: the drawn tasks' headline against the references, then the fixed
    tasks' summary, then every run; figures from the record only."""
    runs, references = record["runs"], record.get("references", [])
    cpus = sorted({r.get("cpu", "unknown CPU") for r in [*runs, *references]})
    chosen = record.get("chosen_on", [])
    lines = ["# Learning benchmark", "",
             "Generated by `python -m benchmarks.learning --markdown` from the runs' JSON; what the tasks are and "
             "why the recipe is what it is: [recipe.md](recipe.md).", "",
             f"CPU: {'; '.join(cpus)}. One torch thread per run, fp32 unless a recipe's settings name another "
             "precision. Runs side by side share the machine, so step/s compares only runs made at the same time.", "",
             "PSNR in dB on [0, 1] images; gain = PSNR − PSNR of doing nothing (returning the input).", ""]
    if any(parse_task_name(r["task"]) for r in runs):
        lines += ["## Drawn tasks: what the recipe reaches of what the task allows", "",
                  f"Families: {', '.join(FAMILIES)}; each draw is a look drawn from its seed "
                  "(`benchmarks/task_families.py`). "
                  f"The recipe may be tuned on {', '.join(chosen) or 'nothing recorded'}; other draws (the "
                  "`heldout` split) are only reported. References per draw: the *paired ceiling* (the same "
                  "generators, crops, steps and precision trained supervised on the true answer: what the nets "
                  "can carry) and, for colour grades, the *unpaired oracle* (the grade's own form fitted by "
                  "matching the colours of X through it to those of Y: what the unpaired colours can tell). "
                  f"A share needs a reference gain of at least {SHARE_MIN_DB} dB.", "",
                  *headline(record)]
        times = wall_times(record)
        if times:
            lines += ["Wall time per run (one thread, on a shared machine):", "", *times, ""]
    fixed = [r for r in runs if not parse_task_name(r["task"])]
    if fixed:
        lines += ["## Fixed tasks", "",
                  "Mean ± 2 standard errors over seeds; poor-mode seeds gain less than the task's floor in G or F.",
                  "", "| recipe | settings beside the task's |", "| --- | --- |",
                  *(f"| {name} | {', '.join(f'`{k}={json.dumps(v)}`' for k, v in overrides.items()) or 'the defaults'} |"
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
