"""The one error type of cgan.export; the CLI turns it into a one-line message."""


class ExportError(RuntimeError):
    """An export that cannot be done as asked; the message names the file or option and what to do."""
