"""The model registry's Python API: register, promote, retire models; map courses to them.

Shared by the CLI (`dropout-registry`), the Dagster registry jobs and
the training assets, so every path applies the same checks. Each function validates
everything first and makes its change in ONE transaction: bad input raises `RegistryError`
with a message that says what to do, and leaves both tables exactly as they were. The
database backs the important rules up on its own (one default via the `default_slot`
unique index, a default is always active via a CHECK, unique (name, version)), so a race
between two operators fails one of them instead of breaking the invariant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.model_store import (
    FEATURES_FILE,
    ModelStore,
    ModelStoreError,
    load_model_file,
)
from dropout_pipelines.predict.registry_requests import (
    MapCourseRequest,
    ModelVersionRequest,
    RegisterModelRequest,
    Request,
    describe,
)
from dropout_pipelines.predict.selection import CLI, ModelRow, active_rows, newest_version
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import upsert_rows

if TYPE_CHECKING:
    import pandas as pd

MAPPING_UPDATE_COLUMNS = (
    "model_name",
    "model_version",
    "auto_predict",
    "predict_frequency",
    "shadow_model_name",
    "ab_model_name",
    "ab_share",
    "updated_at",
)
LIST_MODEL_COLUMNS = (
    "model_name",
    "model_version",
    "is_active",
    "is_default",
    "model_type",
    "domain",
    "accuracy",
    "training_rows",
    "trained_on",
    "metrics",
    "created_at",
    "run_id",
    "model_path",
    "features_csv_path",
)


class RegistryError(ValueError):
    """A registry change was refused; nothing was changed. The message says why and how
    to fix it."""


@dataclass(frozen=True)
class RegistryChange:
    """What a registry call did, for logs, CLI output and Dagster metadata."""

    action: str
    summary: str
    warnings: tuple[str, ...] = ()
    changed: bool = True


def _now(now: datetime | None) -> datetime:
    return (now or utc_now()).replace(microsecond=0)


def _key(name: str, version: str) -> str:
    return f"model {name} version {version}"


def parse_request(model: type[Request], **values: Any) -> Request:
    """`values` checked by the request's one declaration; a refusal is a RegistryError."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RegistryError(describe(error)) from error


def _check_key(model_name: str, model_version: str) -> None:
    parse_request(ModelVersionRequest, model_name=model_name, model_version=model_version)


def _check_run_id(run_id: str | None) -> None:
    if run_id is not None and (not isinstance(run_id, str) or not 0 < len(run_id) <= 64):
        raise RegistryError(f"run_id must be 1-64 characters, got {run_id!r}")


def _registry_row(connection: sa.Connection, name: str, version: str) -> sa.Row | None:
    r = s.model_registry
    return connection.execute(
        sa.select(r).where(r.c.model_name == name, r.c.model_version == version).with_for_update()
    ).one_or_none()


def _unknown_model(connection: sa.Connection, name: str, version: str | None) -> RegistryError:
    """The error for a model that is not registered, listing what is."""
    r = s.model_registry
    versions = sorted(
        connection.execute(sa.select(r.c.model_version).where(r.c.model_name == name)).scalars()
    )
    if versions:
        known = f"registered versions of {name}: {', '.join(versions)}"
    else:
        names = sorted(set(connection.execute(sa.select(r.c.model_name)).scalars()))
        known = f"registered models: {', '.join(names)}" if names else "the registry is empty"
        known = f"no model named {name} ({known})"
    what = _key(name, version) if version is not None else f"model {name}"
    return RegistryError(
        f"{what} is not registered ({known}); register it first with {CLI} register"
    )


def _current_default(connection: sa.Connection) -> sa.Row | None:
    r = s.model_registry
    return connection.execute(
        sa.select(r.c.id, r.c.model_name, r.c.model_version)
        .where(r.c.is_default.is_(True))
        .with_for_update()
    ).one_or_none()


def _clear_default(connection: sa.Connection) -> None:
    r = s.model_registry
    connection.execute(sa.update(r).where(r.c.is_default.is_(True)).values(is_default=False))


def _refused_by_database(error: sa.exc.IntegrityError, action: str) -> RegistryError:
    detail = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    return RegistryError(
        f"{action} refused by the database (another change may have raced this one; "
        f"nothing was changed, retry): {detail}"
    )


# --- register -------------------------------------------------------------------------


