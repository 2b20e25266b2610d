"""Which versions serve: the default model (one, switched atomically) and activation."""

from __future__ import annotations

import sqlalchemy as sa

from dropout_pipelines.predict.model_store import (
    ModelStore,
    ModelStoreError,
    default_model_store,
)
from dropout_pipelines.predict.registry.changes import (
    RegistryChange,
    RegistryError,
    check_key,
    clear_default,
    current_default,
    model_key,
    refused_by_database,
    registry_row,
    unknown_model,
)
from dropout_pipelines.predict.selection import CLI, active_rows
from dropout_pipelines.warehouse import schema as s


def set_default(engine: sa.Engine, model_name: str, model_version: str) -> RegistryChange:
    """Make an active model version the default, clearing the old default in the same
    transaction (the unique index on `default_slot` keeps it to one at every moment)."""
    check_key(model_name, model_version)
    r = s.model_registry
    try:
        with engine.begin() as connection:
            target = registry_row(connection, model_name, model_version)
            if target is None:
                raise unknown_model(connection, model_name, model_version)
            if not target.is_active:
                raise RegistryError(
                    f"{model_key(model_name, model_version)} is inactive and cannot be the "
                    f"default: activate it first ({CLI} activate {model_name} {model_version})"
                )
            if target.is_default:
                return RegistryChange(
                    "set-default",
                    f"{model_key(model_name, model_version)} is already the default model",
                    changed=False,
                )
            previous = current_default(connection)
            clear_default(connection)
            connection.execute(sa.update(r).where(r.c.id == target.id).values(is_default=True))
    except sa.exc.IntegrityError as error:
        raise refused_by_database(error, "changing the default model") from error
    was = f" (was {model_key(previous.model_name, previous.model_version)})" if previous else ""
    return RegistryChange(
        "set-default", f"{model_key(model_name, model_version)} is now the default model{was}"
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
    check_key(model_name, model_version)
    r = s.model_registry
    warnings: list[str] = []
    with engine.begin() as connection:
        target = registry_row(connection, model_name, model_version)
        if target is None:
            raise unknown_model(connection, model_name, model_version)
        if not target.is_active:
            return RegistryChange(
                "deactivate",
                f"{model_key(model_name, model_version)} is already inactive",
                changed=False,
            )
        if target.is_default and not force:
            raise RegistryError(
                f"{model_key(model_name, model_version)} is the default model: make another model "
                f"the default first ({CLI} set-default NAME VERSION), or force it (then no "
                "model is the default)"
            )
        courses = _mappings_left_without_model(connection, model_name, model_version)
        connection.execute(
            sa.update(r).where(r.c.id == target.id).values(is_active=False, is_default=False)
        )
    if target.is_default:
        warnings.append(
            f"{model_key(model_name, model_version)} was the default model: there is now NO "
            f"default, so courses without an active mapped model cannot be predicted until "
            f"{CLI} set-default NAME VERSION"
        )
    if courses:
        shown = ", ".join(courses[:10]) + (" …" if len(courses) > 10 else "")
        warnings.append(
            f"{len(courses)} course mapping(s) now fall back to the default model: {shown}"
        )
    return RegistryChange(
        "deactivate", f"{model_key(model_name, model_version)} is now inactive", tuple(warnings)
    )


def activate(
    engine: sa.Engine, model_name: str, model_version: str, store: ModelStore | None = None
) -> RegistryChange:
    """Put a model version back in service, once its model still loads from the store
    (default: the local store under DROPOUT_MODELS_DIR) and agrees with its features."""
    check_key(model_name, model_version)
    r = s.model_registry
    with engine.begin() as connection:
        row = registry_row(connection, model_name, model_version)
        if row is None:
            raise unknown_model(connection, model_name, model_version)
        if row.is_active:
            return RegistryChange(
                "activate",
                f"{model_key(model_name, model_version)} is already active",
                changed=False,
            )
        try:
            (store or default_model_store()).load_registered(row.model_path, row.features_csv_path)
        except ModelStoreError as error:
            raise RegistryError(
                f"cannot activate {model_key(model_name, model_version)}: {error}"
            ) from error
        connection.execute(sa.update(r).where(r.c.id == row.id).values(is_active=True))
    return RegistryChange("activate", f"{model_key(model_name, model_version)} is now active")
