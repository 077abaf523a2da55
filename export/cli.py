"""The `cgan-export` command."""
import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Export trained generators G and/or F to self-contained ONNX files."""
    raise click.ClickException("export is not built yet in this version of cgan")
