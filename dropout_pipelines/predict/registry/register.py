"""Registering a model version: its files are found (given, or in the store), must load
and agree with their feature list, and are written as one row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dropout_pipelines.predict.model_store import (
    FEATURES_FILE,
    ModelStore,
    ModelStoreError,
    default_model_store,
)
from dropout_pipelines.predict.registry.changes import (
    RegistryChange,
    RegistryError,
    check_run_id,
    clear_default,
    current_default,
    model_key,
    parse_request,
    refused_by_database,
    registry_row,
    stamp,
)
from dropout_pipelines.predict.registry.requests import RegisterModelRequest
from dropout_pipelines.warehouse import schema as s


def _file_references(
    model_name: str,
    model_version: str,
    model_path: str | Path,
    features_csv_path: str | Path | None,
) -> tuple[str, str]:
    """Absolute paths of a model registered by file (features.csv next to it by default)."""
    model_file = Path(model_path).expanduser().resolve()
    if features_csv_path is None:
        features_csv_path = model_file.parent / FEATURES_FILE
        if not features_csv_path.is_file():
            raise RegistryError(
                f"no feature list for {model_key(model_name, model_version)}: give "
                f"features_csv_path (no {FEATURES_FILE} next to {model_file})"
            )
    return str(model_file), str(Path(features_csv_path).expanduser().resolve())


def validated_reference(
    model_name: str,
    model_version: str,
    model_path: str | Path | None,
    features_csv_path: str | Path | None,
    store: ModelStore | None,
) -> tuple[str, str | None, list[str]]:
    """(model_path, features_csv_path, features) for the registry row, once the model has
    loaded through the store and agreed with its feature list (order included).

    Without `model_path` the version must be in `store` and the row holds its store key;
    with it, the row holds the file's absolute path (a file registered by path)."""
    if model_path is None:
        if store is None:
            raise RegistryError(
                f"no model file for {model_key(model_name, model_version)}: give model_path "
                "(and features_csv_path), or a model store that holds the version"
            )
        reference, features_reference = store.key(model_name, model_version), None
    else:
        reference, features_reference = _file_references(
            model_name, model_version, model_path, features_csv_path
        )
    try:
        loaded = (store or default_model_store()).load_registered(reference, features_reference)
    except ModelStoreError as error:
        raise RegistryError(
            f"cannot register {model_key(model_name, model_version)}: {error}"
        ) from error
    return reference, features_reference, loaded.features


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

    The model is either in `store` (the row holds its key, `name/version`) or a file given
    by `model_path`, `features_csv_path` (the feature list defaults to `features.csv` next to
    the model; the row holds absolute paths). It must load with CatBoost and its feature
    list must equal the model's feature names, order included, before anything is written.
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
    check_run_id(run_id)
    reference, features_reference, features = validated_reference(
        model_name, model_version, model_path, features_csv_path, store
    )

    r = s.model_registry
    try:
        with engine.begin() as connection:
            existing = registry_row(connection, model_name, model_version)
            if existing is not None:
                raise RegistryError(
                    f"{model_key(model_name, model_version)} is already registered (model_path "
                    f"{existing.model_path}): versions are immutable, register a new version"
                )
            previous = current_default(connection) if make_default else None
            if previous is not None:
                clear_default(connection)
            connection.execute(
                sa.insert(r).values(
                    model_name=model_name,
                    model_version=model_version,
                    model_path=reference,
                    features_csv_path=features_reference,
                    model_type=model_type,
                    domain=domain,
                    metrics=request.metrics,
                    accuracy=request.accuracy(),
                    trained_on=request.trained_on,
                    training_rows=training_rows,
                    is_active=active,
                    is_default=make_default,
                    created_at=stamp(now),
                    run_id=run_id,
                )
            )
    except sa.exc.IntegrityError as error:
        raise refused_by_database(
            error, f"registering {model_key(model_name, model_version)}"
        ) from error
    state = "active" if active else "inactive"
    summary = (
        f"registered {model_key(model_name, model_version)} ({state}, {len(features)} features) "
        f"from {reference}"
    )
    if make_default:
        summary += "; it is now the default model"
        if previous is not None:
            summary += f" (was {model_key(previous.model_name, previous.model_version)})"
    return RegistryChange("register", summary)
