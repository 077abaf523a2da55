"""Figures as the pages quote them: a range of values ("0.09 to 0.20") or one value, formatted alike."""
from __future__ import annotations

from typing import Callable, Iterable


def span(values: Iterable[float], fmt: Callable[[float], str] = "{:.2f}".format, unit: str = "",
         sep: str = " to ") -> str:
    """'low to high' (with the unit after high), or one figure when both read the same."""
    values = sorted(values)
    if not values:
        raise ValueError("no values to quote")
    low, high = fmt(values[0]), fmt(values[-1])
    return f"{high}{unit}" if low == high else f"{low}{sep}{high}{unit}"


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def signed(value: float, digits: int = 2) -> str:
    """+0.28 / −0.06 as the pages print gains (a true minus sign)."""
    return f"{value:+.{digits}f}".replace("-", "−")
