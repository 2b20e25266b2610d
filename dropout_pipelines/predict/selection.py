"""Which model scores a course: its mapping when that model is active, else the default.

SPEC §2: the course's `course_model_mapping` row wins if the mapped model is active
(`model_version` NULL = the newest active version of that name: newest `created_at`, then
the highest version, compared as numbers where they are numbers); else the default model;
else `NoModelError`, whose message names the course and the command that fixes it. A
mapping whose model is gone does not fail the course (the default serves it, and the
choice says why in `notes`), because a deactivated model must not stop predictions.

The rules are pure functions over plain rows; `resolve_model_for_course` only adds the
two queries that fetch those rows.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s

CLI = "dropout-registry"


class NoModelError(LookupError):
    """No active model can score the course (no usable mapping and no default)."""


@dataclass(frozen=True)
class ModelRow:
    """The columns of an active `model_registry` row that selection needs."""

    model_name: str
    model_version: str
    model_path: str
    features_csv_path: str | None
    created_at: datetime
    is_default: bool
    id: int = 0


@dataclass(frozen=True)
class MappingRow:
    """A `course_model_mapping` row, as far as selection is concerned."""

    course_id: str
    model_name: str
    model_version: str | None = None
    shadow_model_name: str | None = None
    ab_model_name: str | None = None
    ab_share: float | None = None


@dataclass(frozen=True)
class ModelChoice:
    """The model that scores a course, and the challengers that run beside it.

    `ab` is (model B, share of students scored by B); `notes` says why the choice is not
    simply the mapping (a fallback, a challenger that is not active), for the run's log.
    """

    model_name: str
    model_version: str
    model_path: str
    features_csv_path: str | None
    source: Literal["mapping", "default"]
    shadow: ModelChoice | None = None
    ab: tuple[ModelChoice, float] | None = None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.model_name}:{self.model_version}"


def version_sort_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Versions compared piecewise, numbers as numbers: "10" > "9", "v2.10" > "v2.9"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.split(r"(\d+)", version)
        if part
    )


def newest_sort_key(row: ModelRow) -> tuple:
    return (row.created_at, version_sort_key(row.model_version), row.id)


def newest_version(active: Iterable[ModelRow], model_name: str) -> ModelRow | None:
    """The newest of the active rows named `model_name` (None when there is none)."""
    candidates = [row for row in active if row.model_name == model_name]
    return max(candidates, key=newest_sort_key) if candidates else None


def find_active(
    active: Iterable[ModelRow], model_name: str, model_version: str | None
) -> ModelRow | None:
    """The pinned version when `model_version` is set, else the newest active version."""
    if model_version is None:
        return newest_version(active, model_name)
    for row in active:
        if row.model_name == model_name and row.model_version == model_version:
            return row
    return None


def _choice(row: ModelRow, source: Literal["mapping", "default"], **extra) -> ModelChoice:
    return ModelChoice(
        row.model_name, row.model_version, row.model_path, row.features_csv_path, source, **extra
    )


def describe_mapped(model_name: str, model_version: str | None) -> str:
    if model_version is None:
        return f"{model_name} (newest active version)"
    return f"{model_name} version {model_version}"


def no_model_message(course_id: str, mapping: MappingRow | None) -> str:
    """What the operator reads when a course cannot be scored: why, and the fix."""
    if mapping is None:
        why = "it has no course_model_mapping row and there is no default model"
    else:
        mapped = describe_mapped(mapping.model_name, mapping.model_version)
        why = f"it is mapped to {mapped}, which is not an active model, and there is no default"
    course = shlex.quote(course_id)
    return (
        f"no model for course {course_id}: {why}. Fix: register a model and make it the "
        f"default ({CLI} set-default NAME VERSION), or map the course to an active model "
        f"({CLI} map {course} NAME)"
    )


def _challengers(
    mapping: MappingRow, active: Sequence[ModelRow]
) -> tuple[ModelChoice | None, tuple[ModelChoice, float] | None, list[str]]:
    notes: list[str] = []
    shadow = None
    if mapping.shadow_model_name:
        row = newest_version(active, mapping.shadow_model_name)
        if row is None:
            notes.append(f"shadow model {mapping.shadow_model_name} has no active version: skipped")
        else:
            shadow = _choice(row, "mapping")
    ab = None
    if mapping.ab_model_name and mapping.ab_share is not None:
        row = newest_version(active, mapping.ab_model_name)
        if row is None:
            notes.append(f"A/B model {mapping.ab_model_name} has no active version: no A/B split")
        else:
            ab = (_choice(row, "mapping"), float(mapping.ab_share))
    return shadow, ab, notes


def choose_model(
    course_id: str, mapping: MappingRow | None, active: Sequence[ModelRow]
) -> ModelChoice:
    """The rule of SPEC §2 over plain rows (`active` = the active registry rows).

    A fallback to the default drops the mapping's shadow and A/B models too: they were set
    up to be compared with the mapped model, not with whatever the default is.
    """
    notes: list[str] = []
    if mapping is not None:
        row = find_active(active, mapping.model_name, mapping.model_version)
        if row is not None:
            shadow, ab, challenger_notes = _challengers(mapping, active)
            return _choice(row, "mapping", shadow=shadow, ab=ab, notes=tuple(challenger_notes))
        notes.append(
            f"course {course_id} is mapped to "
            f"{describe_mapped(mapping.model_name, mapping.model_version)}, which is not an "
            "active model: using the default model"
        )
    defaults = [row for row in active if row.is_default]
    if not defaults:
        raise NoModelError(no_model_message(course_id, mapping))
    return _choice(defaults[0], "default", notes=tuple(notes))


def _mapping_row(connection: sa.Connection, course_id: str) -> MappingRow | None:
    m = s.course_model_mapping
    row = connection.execute(
        sa.select(
            m.c.course_id,
            m.c.model_name,
            m.c.model_version,
            m.c.shadow_model_name,
            m.c.ab_model_name,
            m.c.ab_share,
        ).where(m.c.course_id == course_id)
    ).one_or_none()
    return MappingRow(*row) if row is not None else None


def active_rows(connection: sa.Connection, names: Iterable[str] = ()) -> list[ModelRow]:
    """Active registry rows named in `names`, plus the default model."""
    r = s.model_registry
    wanted = sorted({name for name in names if name})
    condition = r.c.is_default.is_(True)
    if wanted:
        condition = sa.or_(condition, r.c.model_name.in_(wanted))
    rows = connection.execute(
        sa.select(
            r.c.model_name,
            r.c.model_version,
            r.c.model_path,
            r.c.features_csv_path,
            r.c.created_at,
            r.c.is_default,
            r.c.id,
        ).where(r.c.is_active.is_(True), condition)
    )
    return [
        ModelRow(name, version, path, features, created, bool(default), int(row_id))
        for name, version, path, features, created, default, row_id in rows
    ]


def resolve_model_for_course(
    connection_or_engine: sa.Connection | sa.Engine, course_id: str
) -> ModelChoice:
    """The model (and challengers) that score `course_id` now, read from the registry."""
    if isinstance(connection_or_engine, sa.Engine):
        with connection_or_engine.connect() as connection:
            return resolve_model_for_course(connection, course_id)
    connection = connection_or_engine
    mapping = _mapping_row(connection, course_id)
    names = []
    if mapping is not None:
        names = [mapping.model_name, mapping.shadow_model_name, mapping.ab_model_name]
    return choose_model(course_id, mapping, active_rows(connection, names))


def resolve_default_model(connection: sa.Connection) -> ModelChoice:
    """The default model alone: what serves a course without a mapping (promotion gates
    compare candidates with it)."""
    return choose_model("(any course without a mapping)", None, active_rows(connection))
