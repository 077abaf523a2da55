"""The `cgan-train` command."""
import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train a CycleGAN on two unpaired image folders (or the built-in known-answer dataset)."""
    raise click.ClickException("training is not built yet in this version of cgan")
