"""Messages that name an argument as the caller gave it.

The library's errors and notes name arguments in the Python API's spelling: `name=value` with the
value's repr (`gen='F'`, `tile=8`, `static_hw=(256, 256)`, `overwrite=True`), or `name=...` for the
argument itself. Each command turns them into its flags with its own table of argument -> flag:
`--gen F`, `--tile 8`, `--static 256x256`, `--overwrite`. A bool argument's flag is the one that
gives the value named (`verify=False` -> `--no-verify`).
"""
from __future__ import annotations

import ast
import re
import shlex
from typing import Mapping

_VALUE = r"(\.\.\.|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\(\d+, \d+\)|-?\w+(?:\.\w+)*)"


def as_flags(message: str, flags: Mapping[str, str]) -> str:
    """`message` with every `name=value` of an argument in `flags` written as the command's flag."""
    if not flags:
        return message
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, flags)) + r")=" + _VALUE)

    def flag(match: re.Match) -> str:
        name, value = match.groups()
        if value in ("...", "True", "False"):
            return flags[name]
        if value[0] in "'\"":
            value = shlex.quote(ast.literal_eval(value))
        elif value[0] == "(":  # a height, width pair: 256x256
            value = "x".join(map(str, ast.literal_eval(value)))
        return f"{flags[name]} {value}"

    return pattern.sub(flag, message)
