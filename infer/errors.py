"""The one exception type cgan.infer raises for problems a user can fix."""


class InferError(Exception):
    """Bad input (model, source, output or option); the message is one line the user can act on."""


def cut(text: str, limit: int = 40) -> str:
    """`text` for a one-line message, cut short past `limit` characters."""
    return text if len(text) <= limit else text[:limit - 8] + "...(long)"


def quoted(text: str, limit: int = 40) -> str:
    """`text` quoted for a one-line message, cut short past `limit` characters."""
    return repr(cut(text, limit))
