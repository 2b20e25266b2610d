"""`make serve`: the read API and instructor page on http://127.0.0.1:8000 (uvicorn).

Configuration (environment): `DROPOUT_DB_URL` (else the embedded SQLite warehouse),
`DROPOUT_API_TOKENS` (hashed tokens; when unset a one-off token is made and printed once,
for a demo on this machine), `DAGSTER_WEBSERVER_URL` (batch runs through Dagster),
`DROPOUT_API_HOST` / `DROPOUT_API_PORT`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from dropout_pipelines.api.app import ApiSettings, create_app
from dropout_pipelines.api.batch import WEBSERVER_URL_ENV
from dropout_pipelines.api.tokens import TOKENS_ENV, TokenBook, TokenConfigError, new_token
from dropout_pipelines.clock import utc_now
from dropout_pipelines.settings import db_url_from_env
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.urls import mask_url

HOST_ENV = "DROPOUT_API_HOST"
PORT_ENV = "DROPOUT_API_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Threads that run the (blocking) database calls; also the warehouse connections kept.
API_THREADS = 40

log = logging.getLogger("dropout_pipelines.api")


def tokens_from_env() -> TokenBook:
    """The configured tokens; with none configured, one printed once for this process."""
    book = TokenBook.parse(os.environ.get(TOKENS_ENV))
    if book:
        return book
    token = new_token()
    print(
        f"{TOKENS_ENV} is not set: this server accepts the one-off token\n\n    {token}\n\n"
        "(valid until it stops; for production set hashed tokens, see "
        "`python -m dropout_pipelines.api.tokens NAME`)",
        flush=True,
    )
    return TokenBook.of({"local": token})


def settings_from_env() -> ApiSettings:
    url = db_url_from_env()
    engine = create_warehouse_engine(url, pool_size=API_THREADS)
    create_schema(engine)  # the feedback table of a warehouse older than the API
    log.info("warehouse %s", mask_url(url))
    return ApiSettings(
        engine=engine,
        tokens=tokens_from_env(),
        clock=utc_now,
        webserver_url=os.environ.get(WEBSERVER_URL_ENV) or None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = settings_from_env()
        port = int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    except (TokenConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    host = os.environ.get(HOST_ENV) or DEFAULT_HOST
    print(f"instructor page: http://{host}:{port}/   API: http://{host}:{port}/api/", flush=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
