"""`cgan-train`'s flags are made from TrainConfig's fields: every field has one, with the field's help."""
import click
from click.testing import CliRunner

from cgan.train.cli import main
from cgan.train.config import BUILTIN_DEFAULTS, FIELDS, TrainConfig

# The flags cgan-train had before they were generated; scripts and docs use these spellings.
KEPT = ["--data", "--name", "--runs-dir", "--generator", "--discriminator", "--ngf", "--ndf", "--n-layers", "--norm",
        "--dropout", "--no-dropout", "--init", "--padding", "--input-nc", "--output-nc", "--gan-loss", "--lambda-x",
        "--lambda-y", "--lambda-identity", "--pool-size", "--batch-size", "--load-size", "--crop-size",
        "--preprocess", "--no-flip", "--serial-batches", "--max-dataset-size", "--epochs", "--epochs-decay", "--lr",
        "--beta1", "--lr-policy", "--lr-decay-epochs", "--direction", "--seed", "--device", "--workers",
        "--threads", "--max-steps", "--save-epoch-freq", "--save-every", "--sample-every", "--precision",
        "--channels-last", "--no-channels-last", "--compile", "--no-compile", "--dist-timeout"]


def options() -> dict[str, click.Option]:
    return {p.name: p for p in main.params if isinstance(p, click.Option)}


def test_every_flag_from_before_is_kept():
    flags = {flag for p in main.params for flag in (*p.opts, *p.secondary_opts)}
    assert set(KEPT) <= flags


def test_every_config_field_is_a_flag_with_its_help_and_defaults():
    by_name = options()
    for key, field in FIELDS.items():
        assert key in by_name, f"config field {key} has no flag"
        help_text = by_name[key].help
        assert help_text.startswith(field.metadata["help"])
        default = getattr(TrainConfig(), key)
        if default not in (None, "", False):
            assert f"default {default}" in help_text
        if key in BUILTIN_DEFAULTS and BUILTIN_DEFAULTS[key] != default:
            assert f"built-in run: {BUILTIN_DEFAULTS[key]}" in help_text


def test_flag_kinds_follow_the_field_types():
    by_name = options()
    assert by_name["no_flip"].is_flag and not by_name["no_flip"].secondary_opts  # a switch, no --no-no-flip
    assert by_name["dropout"].secondary_opts == ["--no-dropout"]
    assert isinstance(by_name["norm"].type, click.Choice) and "instance" in by_name["norm"].type.choices
    assert "unet256" in by_name["generator"].type.choices  # aliases accepted
    assert isinstance(by_name["lr"].type, click.types.FloatParamType)
    assert isinstance(by_name["max_steps"].type, click.types.IntParamType)
    assert isinstance(by_name["data"].type, click.Path)


def test_help_lists_generated_flags():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "--ngf INTEGER" in result.output and "[default 64; built-in run: 16]" in result.output
    assert "--compile / --no-compile" in result.output and "--init-gain FLOAT" in result.output
