"""A second `ModelStore`: models kept in memory, no files. Scoring and training run against
it in the tests, which proves they read and write models only through the store."""

from __future__ import annotations

import copy
import json
from typing import Any

from catboost import CatBoostClassifier

from dropout_pipelines.predict.model_store import (
    LoadedModel,
    ModelStore,
    ModelStoreError,
    StoredModel,
    check_features_match,
    model_feature_names,
    parse_store_key,
    store_key,
)


class InMemoryModelStore(ModelStore):
    def __init__(self) -> None:
        self.models: dict[str, tuple[CatBoostClassifier, list[str], dict[str, Any]]] = {}
        self.loads = 0

    def save(
        self,
        name: str,
        version: str,
        model: CatBoostClassifier,
        features: list[str],
        metadata: dict[str, Any],
    ) -> StoredModel:
        key = store_key(name, version)
        check_features_match(list(features), model_feature_names(model), "the feature list")
        json.dumps(metadata, allow_nan=False)
        if key in self.models:
            raise ModelStoreError(f"model {name} version {version} already exists in memory")
        self.models[key] = (model.copy(), list(features), copy.deepcopy(metadata))
        return StoredModel(name, version)

    def load(self, name: str, version: str) -> LoadedModel:
        key = store_key(name, version)
        if key not in self.models:
            raise ModelStoreError(f"model {name} version {version} is not in the memory store")
        self.loads += 1
        model, features, metadata = self.models[key]
        return LoadedModel(model, list(features), copy.deepcopy(metadata))

    def exists(self, name: str, version: str) -> bool:
        return store_key(name, version) in self.models

    def load_registered(self, model_path: str, features_csv_path: str | None) -> LoadedModel:
        key = parse_store_key(model_path)
        if key is None:
            raise ModelStoreError(f"{model_path} is a file, not a key of the memory store")
        return self.load(*key)
