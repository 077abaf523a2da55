"""The `cgan-train` command: options -> TrainConfig -> run_training."""
from __future__ import annotations

import click
from click.core import ParameterSource

from cgan.infer.options import Integer, Number

from .config import BUILTIN_DEFAULTS, FIELDS, RECIPES, TrainConfig, flag, load_config_file, make_config, value_type
from .distributed import dist_env, exit_after_peer_failure, exit_at_once, peer_failure_message
from .errors import TrainError
from .known_answer import KnownAnswerDataset, format_report
from .loop import RunResult, StoppedAtStart, run_training
from .resume import find_run, resuming
from .run_dir import RunDir
from .signals import resume_command

DEFAULTS = TrainConfig()
NUMBER_TYPES = {int: Integer(), float: Number()}
PATH_TYPES = {"folder": click.Path(file_okay=False), "existing folder": click.Path(exists=True, file_okay=False)}


def _help(text: str, key: str) -> str:
    """Help text with the default for folder runs and, where they differ, with --recipe official and for
    the built-in run."""
    default = getattr(DEFAULTS, key)
    shown = [] if default is None or default == "" or default is False else [f"default {default}"]
    if key in RECIPES["official"] and RECIPES["official"][key] != default:
        shown.append(f"--recipe official: {RECIPES['official'][key]}")
    if key in BUILTIN_DEFAULTS and BUILTIN_DEFAULTS[key] != default:
        shown.append(f"built-in run: {BUILTIN_DEFAULTS[key]}")
    return f"{text} [{'; '.join(shown)}]" if shown else text


def config_option(key: str):
    """The flag of one config field: `--ngf`, `--dropout/--no-dropout`, or the field's own `flag`.
    No click default, so a value given on the command line is known to be given."""
    meta, (kind, _), spelling = FIELDS[key].metadata, value_type(key), flag(key)
    if kind is bool:
        kw = {} if "/" in spelling else {"is_flag": True}
    elif meta["path"]:
        kw = {"type": PATH_TYPES[meta["path"]]}
    elif kind is str and meta["choices"]:
        kw = {"type": click.Choice(list(meta["choices"]))}
    else:
        # int choices (input_nc) and ranges are checked with the config, as for files
        kw = {"type": NUMBER_TYPES.get(kind, kind)}
    return click.option(spelling, key, default=None, help=_help(meta["help"], key), show_default=False, **kw)


def config_options(command):
    """Every config field's flag, in the order of the fields."""
    for key in reversed(FIELDS):
        command = config_option(key)(command)
    return command


def given_options(ctx: click.Context, params: dict) -> dict:
    """The config options the user typed (or set through the environment)."""
    explicit = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in params.items() if ctx.get_parameter_source(k) in explicit}


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A run's config.json (or any JSON of option names and values); options given here win.")
@click.option("--resume", "resume", is_flag=False, flag_value="", default=None, metavar="[RUN_DIR]",
              help="Continue a run exactly where its latest checkpoint stands: --resume runs/NAME, or --resume "
                   "with --name, or --resume alone for the most recent run. Options given here apply, except "
                   "those fixing the architecture.")
@config_options
@click.pass_context
def main(ctx: click.Context, config_file: str | None, resume: str | None, **params) -> None:
    """Train a CycleGAN on two unpaired image folders (--data DIR), or, with no --data, on the built-in
    known-answer dataset, whose translation accuracy is measured and printed at the end."""
    overrides = given_options(ctx, params)
    try:
        file_values = load_config_file(config_file) if config_file else {}
        if resume is None:
            config = make_config(file_values, overrides, builtin_domains=KnownAnswerDataset.domains)
            result = run_training(config, name_given="name" in overrides, echo=click.echo)
        else:
            run = find_run(resume, overrides.get("name"), overrides.get("runs_dir") or DEFAULTS.runs_dir)
            with resuming(run, file_values, overrides, lock=dist_env().is_main) as resumed:
                result = run_training(resumed.config, echo=click.echo, resume=resumed)
    except TrainError as e:
        raise click.ClickException(str(e)) from None
    except StoppedAtStart as e:
        raise click.ClickException(f"stopped by {e} before the first step; nothing was trained (a new run folder is not kept)") from None
    except RuntimeError as e:
        message = peer_failure_message(e, dist_env())
        if message is None:
            raise
        exit_after_peer_failure(f"Error: {message}")
    if result.path is not None:  # a torchrun process other than the main one wrote nothing
        report_result(result)
    if dist_env().enabled:  # every file is closed; gloo's threads can hang or abort the normal exit
        exit_at_once(0)


def report_result(result: RunResult) -> None:
    """The lines that end a run: how it stopped or what it reached, where it lies, and what to do next."""
    run = RunDir(result.path)
    if result.stopped_by:
        click.echo(f"cgan-train: stopped by {result.stopped_by} at step {result.steps}; checkpoint saved in "
                   f"{run.latest_checkpoint}")
        click.echo(f"resume with: {resume_command(result.path)}")
        return
    if result.known_answer is not None:
        click.echo(format_report(result.known_answer))
    minutes, seconds = divmod(round(result.seconds), 60)
    resumed = f" (this process: steps {result.first_step + 1}-{result.steps})" if result.first_step else ""
    click.echo(f"cgan-train: done, {result.steps_run} steps{resumed} in {minutes}m{seconds:02d}s "
               f"({result.steps_run / max(result.seconds, 1e-9):.2f} step/s). Run dir {result.path}: "
               f"{', '.join(_within(run, run.latest_checkpoint, run.samples, run.loss_curve, run.index_page))}")
    click.echo("next: cgan-export --gen G")


def _within(run: RunDir, *paths) -> list[str]:
    """`paths` as named inside the run folder, a folder with a trailing slash (samples/)."""
    return [p.relative_to(run.path).as_posix() + ("/" if p.is_dir() else "") for p in paths]
