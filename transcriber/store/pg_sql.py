"""The SQL both stores share, made fit for asyncpg: `?` and `:name` placeholders become `$n`."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from transcriber.store.types import Params

_PLACEHOLDER = re.compile(r"'[^']*'|\?|(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def numbered(sql: str, named: bool) -> tuple[str, tuple[str, ...]]:
    """Rewrite `?` (or `:name`) placeholders to `$1, $2, ...`; names in $-order for named SQL."""
    names: list[str] = []
    counter = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal counter
        token = match.group(0)
        if token.startswith("'"):
            return token
        if token == "?" and not named:
            counter += 1
            return f"${counter}"
        name = match.group(1)
        if not named or name is None:
            return token
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(swap, sql), tuple(names)


class Raw(tuple[Any, ...]):
    """Parameters of SQL already written with $n placeholders (the PostgreSQL-only statements)."""


def pg_args(sql: str, params: Params) -> tuple[str, list[Any]]:
    if isinstance(params, Raw):
        return sql, list(params)
    if isinstance(params, Mapping):
        text, names = numbered(sql, True)
        return text, [params[n] for n in names]
    text, _ = numbered(sql, False)
    return text, list(params)


def rowcount(status: str) -> int:
    """asyncpg reports 'UPDATE 3', 'INSERT 0 1', 'DELETE 0': the last number is the row count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
