"""`dropout-registry …` (a `[project.scripts]` entry point): the model registry from a shell.

    list [--models | --mappings]      the registered models and the course mappings
    register NAME VERSION [...]       add a model version (files checked first)
    map COURSE NAME [...]             create or replace a course's mapping
    set-default NAME VERSION          switch the default model atomically
    deactivate NAME VERSION [--force] take a version out of service
    activate NAME VERSION             put it back
    resolve COURSE                    which model would score the course now

The database is `DROPOUT_DB_URL` (else the embedded SQLite file) and model files default
to the store under `DROPOUT_MODELS_DIR`: no URL on the command line, so no password in the
shell history or the process list, and output shows the URL masked. Exit codes: 0 done,
2 refused (bad input or state; nothing changed), 1 database error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import sqlalchemy as sa

from dropout_pipelines.predict.model_store import LocalModelStore, ModelStoreError
from dropout_pipelines.predict.registry import (
    RegistryChange,
    RegistryError,
    activate,
    deactivate,
    list_mappings,
    list_models,
    map_course,
    register_model,
    set_default,
)
from dropout_pipelines.predict.registry.requests import (
    FREQUENCIES,
    DeactivateModelRequest,
    MapCourseRequest,
    RegisterModelRequest,
    field_help,
)
from dropout_pipelines.predict.selection import NoModelError, resolve_model_for_course
from dropout_pipelines.settings import db_url_from_env, models_dir_from_env
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.urls import mask_url, url_passwords

if TYPE_CHECKING:
    import pandas as pd

EXIT_REFUSED = 2
EXIT_DATABASE = 1
MODEL_TABLE_COLUMNS = {
    "model_name": "name",
    "model_version": "version",
    "is_active": "active",
    "is_default": "default",
    "model_type": "type",
    "domain": "domain",
    "accuracy": "accuracy",
    "training_rows": "rows",
    "trained_on": "trained_on",
    "created_at": "created_at",
    "model_path": "model_path",
}
MAPPING_TABLE_COLUMNS = {
    "course_id": "course",
    "model_name": "model",
    "model_version": "version",
    "predict_frequency": "frequency",
    "auto_predict": "auto",
    "shadow_model_name": "shadow",
    "ab_model_name": "ab_model",
    "ab_share": "ab_share",
    "updated_at": "updated_at",
}


class CliError(Exception):
    """Bad command-line input found after parsing (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dropout-registry",
        description="Model registry: register models, choose the default, map courses. "
        "Database from DROPOUT_DB_URL, model files from DROPOUT_MODELS_DIR.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="show models and course mappings")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--models", action="store_true", help="only the models")
    which.add_argument("--mappings", action="store_true", help="only the course mappings")

    register = commands.add_parser("register", help="register a model version")
    register.add_argument("name")
    register.add_argument("version")
    register.add_argument("--model-path", help=field_help(RegisterModelRequest, "model_path"))
    register.add_argument(
        "--features-csv", help=field_help(RegisterModelRequest, "features_csv_path")
    )
    register.add_argument("--models-dir", help="model store folder (default DROPOUT_MODELS_DIR)")
    register.add_argument("--type", default="fail", dest="model_type", help="model_type")
    register.add_argument("--domain")
    register.add_argument("--metrics", help=field_help(RegisterModelRequest, "metrics"))
    register.add_argument(
        "--trained-on",
        nargs="+",
        metavar="SEMESTER",
        help=field_help(RegisterModelRequest, "trained_on"),
    )
    register.add_argument("--training-rows", type=int)
    register.add_argument("--run-id")
    register.add_argument(
        "--default", action="store_true", help=field_help(RegisterModelRequest, "make_default")
    )
    register.add_argument("--inactive", action="store_true", help="register it inactive")

    mapping = commands.add_parser("map", help="map a course to a model (create or replace)")
    mapping.add_argument("course_id", metavar="COURSE")
    mapping.add_argument("name")
    mapping.add_argument("--version", help=field_help(MapCourseRequest, "model_version"))
    mapping.add_argument(
        "--frequency",
        default=MapCourseRequest.model_fields["frequency"].default,
        choices=FREQUENCIES,
    )
    mapping.add_argument("--no-auto-predict", action="store_true", help="scheduled runs skip it")
    mapping.add_argument(
        "--shadow", metavar="NAME", help=field_help(MapCourseRequest, "shadow_model_name")
    )
    mapping.add_argument("--ab", metavar="NAME", help=field_help(MapCourseRequest, "ab_model_name"))
    mapping.add_argument("--ab-share", type=float, help=field_help(MapCourseRequest, "ab_share"))

    default = commands.add_parser("set-default", help="make a model version the default")
    default.add_argument("name")
    default.add_argument("version")

    off = commands.add_parser("deactivate", help="take a model version out of service")
    off.add_argument("name")
    off.add_argument("version")
    off.add_argument(
        "--force", action="store_true", help=field_help(DeactivateModelRequest, "force")
    )

    on = commands.add_parser("activate", help="put a model version back in service")
    on.add_argument("name")
    on.add_argument("version")

    resolve = commands.add_parser("resolve", help="which model scores a course now")
    resolve.add_argument("course_id", metavar="COURSE")
    return parser


