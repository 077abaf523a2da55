"""The one exception type cgan.infer raises for problems a user can fix."""


class InferError(Exception):
    """Bad input (model, source, output or option); the message is one line the user can act on."""
