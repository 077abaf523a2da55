"""The `cgan-infer` command."""
import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Translate images, folders, videos, cameras and streams with an exported ONNX generator."""
    raise click.ClickException("inference is not built yet in this version of cgan")
