"""Registry changes as Dagster jobs, for operators who work in the UI rather than a shell.

Each job is one op over the same Python API as the CLI (`predict/registry.py`), so the
checks are identical; a refused change fails the run with the registry's message and
changes nothing. Resources: `warehouse`, and `model_store` for `register_model_job`
(a model given by name and version only is looked up in the store). Like the CLI's
write commands, each op first creates whatever part of the (idempotent) schema is missing.
"""

import sqlalchemy as sa
from dagster import Config, Failure, OpExecutionContext, Output, job, op

from dropout_pipelines.predict.registry import (
    RegistryChange,
    RegistryError,
    deactivate,
    map_course,
    register_model,
    set_default,
)
from dropout_pipelines.predict.registry.requests import (
    DeactivateModelRequest,
    MapCourseRequest,
    ModelVersionRequest,
    RegisterModelRequest,
)
from dropout_pipelines.predict.store_resource import ModelStoreResource
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource


class RegisterModelConfig(RegisterModelRequest, Config):
    """Run config of `register_model_job`: the registry's own request shape."""


class MapCourseConfig(MapCourseRequest, Config):
    """Run config of `map_course_job`: the registry's own request shape."""


class ModelVersionConfig(ModelVersionRequest, Config):
    """Run config naming one model version."""


class DeactivateModelConfig(DeactivateModelRequest, Config):
    """Run config of `deactivate_model_job`."""


def _report(context: OpExecutionContext, change: RegistryChange) -> Output[None]:
    context.log.info(change.summary if change.changed else f"no change: {change.summary}")
    for warning in change.warnings:
        context.log.warning(warning)
    return Output(
        None,
        metadata={
            "action": change.action,
            "changed": change.changed,
            "summary": change.summary,
            "warnings": "\n".join(change.warnings) or "none",
        },
    )


def _engine(warehouse: WarehouseResource) -> sa.Engine:
    engine = warehouse.get_engine()
    create_schema(engine)
    return engine


def _refused(error: RegistryError) -> Failure:
    return Failure(description=f"{error} (nothing was changed)")


@op(pool=WAREHOUSE_POOL)
def register_model_op(
    context: OpExecutionContext,
    config: RegisterModelConfig,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
) -> Output[None]:
    """Register a model version (the files must load and agree first)."""
    try:
        change = register_model(
            _engine(warehouse),
            store=model_store.store(),
            run_id=context.run_id,
            **RegisterModelRequest.model_validate(config.model_dump()).model_dump(),
        )
    except RegistryError as error:
        raise _refused(error) from error
    return _report(context, change)


@op(pool=WAREHOUSE_POOL)
def map_course_op(
    context: OpExecutionContext, config: MapCourseConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Create or replace a course's mapping; the schedules use it from their next tick."""
    try:
        change = map_course(_engine(warehouse), **config.model_dump())
    except RegistryError as error:
        raise _refused(error) from error
    return _report(context, change)


@op(pool=WAREHOUSE_POOL)
def set_default_model_op(
    context: OpExecutionContext, config: ModelVersionConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Switch the default model in one transaction."""
    try:
        change = set_default(_engine(warehouse), config.model_name, config.model_version)
    except RegistryError as error:
        raise _refused(error) from error
    return _report(context, change)


@op(pool=WAREHOUSE_POOL)
def deactivate_model_op(
    context: OpExecutionContext, config: DeactivateModelConfig, warehouse: WarehouseResource
) -> Output[None]:
    """Take a model version out of service (the default only with force)."""
    try:
        change = deactivate(
            _engine(warehouse), config.model_name, config.model_version, force=config.force
        )
    except RegistryError as error:
        raise _refused(error) from error
    return _report(context, change)


@job(description="Register a model version in model_registry (files checked first).")
def register_model_job() -> None:
    register_model_op()


@job(description="Map a course to a model (create or replace its course_model_mapping row).")
def map_course_job() -> None:
    map_course_op()


@job(description="Make a model version the default model (atomic switch).")
def set_default_model_job() -> None:
    set_default_model_op()


@job(description="Deactivate a model version (the default only with force).")
def deactivate_model_job() -> None:
    deactivate_model_op()


REGISTRY_JOBS = [register_model_job, map_course_job, set_default_model_job, deactivate_model_job]
