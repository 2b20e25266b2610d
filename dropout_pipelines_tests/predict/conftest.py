"""Fixtures of the prediction tests: real (small) CatBoost models, a model store, and a
warehouse with the V2 schema on each backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from catboost import CatBoostClassifier

from dropout_pipelines.predict.model_store import LocalModelStore, StoredModel, clear_model_cache
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine

DEFAULT_FEATURES: tuple[str, ...] = (
    "mooc_grade_percentage",
    "mooc_completion_rate",
    "h5p_score_rate",
    "h5p_completion_rate",
    "days_since_last_activity",
)
TRAINING_ROWS = 300

TrainedModel = Callable[..., CatBoostClassifier]


def training_frame(
    features: Sequence[str] = DEFAULT_FEATURES, seed: int = 0, rows: int = TRAINING_ROWS
) -> tuple[pd.DataFrame, pd.Series]:
    """Features in [0, 1) and a fail label that depends on them (both classes present)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((rows, len(features))), columns=list(features))
    weights = rng.normal(size=len(features))
    logits = (frame.to_numpy() - 0.5) @ weights * 4
    fail = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype("int64")
    fail[:2] = [0, 1]
    return frame, pd.Series(fail, name="fail")


def fit_model(
    features: Sequence[str] = DEFAULT_FEATURES, seed: int = 0, iterations: int = 30
) -> CatBoostClassifier:
    frame, label = training_frame(features, seed)
    model = CatBoostClassifier(
        iterations=iterations,
        depth=3,
        random_seed=seed,
        thread_count=1,
        allow_writing_files=False,
        verbose=False,
    )
    return model.fit(frame, label)


@pytest.fixture(scope="session")
def trained_model() -> TrainedModel:
    """A factory of fitted classifiers: `trained_model(features=[...], seed=0)`.

    Trained on 300 generated rows (30 iterations, one thread: ~0.1 s), once per
    (features, seed, iterations) per session; each call returns its own copy.
    """
    cache: dict[tuple, CatBoostClassifier] = {}

    def factory(
        features: Sequence[str] = DEFAULT_FEATURES, seed: int = 0, iterations: int = 30
    ) -> CatBoostClassifier:
        key = (tuple(features), seed, iterations)
        if key not in cache:
            cache[key] = fit_model(features, seed, iterations)
        return cache[key].copy()

    return factory


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    """Each test loads models from its own files (the loader caches per process)."""
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture
def model_store(tmp_path) -> LocalModelStore:
    return LocalModelStore(tmp_path / "models")


@pytest.fixture
def stored_model(model_store, trained_model) -> Callable[..., StoredModel]:
    """`stored_model(name, version, features=..., seed=...)`: a real model saved in the store."""

    def save(
        name: str = "fm101",
        version: str = "1",
        features: Sequence[str] = DEFAULT_FEATURES,
        seed: int = 0,
        metadata: dict | None = None,
    ) -> StoredModel:
        model = trained_model(features=features, seed=seed)
        return model_store.save(name, version, model, list(features), metadata or {})

    return save


@pytest.fixture
def warehouse(db_url) -> sa.Engine:
    """The V2 schema on the test's backend (SQLite file or MariaDB database)."""
    engine = get_engine(db_url)
    create_schema(engine)
    return engine


def registry_state(engine: sa.Engine) -> dict[str, list[dict]]:
    """Every row of the registry tables, for "nothing changed" assertions."""
    with engine.connect() as connection:
        return {
            "model_registry": [
                dict(row)
                for row in connection.execute(
                    sa.select(s.model_registry).order_by(s.model_registry.c.id)
                ).mappings()
            ],
            "course_model_mapping": [
                dict(row)
                for row in connection.execute(
                    sa.select(s.course_model_mapping).order_by(s.course_model_mapping.c.course_id)
                ).mappings()
            ],
        }


@pytest.fixture
def snapshot() -> Callable[[sa.Engine], dict[str, list[dict]]]:
    return registry_state


def defaults(engine: sa.Engine) -> list[tuple[str, str]]:
    r = s.model_registry
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                sa.select(r.c.model_name, r.c.model_version).where(r.c.is_default.is_(True))
            )
        ]


@pytest.fixture
def default_models() -> Callable[[sa.Engine], list[tuple[str, str]]]:
    return defaults