def _model_files(
    model_name: str,
    model_version: str,
    model_path: str | Path | None,
    features_csv_path: str | Path | None,
    store: ModelStore | None,
) -> tuple[Path, Path]:
    if model_path is None:
        if store is None:
            raise RegistryError(
                f"no model file for {_key(model_name, model_version)}: give model_path "
                "(and features_csv_path), or a model store that holds the version"
            )
        model_path = store.model_path(model_name, model_version)
        if features_csv_path is None:
            features_csv_path = store.features_csv_path(model_name, model_version)
    model_file = Path(model_path).expanduser().resolve()
    if features_csv_path is None:
        features_csv_path = model_file.parent / FEATURES_FILE
        if not features_csv_path.is_file():
            raise RegistryError(
                f"no feature list for {_key(model_name, model_version)}: give "
                f"features_csv_path (no {FEATURES_FILE} next to {model_file})"
            )
    return model_file, Path(features_csv_path).expanduser().resolve()


def validate_model_files(
    model_name: str, model_version: str, model_path: Path, features_csv_path: Path
) -> list[str]:
    """The model's ordered feature list, once the file has loaded with CatBoost and the
    feature list has matched the model's own feature names (order included)."""
    try:
        return load_model_file(model_path, features_csv_path).features
    except ModelStoreError as error:
        raise RegistryError(
            f"cannot register {_key(model_name, model_version)}: {error}"
        ) from error


def register_model(
    engine: sa.Engine,
    model_name: str,
    model_version: str,
    model_path: str | Path | None = None,
    features_csv_path: str | Path | None = None,
    *,
    store: ModelStore | None = None,
    model_type: str = "fail",
    domain: str | None = None,
    metrics: dict[str, Any] | None = None,
    trained_on: str | Sequence[str] | None = None,
    training_rows: int | None = None,
    run_id: str | None = None,
    make_default: bool = False,
    active: bool = True,
    now: datetime | None = None,
) -> RegistryChange:
    """Add a model version to the registry (optionally as the new default).

    The files are either given (`model_path`, `features_csv_path`; the feature list defaults
    to `features.csv` next to the model) or taken from `store` by name and version. The
    model must load with CatBoost and its feature list must equal the model's feature names,
    order included, before anything is written. Paths are stored absolute.
    """
    request = parse_request(
        RegisterModelRequest,
        model_name=model_name,
        model_version=model_version,
        model_path=None if model_path is None else str(model_path),
        features_csv_path=None if features_csv_path is None else str(features_csv_path),
        model_type=model_type,
        domain=domain,
        metrics=metrics,
        trained_on=[trained_on] if isinstance(trained_on, str) else trained_on,
        training_rows=training_rows,
        make_default=make_default,
        active=active,
    )
    _check_run_id(run_id)
    model_file, features_file = _model_files(
        model_name, model_version, model_path, features_csv_path, store
    )
    features = validate_model_files(model_name, model_version, model_file, features_file)

    r = s.model_registry
    try:
        with engine.begin() as connection:
            existing = _registry_row(connection, model_name, model_version)
            if existing is not None:
                raise RegistryError(
                    f"{_key(model_name, model_version)} is already registered (model_path "
                    f"{existing.model_path}): versions are immutable, register a new version"
                )
            previous = _current_default(connection) if make_default else None
            if previous is not None:
                _clear_default(connection)
            connection.execute(
                sa.insert(r).values(
                    model_name=model_name,
                    model_version=model_version,
                    model_path=str(model_file),
                    features_csv_path=str(features_file),
                    model_type=model_type,
                    domain=domain,
                    metrics=request.metrics,
                    accuracy=request.accuracy(),
                    trained_on=request.trained_on,
                    training_rows=training_rows,
                    is_active=active,
                    is_default=make_default,
                    created_at=_now(now),
                    run_id=run_id,
                )
            )
    except sa.exc.IntegrityError as error:
        raise _refused_by_database(
            error, f"registering {_key(model_name, model_version)}"
        ) from error
    state = "active" if active else "inactive"
    summary = (
        f"registered {_key(model_name, model_version)} ({state}, {len(features)} features) "
        f"from {model_file}"
    )
    if make_default:
        summary += "; it is now the default model"
        if previous is not None:
            summary += f" (was {_key(previous.model_name, previous.model_version)})"
    return RegistryChange("register", summary)


# --- default, activation --------------------------------------------------------------


