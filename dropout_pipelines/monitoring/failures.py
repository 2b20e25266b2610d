"""One line per failed run: what failed, for which course(s), where, and why, without
secrets. Pure functions (no Dagster context), so the wording is tested on its own."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from dagster._utils.error import SerializableErrorInfo

from dropout_pipelines.warehouse.urls import mask_url, url_passwords

# Dagster's wrappers around the user's exception: the cause says what went wrong.
DAGSTER_WRAPPERS = frozenset(
    {
        "DagsterExecutionStepExecutionError",
        "DagsterUserCodeExecutionError",
        "DagsterExecutionHandleOutputError",
        "DagsterExecutionLoadInputError",
        "DagsterResourceFunctionError",
    }
)
# PEP 249 exception names, as raised by pymysql and sqlite3 and wrapped by SQLAlchemy.
DATABASE_ERRORS = frozenset(
    {
        "DBAPIError",
        "DatabaseError",
        "DataError",
        "IntegrityError",
        "InterfaceError",
        "InternalError",
        "NotSupportedError",
        "OperationalError",
        "ProgrammingError",
    }
)
SECRET_ENV_NAMES = (
    "OPENEDX_CLIENT_SECRET",
    "OPENEDX_SESSIONID",
    "LRS_PASSWORD",
    "DAGSTER_MYSQL_PASSWORD",
)
URL_ENV_NAMES = ("DROPOUT_DB_URL",)
URL_WITH_CREDENTIALS = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://(?:[^\s'\"<>@/]*@[^\s'\"<>]+"
    r"|[^\s'\"<>]*[?&](?:password|passwd)=[^\s'\"<>]*)"
)
MAX_ERROR_CHARS = 300
LISTED_COURSES = 5


@dataclass(frozen=True)
class FailedRun:
    """What the line says about a failed run."""

    run_id: str
    job_name: str
    partition: str | None = None
    courses: Sequence[str] = ()
    courses_tag: str | None = None
    step_keys: Sequence[str] = ()
    error: str = ""
    database: str | None = None  # masked; set when the error came from the warehouse


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secrets this deployment holds in its environment (values, never logged)."""
    environ = os.environ if environ is None else environ
    values = [environ[name] for name in SECRET_ENV_NAMES if environ.get(name)]
    for name in URL_ENV_NAMES:
        if environ.get(name):
            values.extend(url_passwords(environ[name]))
    return values


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with credentials in URLs masked and every known secret (raw or URL-encoded)
    replaced by `***`."""
    text = URL_WITH_CREDENTIALS.sub(lambda match: mask_url(match.group(0)), text)
    for secret in secrets:
        if len(secret) < 4:
            continue  # too short to tell from ordinary text
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, "***")
    return text


def _chain(error: SerializableErrorInfo | None) -> Iterable[SerializableErrorInfo]:
    while error is not None:
        yield error
        error = error.cause or error.context


def user_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The first error of the chain that is not one of Dagster's wrappers."""
    for link in _chain(error):
        if link.cls_name not in DAGSTER_WRAPPERS:
            return link
    return error


def first_line(error: SerializableErrorInfo) -> str:
    """The user's error, first line (`Class: message`)."""
    chosen = user_error(error)
    lines = [line.strip() for line in (chosen.message or "").strip().splitlines() if line.strip()]
    text = lines[0] if lines else (chosen.cls_name or "error")
    name = chosen.cls_name or ""
    head, separator, rest = text.partition(": ")
    if name and separator and (head == name or head.endswith(f".{name}")):
        return f"{name}: {rest}"  # `package.module.Class: …` → `Class: …`
    return f"{name}: {text}" if name and not text.startswith(name) else text


def is_database_error(error: SerializableErrorInfo | None) -> bool:
    return any(link.cls_name in DATABASE_ERRORS for link in _chain(error))


def courses_in_config(run_config: Mapping) -> list[str]:
    """Course ids a run was configured with (`ops.<op>.config.course_ids`)."""
    found: list[str] = []
    for op_config in (run_config.get("ops") or {}).values():
        config = op_config.get("config") if isinstance(op_config, Mapping) else None
        if isinstance(config, Mapping) and isinstance(config.get("course_ids"), list):
            found.extend(str(course) for course in config["course_ids"])
    return found


def _clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_line(run: FailedRun, secrets: Iterable[str] = ()) -> str:
    """`run <id> failed: job=… course=… steps=… error="…" warehouse=…` on one line."""
    parts = [f"run {run.run_id[:8]} failed: job={run.job_name}"]
    if run.partition:
        parts.append(f"course={run.partition}")
    elif run.courses:
        shown = ",".join(run.courses[:LISTED_COURSES])
        more = len(run.courses) - LISTED_COURSES
        parts.append(f"courses={shown}" + (f" (+{more} more)" if more > 0 else ""))
    elif run.courses_tag:
        parts.append(f"courses=[{run.courses_tag}]")
    parts.append(f"steps={','.join(run.step_keys) if run.step_keys else '-'}")
    error = " ".join(run.error.split())  # one line, whatever the message held
    parts.append(f'error="{_clip(error)}"')
    if run.database:
        parts.append(f"warehouse={run.database}")
    return scrub(" ".join(parts), secrets)
