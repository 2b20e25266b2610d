"""Database triggers that make `training_data` insert-only on both backends.

SQLAlchemy has no portable trigger construct, so the DDL of each dialect is written
here once; `create_schema` installs them when missing, and the MySQL variant is rendered
into `sql/mysql/schema_v2.sql` beside the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

INSERT_ONLY_MESSAGE = "training_data is insert-only (immutable training rows)"


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    event: str  # UPDATE | DELETE

    def sqlite_ddl(self) -> str:
        return (
            f"CREATE TRIGGER {self.name} BEFORE {self.event} ON {self.table} "
            f"BEGIN SELECT RAISE(ABORT, '{INSERT_ONLY_MESSAGE}'); END"
        )

    def mysql_ddl(self) -> str:
        return (
            f"CREATE TRIGGER {self.name} BEFORE {self.event} ON {self.table} FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{INSERT_ONLY_MESSAGE}'"
        )

    def ddl(self, dialect_name: str) -> str:
        return self.sqlite_ddl() if dialect_name == "sqlite" else self.mysql_ddl()


INSERT_ONLY_TRIGGERS: tuple[Trigger, ...] = (
    Trigger("trg_training_data_no_update", "training_data", "UPDATE"),
    Trigger("trg_training_data_no_delete", "training_data", "DELETE"),
)