def set_default(engine: sa.Engine, model_name: str, model_version: str) -> RegistryChange:
    """Make an active model version the default, clearing the old default in the same
    transaction (the unique index on `default_slot` keeps it to one at every moment)."""
    _check_key(model_name, model_version)
    r = s.model_registry
    try:
        with engine.begin() as connection:
            target = _registry_row(connection, model_name, model_version)
            if target is None:
                raise _unknown_model(connection, model_name, model_version)
            if not target.is_active:
                raise RegistryError(
                    f"{_key(model_name, model_version)} is inactive and cannot be the default: "
                    f"activate it first ({CLI} activate {model_name} {model_version})"
                )
            if target.is_default:
                return RegistryChange(
                    "set-default",
                    f"{_key(model_name, model_version)} is already the default model",
                    changed=False,
                )
            previous = _current_default(connection)
            _clear_default(connection)
            connection.execute(sa.update(r).where(r.c.id == target.id).values(is_default=True))
    except sa.exc.IntegrityError as error:
        raise _refused_by_database(error, "changing the default model") from error
    was = f" (was {_key(previous.model_name, previous.model_version)})" if previous else ""
    return RegistryChange(
        "set-default", f"{_key(model_name, model_version)} is now the default model{was}"
    )


def _mappings_left_without_model(
    connection: sa.Connection, model_name: str, model_version: str
) -> list[str]:
    """Courses whose mapping stops resolving when this version goes inactive."""
    m = s.course_model_mapping
    others = [
        row
        for row in active_rows(connection, [model_name])
        if row.model_name == model_name and row.model_version != model_version
    ]
    condition = m.c.model_version == model_version
    if not others:
        condition = sa.or_(condition, m.c.model_version.is_(None))
    return sorted(
        connection.execute(
            sa.select(m.c.course_id).where(m.c.model_name == model_name, condition)
        ).scalars()
    )


def deactivate(
    engine: sa.Engine, model_name: str, model_version: str, *, force: bool = False
) -> RegistryChange:
    """Take a model version out of service (its row and files stay, for history).

    The default model is refused unless `force`: then it stops being the default too, and
    the change carries a warning that courses without a usable mapping have no model.
    """
    _check_key(model_name, model_version)
    r = s.model_registry
    warnings: list[str] = []
    with engine.begin() as connection:
        target = _registry_row(connection, model_name, model_version)
        if target is None:
            raise _unknown_model(connection, model_name, model_version)
        if not target.is_active:
            return RegistryChange(
                "deactivate",
                f"{_key(model_name, model_version)} is already inactive",
                changed=False,
            )
        if target.is_default and not force:
            raise RegistryError(
                f"{_key(model_name, model_version)} is the default model: make another model "
                f"the default first ({CLI} set-default NAME VERSION), or force it (then no "
                "model is the default)"
            )
        courses = _mappings_left_without_model(connection, model_name, model_version)
        connection.execute(
            sa.update(r).where(r.c.id == target.id).values(is_active=False, is_default=False)
        )
    if target.is_default:
        warnings.append(
            f"{_key(model_name, model_version)} was the default model: there is now NO default, "
            f"so courses without an active mapped model cannot be predicted until "
            f"{CLI} set-default NAME VERSION"
        )
    if courses:
        shown = ", ".join(courses[:10]) + (" …" if len(courses) > 10 else "")
        warnings.append(
            f"{len(courses)} course mapping(s) now fall back to the default model: {shown}"
        )
    return RegistryChange(
        "deactivate", f"{_key(model_name, model_version)} is now inactive", tuple(warnings)
    )


def activate(engine: sa.Engine, model_name: str, model_version: str) -> RegistryChange:
    """Put a model version back in service, once its files still load and agree."""
    _check_key(model_name, model_version)
    r = s.model_registry
    with engine.begin() as connection:
        row = _registry_row(connection, model_name, model_version)
        if row is None:
            raise _unknown_model(connection, model_name, model_version)
        if row.is_active:
            return RegistryChange(
                "activate", f"{_key(model_name, model_version)} is already active", changed=False
            )
        try:
            load_model_file(row.model_path, row.features_csv_path)
        except ModelStoreError as error:
            raise RegistryError(
                f"cannot activate {_key(model_name, model_version)}: {error}"
            ) from error
        connection.execute(sa.update(r).where(r.c.id == row.id).values(is_active=True))
    return RegistryChange("activate", f"{_key(model_name, model_version)} is now active")


# --- course mapping -------------------------------------------------------------------


