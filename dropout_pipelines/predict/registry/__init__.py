"""The model registry's Python API: register, promote, retire models; map courses to them.

Shared by the CLI (`dropout-registry`), the Dagster registry jobs and
the training assets, so every path applies the same checks. Each function validates
everything first and makes its change in ONE transaction: bad input raises `RegistryError`
with a message that says what to do, and leaves both tables exactly as they were. The
database backs the important rules up on its own (one default via the `default_slot`
unique index, a default is always active via a CHECK, unique (name, version)), so a race
between two operators fails one of them instead of breaking the invariant.

Rooms of this package: `requests` (the inputs, declared once), `changes` (refusals,
reports, row locks), `register`, `defaults` (the default model, activation), `mappings`,
`listings`, and the two front ends over them: `cli` (`dropout-registry`) and `jobs`
(Dagster).
"""

from dropout_pipelines.predict.registry.changes import (
    RegistryChange,
    RegistryError,
    parse_request,
)
from dropout_pipelines.predict.registry.defaults import activate, deactivate, set_default
from dropout_pipelines.predict.registry.listings import list_mappings, list_models
from dropout_pipelines.predict.registry.mappings import map_course
from dropout_pipelines.predict.registry.register import register_model, validated_reference

__all__ = [
    "RegistryChange",
    "RegistryError",
    "activate",
    "deactivate",
    "list_mappings",
    "list_models",
    "map_course",
    "parse_request",
    "register_model",
    "set_default",
    "validated_reference",
]
