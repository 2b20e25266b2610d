"""What every registry change shares: its refusal (`RegistryError`), its report
(`RegistryChange`), request parsing, and the row look-ups and locks of `model_registry`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from dropout_pipelines.clock import utc_now
from dropout_pipelines.predict.registry.requests import ModelVersionRequest, Request, describe
from dropout_pipelines.predict.selection import CLI
from dropout_pipelines.warehouse import schema as s


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


def stamp(now: datetime | None) -> datetime:
    return (now or utc_now()).replace(microsecond=0)


def model_key(name: str, version: str) -> str:
    return f"model {name} version {version}"


def parse_request(model: type[Request], **values: Any) -> Request:
    """`values` checked by the request's one declaration; a refusal is a RegistryError."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RegistryError(describe(error)) from error


def check_key(model_name: str, model_version: str) -> None:
    parse_request(ModelVersionRequest, model_name=model_name, model_version=model_version)


def check_run_id(run_id: str | None) -> None:
    if run_id is not None and (not isinstance(run_id, str) or not 0 < len(run_id) <= 64):
        raise RegistryError(f"run_id must be 1-64 characters, got {run_id!r}")


def registry_row(connection: sa.Connection, name: str, version: str) -> sa.Row | None:
    r = s.model_registry
    return connection.execute(
        sa.select(r).where(r.c.model_name == name, r.c.model_version == version).with_for_update()
    ).one_or_none()


def unknown_model(connection: sa.Connection, name: str, version: str | None) -> RegistryError:
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
    what = model_key(name, version) if version is not None else f"model {name}"
    return RegistryError(
        f"{what} is not registered ({known}); register it first with {CLI} register"
    )


def current_default(connection: sa.Connection) -> sa.Row | None:
    r = s.model_registry
    return connection.execute(
        sa.select(r.c.id, r.c.model_name, r.c.model_version)
        .where(r.c.is_default.is_(True))
        .with_for_update()
    ).one_or_none()


def clear_default(connection: sa.Connection) -> None:
    r = s.model_registry
    connection.execute(sa.update(r).where(r.c.is_default.is_(True)).values(is_default=False))


def refused_by_database(error: sa.exc.IntegrityError, action: str) -> RegistryError:
    detail = str(error.orig).splitlines()[0] if error.orig is not None else str(error)
    return RegistryError(
        f"{action} refused by the database (another change may have raced this one; "
        f"nothing was changed, retry): {detail}"
    )