def _require_active(
    connection: sa.Connection,
    active: list[ModelRow],
    role: str,
    model_name: str,
    model_version: str | None,
) -> ModelRow:
    if model_version is not None:
        match = [
            row
            for row in active
            if row.model_name == model_name and row.model_version == model_version
        ]
        if match:
            return match[0]
        if _registry_row(connection, model_name, model_version) is None:
            raise _unknown_model(connection, model_name, model_version)
        raise RegistryError(
            f"{role} {model_name} version {model_version} is inactive: activate it "
            f"({CLI} activate {model_name} {model_version}) or choose an active model"
        )
    row = newest_version(active, model_name)
    if row is not None:
        return row
    r = s.model_registry
    registered = connection.execute(
        sa.select(sa.func.count()).select_from(r).where(r.c.model_name == model_name)
    ).scalar_one()
    if not registered:
        raise _unknown_model(connection, model_name, None)
    raise RegistryError(f"{role} {model_name} has no active version: activate or register one")


def map_course(
    engine: sa.Engine,
    course_id: str,
    model_name: str,
    model_version: str | None = None,
    frequency: str = "daily",
    auto_predict: bool = True,
    shadow_model_name: str | None = None,
    ab_model_name: str | None = None,
    ab_share: float | None = None,
    *,
    now: datetime | None = None,
) -> RegistryChange:
    """Create or replace a course's mapping (`model_version` None = newest active version).

    The serving, shadow and A/B models must each have an active version now; the schedules
    read the mapping at every tick, so the change applies at the next one.
    """
    parse_request(
        MapCourseRequest,
        course_id=course_id,
        model_name=model_name,
        model_version=model_version,
        frequency=frequency,
        auto_predict=auto_predict,
        shadow_model_name=shadow_model_name,
        ab_model_name=ab_model_name,
        ab_share=ab_share,
    )
    m = s.course_model_mapping
    with engine.begin() as connection:
        active = active_rows(connection, [model_name, shadow_model_name, ab_model_name])
        serving = _require_active(connection, active, "model", model_name, model_version)
        if shadow_model_name is not None:
            _require_active(connection, active, "shadow model", shadow_model_name, None)
        if ab_model_name is not None:
            _require_active(connection, active, "A/B model", ab_model_name, None)
        previous = connection.execute(
            sa.select(m.c.model_name, m.c.model_version).where(m.c.course_id == course_id)
        ).one_or_none()
        known_course = connection.execute(
            sa.select(sa.func.count())
            .select_from(s.courses)
            .where(s.courses.c.course_id == course_id)
        ).scalar_one()
        upsert_rows(
            connection,
            m,
            [
                {
                    "course_id": course_id,
                    "model_name": model_name,
                    "model_version": model_version,
                    "auto_predict": auto_predict,
                    "predict_frequency": frequency,
                    "shadow_model_name": shadow_model_name,
                    "ab_model_name": ab_model_name,
                    "ab_share": float(ab_share) if ab_share is not None else None,
                    "updated_at": _now(now),
                }
            ],
            key_columns=["course_id"],
            update_columns=MAPPING_UPDATE_COLUMNS,
        )
    pinned = model_version or f"newest active version, now {serving.model_version}"
    summary = (
        f"course {course_id} → {model_name} ({pinned}), {frequency}, "
        f"auto_predict={'on' if auto_predict else 'off'}"
    )
    if shadow_model_name:
        summary += f", shadow {shadow_model_name}"
    if ab_model_name:
        summary += f", A/B {ab_model_name} for {ab_share:.0%} of students"
    if previous is not None:
        summary += f" (was {previous.model_name} {previous.model_version or '(newest)'})"
    warnings = ()
    if not known_course:
        warnings = (
            f"course {course_id} is not in the courses table yet (never discovered or "
            "ingested): the mapping applies once it is",
        )
    return RegistryChange("map", summary, warnings)


# --- listings ---------------------------------------------------------------------------


def list_models(engine: sa.Engine) -> pd.DataFrame:
    """Every registered version, newest last within each name."""
    import pandas as pd  # here, not at the top: the CLI's write commands start faster

    r = s.model_registry
    with engine.connect() as connection:
        rows = (
            connection.execute(
                sa.select(*(r.c[name] for name in LIST_MODEL_COLUMNS)).order_by(
                    r.c.model_name, r.c.created_at, r.c.id
                )
            )
            .mappings()
            .all()
        )
    frame = pd.DataFrame(rows, columns=list(LIST_MODEL_COLUMNS))
    for column in ("is_active", "is_default"):
        frame[column] = frame[column].astype(bool)
    return frame


def list_mappings(engine: sa.Engine) -> pd.DataFrame:
    """Every course mapping, by course id."""
    import pandas as pd

    m = s.course_model_mapping
    with engine.connect() as connection:
        rows = connection.execute(sa.select(m).order_by(m.c.course_id)).mappings().all()
    frame = pd.DataFrame(rows, columns=list(m.c.keys()))
    frame["auto_predict"] = frame["auto_predict"].astype(bool)
    return frame
