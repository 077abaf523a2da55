"""click parameter types for numbers, shared by cgan-infer, cgan-export and cgan-train: a refused
value longer than a line (a 5,000-digit number) is named cut short, so the error stays one short line."""
from __future__ import annotations

import click

from .errors import quoted

SHOWN_LIMIT = 40  # characters of a refused value shown in full


class _ShortRefusal:
    """Mixin for a click type: a long value it refuses is shown cut short."""

    expected = "valid"

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            text = str(value)
            if len(text) <= SHOWN_LIMIT:
                raise
            self.fail(f"{quoted(text, SHOWN_LIMIT)} is not {self.expected}", param, ctx)


class Integer(_ShortRefusal, click.types.IntParamType):
    expected = "a valid integer"


class Number(_ShortRefusal, click.types.FloatParamType):
    expected = "a valid number"


class IntegerRange(_ShortRefusal, click.IntRange):
    @property
    def expected(self) -> str:
        return f"an integer in the range {self._describe_range()}"
