"""The `cgan-export` command: a thin layer over cgan.export.api."""
from __future__ import annotations

import re
import shlex

import click

from cgan.train.checkpoint import CheckpointError
from cgan.train.layers import NORMS
from cgan.infer.errors import quoted
from cgan.infer.metadata import MAX_NGF, MAX_TRAIN_SIZE
from cgan.infer.flags import as_flags
from cgan.infer.model import GENERATOR_LETTERS
from cgan.infer.options import IntegerRange
from cgan.train.networks import GENERATOR_CHOICES

from .api import MODELS_DIR, PRECISIONS, RUNS_DIR, directions, export_official, export_run, trial_source
from .errors import ExportError
from .onnx_export import DEFAULT_EXPORTER, EXPORTERS

# The API arguments that messages name (cgan.infer.flags), as this command's flags.
FLAGS = {"gen": "--gen", "out": "--out", "overwrite": "--overwrite", "opset": "--opset", "static_hw": "--static",
         "verify": "--no-verify", "calibration": "--calibration", "generator": "--generator", "ngf": "--ngf",
         "norm": "--norm"}

def _static_size(ctx, param, value):
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,9})[xX](\d{1,9})", value)
    if not match or not all(1 <= int(side) <= MAX_TRAIN_SIZE for side in match.groups()):
        raise click.BadParameter(f"{quoted(value)}: give height x width, each 1 to {MAX_TRAIN_SIZE}, e.g. 256x256")
    return int(match[1]), int(match[2])


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", required=False)
@click.option("--gen", type=click.Choice([*GENERATOR_LETTERS, "both"]), default=None,
              help="Which generator: G (X->Y), F (Y->X) or both. Default: both for a run, G for --checkpoint.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help=f"Output folder. Default: {MODELS_DIR}/<run name>/.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An official pytorch-CycleGAN-and-pix2pix generator file (e.g. latest_net_G_A.pth) "
                   "instead of a run.")
@click.option("--generator", type=click.Choice(GENERATOR_CHOICES), default="resnet_9blocks", show_default=True,
              help="Architecture of the --checkpoint file.")
@click.option("--ngf", type=IntegerRange(1, MAX_NGF), default=64, show_default=True,
              help="Filters in the first conv of the --checkpoint file's generator.")
@click.option("--norm", type=click.Choice(NORMS), default="instance", show_default=True,
              help="Normalization of the --checkpoint file's generator.")
@click.option("--opset", type=IntegerRange(11, 22), default=None,
              help="ONNX opset version. Default: " + ", ".join(f"{e.default_opset} with {name}"
                                                               for name, e in EXPORTERS.items()) + ".")
@click.option("--static", "static_hw", metavar="HxW", callback=_static_size, default=None,
              help="Fix height and width (e.g. 256x256); default: dynamic batch, height and width.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="fp32; fp16 (fp32 in/out, for CUDA/TensorRT); int8 (static QDQ, for CPUs). "
                   "Variants are named G.fp16.onnx, G.int8.onnx.")
@click.option("--calibration", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of input-domain images to calibrate int8 with. Default: the run's training data.")
@click.option("--exporter", type=click.Choice(list(EXPORTERS)), default=DEFAULT_EXPORTER, show_default=True,
              help="PyTorch's ONNX exporter: torchscript (deprecated by PyTorch, quick) or dynamo (torch.export; "
                   "opset 18 or later). Both pass the same checks; see docs/export.md.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--no-verify", is_flag=True, help="Skip the numeric parity checks (checker and shape checks still run).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=RUNS_DIR, show_default=True,
              help="Where runs are looked up.")
def main(run, gen, out, checkpoint, generator, ngf, norm, opset, static_hw, precision, calibration, exporter,
         overwrite, no_verify, runs_dir) -> None:
    """Export trained generators G and/or F to self-contained, verified ONNX files.

    RUN is a run directory, a run name under --runs-dir, or a cgan checkpoint file; by default the
    most recent run. Writes models/<run name>/G.onnx and F.onnx.
    """
    options = dict(out=out, opset=opset, static_hw=static_hw, verify=not no_verify, overwrite=overwrite,
                   precision=precision, calibration=calibration, exporter=exporter,
                   log=lambda line: click.echo(as_flags(line, FLAGS)))
    try:
        if checkpoint is not None:
            if run is not None:
                raise click.UsageError("give either RUN or --checkpoint, not both")
            reports = export_official(checkpoint, generator, ngf=ngf, norm=norm, gen=gen or "G", **options)
        else:
            reports = export_run(run, gen=gen or "both", runs_dir=runs_dir, **options)
    except (ExportError, CheckpointError) as e:
        raise click.ClickException(as_flags(str(e), FLAGS)) from None
    click.echo("")
    for report in reports:
        click.echo("\n".join(report.lines()))
    source = None if checkpoint else trial_source(run, directions(gen or "both")[0], runs_dir)
    click.echo(f"\nnext: cgan-infer --model {shlex.quote(str(reports[0].path))} {source or '--image PICTURE.jpg'}")
    if source == "--video in.mp4":
        click.echo("(in.mp4: any video; python scripts/demo_video.py in.mp4 writes one of built-in pictures)")
