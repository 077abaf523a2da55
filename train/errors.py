"""The one base class of every error `cgan-train` reports to the user as a one-line message."""


class TrainError(Exception):
    """A training input or state the user can act on; the message says what and what to do."""
