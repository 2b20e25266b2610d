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
