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


def register_legacy_model(
    engine: sa.Engine,
    model_name: str,
    model_version: str,
    model_path: Path,
    run_id: str,
    now: datetime | None = None,
) -> LegacyModelResult:
    """Insert the legacy model row once; default only when it loads and none is default."""
    registry = s.model_registry
    with engine.begin() as connection:
        existing = connection.execute(
            sa.select(registry).where(
                registry.c.model_name == model_name, registry.c.model_version == model_version
            )
        ).one_or_none()
        if existing is not None:
            return LegacyModelResult(
                "already_registered",
                bool(existing.is_active),
                bool(existing.is_default),
                existing.model_path,
                Path(existing.model_path).exists(),
            )
        file_found = model_path.is_file()
        has_default = connection.execute(
            sa.select(sa.func.count()).select_from(registry).where(registry.c.is_default.is_(True))
        ).scalar_one()
        is_default = file_found and not has_default
        features_csv = model_path.parent / "features.csv"
        connection.execute(
            sa.insert(registry).values(
                model_name=model_name,
                model_version=model_version,
                model_path=str(model_path),
                features_csv_path=str(features_csv) if features_csv.is_file() else None,
                model_type="fail",
                domain=LEGACY_DOMAIN,
                trained_on=["legacy"],
                is_active=file_found,
                is_default=is_default,
                created_at=(now or datetime.now()).replace(microsecond=0),
                run_id=run_id,
            )
        )
    return LegacyModelResult("registered", file_found, is_default, str(model_path), file_found)


def map_courses_to_model(
    engine: sa.Engine,
    course_ids: list[str],
    model_name: str,
    model_version: str,
    now: datetime | None = None,
) -> int:
    """Map each course without a mapping to the model (daily, auto_predict); keep others."""
    stamp = (now or datetime.now()).replace(microsecond=0)
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
