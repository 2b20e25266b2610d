"""Alembic revisions of the warehouse schema (see `warehouse/upgrade.py`)."""
