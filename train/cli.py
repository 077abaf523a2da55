"""The `cgan-train` command: options -> TrainConfig -> run_training."""
from __future__ import annotations

import click
from click.core import ParameterSource

from .checkpoint import CheckpointError
from .config import BUILTIN_DEFAULTS, ConfigError, TrainConfig, load_config_file, make_config
from .data import DataError
from .device import DeviceError
from .distributed import DistributedError, dist_env, exit_after_peer_failure, peer_failure_message
from .finite import NonFiniteLossError
from .generators import PADDINGS
from .known_answer import KnownAnswerDataset, format_report
from .layers import INITS, NORMS
from .loop import run_training
from .losses import GAN_LOSSES
from .networks import ALIASES, DISCRIMINATORS, GENERATORS
from .precision import PRECISIONS, PrecisionError
from .preprocess import PREPROCESSORS
from .resume import ResumeError, find_run, load_resume
from .run_dir import RunDirError
from .run_lock import RunLockedError
from .schedulers import LR_POLICIES
from .signals import resume_command

DEFAULTS = TrainConfig()


def _with_aliases(registry) -> click.Choice:
    return click.Choice([*registry, *(alias for alias, name in ALIASES.items() if name in registry)])


def _help(text: str, key: str) -> str:
    """Help text with the default for folder runs and, where it differs, for the built-in run."""
    default = getattr(DEFAULTS, key)
    shown = [] if default is None or default == "" or default is False else [f"default {default}"]
    if key in BUILTIN_DEFAULTS and BUILTIN_DEFAULTS[key] != default:
        shown.append(f"built-in run: {BUILTIN_DEFAULTS[key]}")
    return f"{text} [{'; '.join(shown)}]" if shown else text


def option(flag: str, key: str, text: str, **kw):
    """A config option: no click default, so a value given on the command line is known to be given."""
    return click.option(flag, key, default=None, help=_help(text, key), show_default=False, **kw)


OPTIONS = [
    option("--data", "data", "Folder with trainA/ (domain X) and trainB/ (domain Y); omit for the built-in "
           "known-answer dataset.", type=click.Path(exists=True, file_okay=False)),
    option("--name", "name", "Run name: the folder under --runs-dir (default: the data folder's name, or "
           "'builtin'; a free _N suffix is added unless the name is given).", type=str),
    option("--runs-dir", "runs_dir", "Parent folder of run directories.", type=click.Path(file_okay=False)),
    option("--generator", "generator", "Generator architecture.", type=_with_aliases(GENERATORS)),
    option("--discriminator", "discriminator", "Discriminator architecture.", type=_with_aliases(DISCRIMINATORS)),
    option("--ngf", "ngf", "Generator filters in the first conv layer.", type=int),
    option("--ndf", "ndf", "Discriminator filters in the first conv layer.", type=int),
    option("--n-layers", "n_layers", "Conv layers of the n_layers discriminator.", type=int),
    option("--norm", "norm", "Normalization layers.", type=click.Choice(NORMS)),
    option("--dropout/--no-dropout", "dropout", "Dropout in the generators."),
    option("--init", "init", "Weight initialization.", type=click.Choice(INITS)),
    option("--padding", "padding", "Padding inside resnet blocks.", type=click.Choice(PADDINGS)),
    option("--input-nc", "input_nc", "Channels of domain X: 1 (grayscale) or 3 (RGB).", type=int),
    option("--output-nc", "output_nc", "Channels of domain Y: 1 (grayscale) or 3 (RGB).", type=int),
    option("--gan-loss", "gan_loss", "GAN objective (wgangp applies the gradient penalty, weight 10).",
           type=click.Choice(list(GAN_LOSSES))),
    option("--lambda-x", "lambda_x", "Weight of the X cycle loss |F(G(x)) - x|.", type=float),
    option("--lambda-y", "lambda_y", "Weight of the Y cycle loss |G(F(y)) - y|.", type=float),
    option("--lambda-identity", "lambda_identity", "Identity loss weight relative to the cycle weights; 0 "
           "turns it off.", type=float),
    option("--pool-size", "pool_size", "Generated images kept for the discriminators; 0 disables the pool.",
           type=int),
    option("--batch-size", "batch_size", "Images per step.", type=int),
    option("--load-size", "load_size", "Scale images to this size ...", type=int),
    option("--crop-size", "crop_size", "... then crop to this size (the training size).", type=int),
    option("--preprocess", "preprocess", "How images are resized and cropped.",
           type=click.Choice(list(PREPROCESSORS))),
    option("--no-flip", "no_flip", "Do not flip images horizontally at random.", is_flag=True),
    option("--serial-batches", "serial_batches", "Take images in order instead of at random.", is_flag=True),
    option("--max-dataset-size", "max_dataset_size", "Use at most this many images per domain (built-in: "
           "pictures per domain).", type=int),
    option("--epochs", "epochs", "Epochs at the initial learning rate.", type=int),
    option("--epochs-decay", "epochs_decay", "Epochs of linear decay to zero after --epochs.", type=int),
    option("--lr", "lr", "Adam learning rate.", type=float),
    option("--beta1", "beta1", "Adam beta1.", type=float),
    option("--lr-policy", "lr_policy", "Learning-rate policy.", type=click.Choice(list(LR_POLICIES))),
    option("--lr-decay-epochs", "lr_decay_epochs", "Policy step: multiply the rate by 0.1 this often.",
           type=int),
    option("--direction", "direction", "AtoB: X = trainA; BtoA: X = trainB.", type=click.Choice(["AtoB", "BtoA"])),
    option("--seed", "seed", "Random seed of weights, data order, flips and pools.", type=int),
    option("--device", "device", "auto, cpu, cuda, cuda:N or mps.", type=str),
    option("--workers", "workers", "Data loading worker processes.", type=int),
    option("--threads", "threads", "torch CPU threads of the training process; 0: one per core.", type=int),
    option("--max-steps", "max_steps", "Stop after this many steps (for short runs).", type=int),
    option("--save-epoch-freq", "save_epoch_freq", "Keep a checkpoint every this many epochs.", type=int),
    option("--save-every", "save_every", "Also save checkpoints/latest.pt every this many steps (0: at epoch "
           "ends only).", type=int),
    option("--sample-every", "sample_every", "Write a sample grid of the held-out pictures every this many steps.",
           type=int),
    option("--eval-every", "eval_every", "Measure the held-out pictures every this many steps (default: "
           "--sample-every; 0: never); see docs/evaluation.md.", type=int),
    option("--eval-images", "eval_images", "Held-out pictures per domain for samples and measures.", type=int),
    option("--precision", "precision", "Autocast precision of the forward passes: auto picks bf16 on GPUs and CPUs "
           "that have it, fp16 with a grad scaler on older GPUs, else fp32; losses stay fp32.",
           type=click.Choice(PRECISIONS)),
    option("--channels-last/--no-channels-last", "channels_last", "Keep the nets in channels-last memory format."),
    option("--compile/--no-compile", "compile", "torch.compile the nets (slow first steps; see the README)."),
    option("--dist-timeout", "dist_timeout", "Under torchrun: seconds a process waits for the others before it "
           "stops with an error.", type=int),
]


