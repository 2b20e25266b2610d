"""What the benchmarks share besides their report: fresh databases (a SQLite file, a
private MariaDB server), a settled SQLite WAL between timed steps, a free loopback port,
another process's CPU seconds, and the tail of a child process's log.

The private MariaDB server is the test suite's (`dropout_pipelines_tests.support`): the
benchmarks and the tests live in the repository, not in the wheel, and use one server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests
import sqlalchemy as sa

from benchmarks.report import timed
from dropout_pipelines_tests.support.mariadb_server import start_test_server


@dataclass(frozen=True)
class Database:
    """A database a benchmark may fill and drop; `server_pid` when its server is ours."""

    url: str
    server_pid: int | None = None


@contextmanager
def sqlite_database(prefix: str = "dropout-bench-") -> Iterator[Database]:
    """A fresh SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Database(f"sqlite:///{Path(folder) / 'bench.sqlite'}")


@contextmanager
def private_mariadb_database(
    progress: Callable[[str], None], name: str = "dropout_bench"
) -> Iterator[Database]:
    """A database on a private MariaDB server (own datadir, loopback), stopped afterwards."""
    with timed(progress, "starting a private MariaDB server"):
        server = start_test_server()
    try:
        url = server.url_for(server.create_database(name))
        yield Database(url, server.process.pid if server.process is not None else None)
    finally:
        with timed(progress, "stopping the private MariaDB server"):
            server.stop()


def indexed_copy(table: sa.Table, name: str) -> sa.Table:
    """An empty twin of a V2 table: the same columns, primary key, unique and check
    constraints, computed columns and indexes, under `name` (constraint and index names
    prefixed, since SQLite's index names are global). A floor that writes into it pays for
    the keys and indexes the real table must maintain, and nothing else."""
    copy = table.to_metadata(sa.MetaData(), name=name)
    for index in copy.indexes:
        index.name = f"{name}_{index.name}"
    for constraint in copy.constraints:
        if constraint.name:
            constraint.name = f"{name}_{constraint.name}"
    return copy


def writable_columns(table: sa.Table) -> list[str]:
    """The columns an INSERT may set (computed ones are the database's)."""
    return [column.name for column in table.c if column.computed is None]


def settle(engine: sa.Engine) -> None:
    """Start each timed step from the same state: SQLite's WAL folded into the database.

    Without it, whichever step runs after a big write pays for the automatic checkpoint of
    the previous step's WAL, which is not its own cost.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) another process has used so far, from /proc (Linux);
    None elsewhere. How a server's share of a wall time is told from waiting."""
    try:
        # The command name may contain spaces and parentheses: split after the last ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def rate(rows: float, seconds: float) -> str:
    """Rows per second, for a table cell."""
    return f"{rows / seconds:,.0f}" if seconds > 0 else "inf"


def free_port() -> int:
    """A loopback port nobody listens on (for a child process to serve on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: IO[bytes], chars: int = 3000) -> str:
    """The end of a child process's captured output, for an error message."""
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-chars:]


@dataclass(frozen=True)
class SimulatorProcess:
    """The Open edX + LRS simulator serving in a process of its own (so its work does not
    compete with the measured process for the GIL), and its `/simulator/info` at start."""

    base_url: str
    pid: int
    info: dict[str, Any]


@contextmanager
def server_process(
    command: Sequence[str],
    ready_url: str,
    progress: Callable[[str], None],
    label: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[int, requests.Response]]:
    """A child server (its own process, so its work does not compete with the measured
    process for the GIL), once `ready_url` answers 2xx: its pid and that first answer.
    Fails with the child's own output if it exits or stays silent for `timeout_s`;
    terminated afterwards."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            with timed(progress, f"starting {label}"):
                answer = _first_answer(ready_url, process, log, timeout_s, headers)
            yield process.pid, answer
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _first_answer(
    url: str,
    process: subprocess.Popen,
    log: IO[bytes],
    timeout_s: float,
    headers: dict[str, str] | None,
) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url}: the server exited with {process.returncode}:\n{log_tail(log)}"
            )
        try:
            response = requests.get(url, headers=headers, timeout=30)
            if response.ok:
                return response
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s:\n{log_tail(log)}")


@contextmanager
def simulator_process(
    arguments: Sequence[str], progress: Callable[[str], None], label: str, timeout_s: float
) -> Iterator[SimulatorProcess]:
    """`python -m dropout_pipelines.simulator <arguments>` on a free loopback port, once it
    answers (generating a large world takes a while); stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "dropout_pipelines.simulator", "--port", str(port)]
    base_url = f"http://127.0.0.1:{port}"
    with server_process(
        [*command, *arguments],
        f"{base_url}/simulator/info",
        progress,
        f"the simulator ({label})",
        timeout_s,
    ) as (pid, answer):
        yield SimulatorProcess(base_url, pid, answer.json())
