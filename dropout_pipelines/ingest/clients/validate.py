"""Field checks for JSON records, so a schema change upstream fails loudly and precisely.

Every check names the endpoint and the field path (`results[12].completion.earned`), which
is what a data engineer needs to tell a fork's payload change from a transient glitch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dropout_pipelines.ingest.clients.errors import PayloadError

NUMBER = (int, float)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _matches(value: Any, kinds: type | tuple[type, ...]) -> bool:
    # bool is an int in Python but never a valid number or id in these payloads.
    if isinstance(value, bool):
        allowed = kinds if isinstance(kinds, tuple) else (kinds,)
        return bool in allowed
    return isinstance(value, kinds)


_MISSING = object()


def need(
    record: Any,
    field: str,
    kinds: type | tuple[type, ...],
    endpoint: str,
    where: str,
    *,
    nullable: bool = False,
    optional: bool = False,
) -> Any:
    """`record[field]`, checked: present (unless `optional`), of `kinds` (or null when
    `nullable`). `where` is the record's path, e.g. ``results[3]``.

    Called for every field of every statement (millions of times for a large course), so
    the common case is checked first and cheaply: a decoded JSON object is a `dict` and a
    valid value's type is one of `kinds` exactly; the path of an error is built only when
    there is one."""
    if type(record) is not dict and not isinstance(record, Mapping):
        raise PayloadError(
            endpoint, where or field, f"expected an object, got {_type_name(record)}"
        )
    value = record.get(field, _MISSING)
    value_type = type(value)
    if value_type is kinds or (type(kinds) is tuple and value_type in kinds):
        return value
    if value is _MISSING:
        if optional:
            return None
        raise PayloadError(endpoint, _path(where, field), "missing")
    if value is None:
        if nullable or optional:
            return None
        raise PayloadError(endpoint, _path(where, field), "is null")
    if not _matches(value, kinds):
        expected = (
            kinds.__name__ if isinstance(kinds, type) else "/".join(k.__name__ for k in kinds)
        )
        raise PayloadError(
            endpoint, _path(where, field), f"expected {expected}, got {_type_name(value)}"
        )
    return value


def _path(where: str, field: str) -> str:
    return f"{where}.{field}" if where else field


def need_fraction(record: Any, field: str, endpoint: str, where: str) -> float:
    """A number in [0, 1] (edX grade and completion fractions), as float."""
    value = float(need(record, field, NUMBER, endpoint, where))
    if not -1e-9 <= value <= 1 + 1e-9:
        raise PayloadError(endpoint, f"{where}.{field}", f"{value} is not a fraction in 0..1")
    return value
