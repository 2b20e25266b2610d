"""The model store as a Dagster resource: where model files are kept (`DROPOUT_MODELS_DIR`)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from dropout_pipelines.predict.model_store import LocalModelStore, ModelStore
from dropout_pipelines.settings import models_dir_from_env


class ModelStoreResource(ConfigurableResource):
    """Model files on a local (or mounted) filesystem.

    The folder is resolved when used, not when the code location loads, so a
    `DROPOUT_MODELS_DIR` set for a run applies to that run.
    """

    models_dir: str | None = Field(
        default=None,
        description="Folder of the model store; empty = DROPOUT_MODELS_DIR, else the "
        "project's models/ folder.",
    )

    def root(self) -> Path:
        return Path(self.models_dir) if self.models_dir else models_dir_from_env()

    def store(self) -> ModelStore:
        return LocalModelStore(self.root())
