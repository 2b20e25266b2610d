"""Back up the legacy data before the migration touches the database.

MySQL/MariaDB: `mariadb-dump`/`mysqldump` of `raw_data` into a timestamped file when the
tool is installed (password passed through the environment, never on the command line),
else a copy table `raw_data_backup_<timestamp>`. SQLite: the online backup API copies the
whole database file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.warehouse.urls import mask_url, url_passwords


class BackupError(RuntimeError):
    """The backup failed: the migration must not start."""


@dataclass(frozen=True)
class BackupResult:
    method: str
    location: str
    rows: int | None = None


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S")


def _backup_sqlite(engine: sa.Engine, backup_dir: Path, now: datetime) -> BackupResult:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up to a file")
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{Path(source_path).stem}_{_stamp(now)}.sqlite"
    with engine.connect() as connection:
        source = connection.connection.driver_connection
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    return BackupResult("sqlite_backup", str(target))


def _dump_tool() -> str | None:
    return shutil.which("mariadb-dump") or shutil.which("mysqldump")


def _backup_mysql_dump(
    engine: sa.Engine, tool: str, table_name: str, backup_dir: Path, now: datetime
) -> BackupResult:
    url = engine.url
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{table_name}_{url.database}_{_stamp(now)}.sql"
    command = [
        tool,
        f"--host={url.host or '127.0.0.1'}",
        f"--port={url.port or 3306}",
        f"--user={url.username or ''}",
        "--single-transaction",
        "--skip-lock-tables",
        "--default-character-set=utf8mb4",
        str(url.database),
        table_name,
    ]
    passwords = url_passwords(url)  # the userinfo's, else a ?password= one
    environment = os.environ | {"MYSQL_PWD": passwords[0] if passwords else ""}
    with target.open("wb") as output:
        completed = subprocess.run(
            command, stdout=output, stderr=subprocess.PIPE, env=environment, check=False
        )
    if completed.returncode != 0:
        target.unlink(missing_ok=True)
        detail = completed.stderr.decode(errors="replace").strip()
        for password in passwords:
            detail = detail.replace(password, "***")
        raise BackupError(
            f"{Path(tool).name} of {table_name} from {mask_url(url)} failed: {detail}"
        )
    return BackupResult(Path(tool).name, str(target))


def _backup_copy_table(engine: sa.Engine, table_name: str, now: datetime) -> BackupResult:
    copy_name = f"{table_name}_backup_{_stamp(now)}"
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {quote(copy_name)} LIKE {quote(table_name)}")
        rows = connection.exec_driver_sql(
            f"INSERT INTO {quote(copy_name)} SELECT * FROM {quote(table_name)}"
        ).rowcount
    return BackupResult("copy_table", copy_name, rows)


def backup_legacy_data(
    engine: sa.Engine, table_name: str, backup_dir: Path, now: datetime | None = None
) -> BackupResult:
    """Back up `table_name` (or, on SQLite, the whole database) and say where it went."""
    now = now or utc_now()
    if engine.dialect.name == "sqlite":
        return _backup_sqlite(engine, backup_dir, now)
    tool = _dump_tool()
    if tool is not None:
        return _backup_mysql_dump(engine, tool, table_name, backup_dir, now)
    return _backup_copy_table(engine, table_name, now)
