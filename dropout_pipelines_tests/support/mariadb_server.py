"""A throwaway MariaDB server for the test session: own datadir, own port, loopback only.

`make test` installs the server package (apt) when it is missing; this module only
initialises a datadir under a temporary folder, starts `mariadbd` on 127.0.0.1 with a free
port, creates a password-protected test user, hands out one fresh database per test and
stops the server afterwards. Set `DROPOUT_TEST_MYSQL_URL` (an account allowed to create
databases) to use an existing server instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import sqlalchemy as sa

TEST_USER = "dropout_test"
# A password with URL- and SQL-special characters: every test on MariaDB proves it is
# escaped correctly and (in the secret tests) never printed.
TEST_PASSWORD = "Pw'd%40s3cr3t!x"
STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _find_binary(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
        if path:
            return path
    return None


@dataclass
class MariaDBServer:
    """A running test server; `url_for(database)` gives a SQLAlchemy URL for the test user."""

    base_dir: Path
    port: int
    process: subprocess.Popen | None = None
    external_admin_url: sa.URL | None = None
    _databases: list[str] = field(default_factory=list)
    _command: tuple[str, Path, list[str]] | None = None

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mysqld.sock"

    def _admin_connection(self) -> pymysql.Connection:
        if self.external_admin_url is not None:
            url = self.external_admin_url
            return pymysql.connect(
                host=url.host or "127.0.0.1",
                port=url.port or 3306,
                user=url.username,
                password=url.password or "",
                autocommit=True,
            )
        return pymysql.connect(unix_socket=str(self.socket_path), user="root", autocommit=True)

    def url_for(self, database: str) -> str:
        if self.external_admin_url is not None:
            base = self.external_admin_url
        else:
            base = sa.URL.create(
                "mysql+pymysql",
                username=TEST_USER,
                password=TEST_PASSWORD,
                host="127.0.0.1",
                port=self.port,
            )
        return base.set(drivername="mysql+pymysql", database=database).render_as_string(
            hide_password=False
        )

    def create_database(self, prefix: str = "dp_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self._admin_connection() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self._databases.append(name)
        return name

    def drop_database(self, name: str) -> None:
        with self._admin_connection() as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def start(self) -> MariaDBServer:
        mariadbd = _find_binary("mariadbd", "mysqld")
        install_db = _find_binary("mariadb-install-db", "mysql_install_db")
        if mariadbd is None or install_db is None:
            raise RuntimeError(
                "MariaDB server binaries not found: run `make test` (it installs "
                "mariadb-server with apt) or set DROPOUT_TEST_MYSQL_URL to an existing server"
            )
        data_dir = self.base_dir / "data"
        run_as = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={data_dir}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                *run_as,
            ],
            check=True,
            capture_output=True,
        )
        self._launch(mariadbd, data_dir, run_as)
        with self._admin_connection() as connection, connection.cursor() as cursor:
            for host in ("127.0.0.1", "localhost"):
                cursor.execute(
                    f"CREATE USER IF NOT EXISTS '{TEST_USER}'@'{host}' IDENTIFIED BY %s",
                    (TEST_PASSWORD,),
                )
                cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{TEST_USER}'@'{host}'")
        return self

    def _launch(self, mariadbd: str, data_dir: Path, run_as: list[str]) -> None:
        """Start `mariadbd` on the datadir and port, and wait until it accepts connections."""
        log_path = self.base_dir / "mariadbd.log"
        # Its own tmpdir: internal temporary tables must not live where other programs
        # clean up (/tmp).
        tmp_dir = self.base_dir / "tmp"
        tmp_dir.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={data_dir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.base_dir / 'mariadbd.pid'}",
                f"--log-error={log_path}",
                f"--tmpdir={tmp_dir}",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=1G",
                "--innodb-log-file-size=256M",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=300",
                "--character-set-server=utf8mb4",
                *run_as,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready(log_path)
        self._command = (mariadbd, data_dir, run_as)

    def _wait_until_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                raise RuntimeError(f"mariadbd exited during start-up:\n{tail}")
            try:
                self._admin_connection().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise RuntimeError(f"mariadbd did not accept connections within {STARTUP_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.process is None:
            for name in self._databases:
                self.drop_database(name)
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def crash(self) -> None:
        """Kill `mariadbd` with SIGKILL (a power cut for the server), keeping its datadir."""
        if self.process is None:
            raise RuntimeError("not a server this session started: it cannot be crashed")
        self.process.kill()
        self.process.wait()

    def shutdown(self) -> None:
        """Stop `mariadbd` cleanly (SIGTERM), keeping its datadir for `restart()`."""
        if self.process is None:
            raise RuntimeError("not a server this session started: it cannot be shut down")
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> MariaDBServer:
        """Start `mariadbd` again on the same datadir and port (after `crash` or `shutdown`;
        InnoDB recovers and rolls back what was not committed)."""
        if self._command is None or self.process is None:
            raise RuntimeError("restart() needs a server started by start()")
        if self.process.poll() is None:
            raise RuntimeError("the server is still running")
        self._launch(*self._command)
        return self


def start_test_server() -> MariaDBServer:
    """Start a private server, or adopt `DROPOUT_TEST_MYSQL_URL` when it is set."""
    external = os.environ.get("DROPOUT_TEST_MYSQL_URL")
    if external:
        return MariaDBServer(
            base_dir=Path(tempfile.gettempdir()), port=0, external_admin_url=sa.make_url(external)
        )
    base_dir = Path(tempfile.mkdtemp(prefix="dropout-mariadb-"))
    return MariaDBServer(base_dir=base_dir, port=_free_port()).start()