def _table(frame: pd.DataFrame, columns: dict[str, str], empty: str) -> str:
    if frame.empty:
        return empty
    shown = frame.loc[:, list(columns)].rename(columns=columns)
    return shown.to_string(index=False, na_rep="-")


def _print_listing(engine: sa.Engine, args: argparse.Namespace) -> None:
    if not args.mappings:
        print("models:")
        print(_table(list_models(engine), MODEL_TABLE_COLUMNS, "(no models registered)"))
    if not args.models:
        if not args.mappings:
            print()
        print("course mappings:")
        print(_table(list_mappings(engine), MAPPING_TABLE_COLUMNS, "(no course mappings)"))


def _metrics(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"--metrics is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise CliError('--metrics must be a JSON object, e.g. {"auc": 0.81}')
    return value


def _register(engine: sa.Engine, args: argparse.Namespace) -> RegistryChange:
    store = LocalModelStore(args.models_dir or models_dir_from_env())
    return register_model(
        engine,
        args.name,
        args.version,
        args.model_path,
        args.features_csv,
        store=store,
        model_type=args.model_type,
        domain=args.domain,
        metrics=_metrics(args.metrics),
        trained_on=args.trained_on,
        training_rows=args.training_rows,
        run_id=args.run_id,
        make_default=args.default,
        active=not args.inactive,
    )


def _resolve(engine: sa.Engine, course_id: str) -> None:
    choice = resolve_model_for_course(engine, course_id)
    print(f"course {course_id}: {choice.label} (from the {choice.source})")
    print(f"  model file: {choice.model_path}")
    if choice.shadow is not None:
        print(f"  shadow: {choice.shadow.label}")
    if choice.ab is not None:
        print(f"  A/B: {choice.ab[0].label} for {choice.ab[1]:.0%} of students")
    for note in choice.notes:
        print(f"  note: {note}")


def _ensure_schema(engine: sa.Engine, write: bool) -> None:
    """Writes create the (idempotent) schema; reads of a database without it are refused,
    since that usually means DROPOUT_DB_URL points at the wrong database."""
    if write:
        create_schema(engine)
        return
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
    missing = {s.model_registry.name, s.course_model_mapping.name} - present
    if missing:
        raise CliError(
            f"the database {mask_url(engine.url)} has no {', '.join(sorted(missing))} table: "
            "is DROPOUT_DB_URL right? (a register or map command creates the schema)"
        )


def run(args: argparse.Namespace, engine: sa.Engine) -> None:
    """Carry out one parsed command against `engine`, printing what it did."""
    _ensure_schema(engine, write=args.command not in ("list", "resolve"))
    if args.command == "list":
        _print_listing(engine, args)
        return
    if args.command == "resolve":
        _resolve(engine, args.course_id)
        return
    if args.command == "register":
        change = _register(engine, args)
    elif args.command == "map":
        change = map_course(
            engine,
            args.course_id,
            args.name,
            args.version,
            frequency=args.frequency,
            auto_predict=not args.no_auto_predict,
            shadow_model_name=args.shadow,
            ab_model_name=args.ab,
            ab_share=args.ab_share,
        )
    elif args.command == "set-default":
        change = set_default(engine, args.name, args.version)
    elif args.command == "deactivate":
        change = deactivate(engine, args.name, args.version, force=args.force)
    elif args.command == "activate":
        change = activate(engine, args.name, args.version)
    else:  # pragma: no cover - argparse only accepts the commands above
        raise CliError(f"unknown command {args.command}")
    print(change.summary if change.changed else f"no change: {change.summary}")
    for warning in change.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def scrub_secret(text: str, url: str) -> str:
    """`text` with the URL's passwords (raw and URL-encoded) replaced by `***`."""
    for password in url_passwords(url):
        for form in {password, quote(password, safe=""), quote_plus(password)}:
            text = text.replace(form, "***")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = db_url_from_env()
    try:
        engine = get_engine(url)
        print(f"warehouse: {mask_url(url)}")
        run(args, engine)
    except (RegistryError, NoModelError, ModelStoreError, CliError) as error:
        print(f"error: {scrub_secret(str(error), url)}", file=sys.stderr)
        return EXIT_REFUSED
    except (sa.exc.SQLAlchemyError, ValueError) as error:
        detail = str(getattr(error, "orig", None) or error).splitlines()[0]
        print(
            f"error: database {mask_url(url)}: {scrub_secret(detail, url)}",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    return 0
