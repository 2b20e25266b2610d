"""Alembic environment: runs on the connection `warehouse/upgrade.py` hands over, so the
URL (and its password) never goes through an alembic.ini."""

from alembic import context

from dropout_pipelines.warehouse.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
