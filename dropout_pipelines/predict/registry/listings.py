"""The registry as tables, for the CLI's `list` and for operators' notebooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s

if TYPE_CHECKING:
    import pandas as pd

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