def given_options(ctx: click.Context, params: dict) -> dict:
    """The config options the user typed (or set through the environment)."""
    explicit = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {k: v for k, v in params.items() if ctx.get_parameter_source(k) in explicit}


def _apply(options):
    def decorate(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A run's config.json (or any JSON of option names and values); options given here win.")
@click.option("--resume", "resume", is_flag=False, flag_value="", default=None, metavar="[RUN_DIR]",
              help="Continue a run exactly where its latest checkpoint stands: --resume runs/NAME, or --resume "
                   "with --name, or --resume alone for the most recent run. Options given here apply, except "
                   "those fixing the architecture.")
@_apply(OPTIONS)
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
            path = find_run(resume, overrides.get("name"), overrides.get("runs_dir") or DEFAULTS.runs_dir)
            config, resumed = load_resume(path, file_values, overrides)
            result = run_training(config, echo=click.echo, resume=resumed)
    except (ConfigError, DataError, DeviceError, RunDirError, CheckpointError, ResumeError, PrecisionError,
            RunLockedError, DistributedError, NonFiniteLossError) as e:
        raise click.ClickException(str(e)) from None
    except RuntimeError as e:
        message = peer_failure_message(e, dist_env())
        if message is None:
            raise
        exit_after_peer_failure(f"Error: {message}")
    if result.path is None:  # a torchrun process other than the main one
        return
    if result.stopped_by:
        click.echo(f"cgan-train: stopped by {result.stopped_by} at step {result.steps}; checkpoint saved in "
                   f"{result.path / 'checkpoints' / 'latest.pt'}")
        click.echo(f"resume with: {resume_command(result.path)}")
        return
    if result.known_answer is not None:
        click.echo(format_report(result.known_answer))
    minutes, seconds = divmod(round(result.seconds), 60)
    click.echo(f"cgan-train: done, {result.steps} steps in {minutes}m{seconds:02d}s "
               f"({result.steps / max(result.seconds, 1e-9):.2f} step/s). Run dir {result.path}: "
               f"checkpoints/latest.pt, samples/, loss_curve.png, index.html")
    click.echo("next: cgan-export --gen G")
