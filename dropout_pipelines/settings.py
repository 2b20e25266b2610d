"""Project paths and environment defaults, in one place so every domain agrees on them."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
SQL_DIR = PROJECT_ROOT / "sql"
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"


def default_db_url() -> str:
    """The embedded default warehouse: a SQLite file in the ignored data folder."""
    return f"sqlite:///{DATA_DIR / 'warehouse.sqlite'}"


def db_url_from_env() -> str:
    """`DROPOUT_DB_URL` when set, else the embedded SQLite default."""
    return os.environ.get("DROPOUT_DB_URL") or default_db_url()


def models_dir_from_env() -> Path:
    """`DROPOUT_MODELS_DIR` when set, else the project's `models/` folder."""
    return Path(os.environ.get("DROPOUT_MODELS_DIR") or DEFAULT_MODELS_DIR)


PREDICT_FREQUENCY_ENV = "DROPOUT_DEFAULT_PREDICT_FREQUENCY"
SEMESTER_PATTERN_ENV = "DROPOUT_SEMESTER_PATTERN"
SEMESTER_TERMS_ENV = "DROPOUT_SEMESTER_TERMS"
REFRESH_BATCH_SIZE_ENV = "DROPOUT_REFRESH_BATCH_SIZE"
DEFAULT_REFRESH_BATCH_SIZE = 50


def default_predict_frequency() -> str:
    """How often a course without a `course_model_mapping` row is refreshed and scored."""
    value = os.environ.get(PREDICT_FREQUENCY_ENV) or "daily"
    if value not in ("hourly", "daily", "weekly", "manual"):
        raise ValueError(
            f"{PREDICT_FREQUENCY_ENV}={value!r}: expected hourly, daily, weekly or manual"
        )
    return value


def refresh_batch_size() -> int:
    """Courses per refresh run (1 = one run per course)."""
    value = os.environ.get(REFRESH_BATCH_SIZE_ENV) or str(DEFAULT_REFRESH_BATCH_SIZE)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{REFRESH_BATCH_SIZE_ENV}={value!r}: expected a whole number ≥ 1")
    return int(value)
