"""A first real model from the migrated legacy training rows.

A fresh install has the legacy labels but (until a semester closes) no point-in-time
training data of its own; this fits a CatBoost fail model on the legacy rows so every
ingested course can be scored from day one. It is registered like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.predict.model_store import ModelStore
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.training.fit import LEGACY_MODEL_FEATURES, fit_fail_model
from dropout_pipelines.warehouse import schema as s

BOOTSTRAP_MODEL = ("fail_risk_legacy", "1")


@dataclass(frozen=True)
class BootstrapResult:
    model_name: str
    model_version: str
    training_rows: int
    created: bool


def legacy_training_rows(engine: sa.Engine) -> pd.DataFrame:
    td = s.training_data
    with engine.connect() as connection:
        rows = (
            connection.execute(
                sa.select(td.c.is_passed, *(td.c[name] for name in LEGACY_MODEL_FEATURES)).where(
                    td.c.source == s.LEGACY_SOURCE
                )
            )
            .mappings()
            .all()
        )
    return pd.DataFrame(rows, columns=["is_passed", *LEGACY_MODEL_FEATURES])


def _registered(engine: sa.Engine, name: str, version: str) -> bool:
    r = s.model_registry
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(r.c.id).where(r.c.model_name == name, r.c.model_version == version)
        ).first()
    return found is not None


def bootstrap_model(
    engine: sa.Engine, store: ModelStore, run_id: str | None = None
) -> BootstrapResult:
    """Fit and save the legacy-trained model (once) and register it as the default (once):
    rerunning changes nothing; a kept model file is registered again in a fresh warehouse."""
    name, version = BOOTSTRAP_MODEL
    rows = legacy_training_rows(engine)
    created = False
    if not store.exists(name, version):
        model = fit_fail_model(rows, LEGACY_MODEL_FEATURES)
        store.save(
            name,
            version,
            model,
            list(LEGACY_MODEL_FEATURES),
            {"trained_on": ["legacy"], "training_rows": len(rows)},
        )
        created = True
    if not _registered(engine, name, version):
        register_model(
            engine,
            name,
            version,
            store=store,
            domain="legacy",
            trained_on=["legacy"],
            training_rows=len(rows),
            run_id=run_id,
            make_default=True,
        )
        created = True
    return BootstrapResult(name, version, len(rows), created)
