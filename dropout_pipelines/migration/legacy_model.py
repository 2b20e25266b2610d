"""Register the legacy model (`fm101_v4`) and map every legacy course to it.

The legacy model served every course in v1; after the migration it stays the default
until a trained model is promoted. A missing model file must not stop the migration: the
row is registered inactive (never default) and the caller warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.registry import RegistryError, register_model
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import insert_rows_skip_existing

LEGACY_DOMAIN = "legacy"


@dataclass(frozen=True)
class LegacyModelResult:
    status: str  # registered | already_registered
    is_active: bool
    is_default: bool
    model_path: str
    file_found: bool
    problem: str | None = None


def _existing(engine: sa.Engine, model_name: str, model_version: str) -> sa.Row | None:
    registry = s.model_registry
    with engine.connect() as connection:
        return connection.execute(
            sa.select(registry).where(
                registry.c.model_name == model_name, registry.c.model_version == model_version
            )
        ).one_or_none()


def _has_default(engine: sa.Engine) -> bool:
    registry = s.model_registry
    with engine.connect() as connection:
        return bool(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(registry)
                .where(registry.c.is_default.is_(True))
            ).scalar_one()
        )


def _register_placeholder(
    engine: sa.Engine,
    model_name: str,
    model_version: str,
    model_path: Path,
    run_id: str,
    now: datetime | None,
) -> None:
    """The legacy model's row without a usable file: inactive, never default."""
    with engine.begin() as connection:
        connection.execute(
            sa.insert(s.model_registry).values(
                model_name=model_name,
                model_version=model_version,
                model_path=str(model_path),
                model_type="fail",
                domain=LEGACY_DOMAIN,
                trained_on=["legacy"],
                is_active=False,
                is_default=False,
                created_at=(now or utc_now()).replace(microsecond=0),
                run_id=run_id,
            )
        )


def register_legacy_model(
    engine: sa.Engine,
    model_name: str,
    model_version: str,
    model_path: Path,
    run_id: str,
    now: datetime | None = None,
) -> LegacyModelResult:
    """Register the legacy model once, through the registry's validation (the file must
    load and match its feature list); default only when no model is default yet. A missing
    or unusable file gives an inactive placeholder row and the reason in `problem`."""
    existing = _existing(engine, model_name, model_version)
    if existing is not None:
        return LegacyModelResult(
            "already_registered",
            bool(existing.is_active),
            bool(existing.is_default),
            existing.model_path,
            Path(existing.model_path).exists(),
        )
    problem = None if model_path.is_file() else f"model file {model_path} not found"
    if problem is None:
        make_default = not _has_default(engine)
        try:
            register_model(
                engine,
                model_name,
                model_version,
                model_path,
                domain=LEGACY_DOMAIN,
                trained_on=["legacy"],
                run_id=run_id,
                make_default=make_default,
                now=now,
            )
            return LegacyModelResult("registered", True, make_default, str(model_path), True)
        except RegistryError as error:
            problem = str(error)
    _register_placeholder(engine, model_name, model_version, model_path, run_id, now)
    return LegacyModelResult(
        "registered", False, False, str(model_path), model_path.is_file(), problem
    )


def map_courses_to_model(
    engine: sa.Engine,
    course_ids: list[str],
    model_name: str,
    model_version: str,
    now: datetime | None = None,
) -> int:
    """Map each course without a mapping to the model (daily, auto_predict); keep others."""
    stamp = (now or utc_now()).replace(microsecond=0)
    rows = [
        {
            "course_id": course_id,
            "model_name": model_name,
            "model_version": model_version,
            "auto_predict": True,
            "predict_frequency": "daily",
            "updated_at": stamp,
        }
        for course_id in course_ids
    ]
    with engine.begin() as connection:
        return insert_rows_skip_existing(connection, s.course_model_mapping, rows)
