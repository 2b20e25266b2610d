"""The V2 schema as the release of 2026-12-02 created it, before Alembic.

A warehouse created by that release has no `alembic_version` table: it is stamped with
this revision, then upgraded. Nothing to do here.

Revision ID: 0001_release_20261202
Revises:
"""

revision = "0001_release_20261202"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
