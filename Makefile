# dropout_pipelines — the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo dev serve test lint mariadb chromium dagster-home ddl bench-migration bench-ingest bench-predict bench-orchestration bench-api bench-quality clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

dagster-home:
	@mkdir -p "$(DAGSTER_HOME)"
	@[ -f "$(DAGSTER_HOME)/dagster.yaml" ] || cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

## The demo: legacy demo DB, migration job on the embedded SQLite default, summary.
demo: install dagster-home
	$(BIN)/python -m dropout_pipelines.demo

## The Dagster UI + daemon on http://127.0.0.1:3000, with the bundled simulator unless OPENEDX_BASE_URL is set
dev: install dagster-home
	$(BIN)/python -m dropout_pipelines.dev

## The read API and instructor page on http://127.0.0.1:8000 (uvicorn; DROPOUT_API_TOKENS, else a one-off token)
serve: install
	$(BIN)/python -m dropout_pipelines.api.server

## MariaDB server for the tests: installed with apt when missing (started by the tests).
mariadb:
	@if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then :; else \
		echo "installing mariadb-server (apt)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mariadb-server mariadb-client >/dev/null; \
	fi

## Headless chromium for the instructor page's browser test: installed with apt when missing.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; else \
		echo "installing chromium (apt)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check dropout_pipelines dropout_pipelines_tests benchmarks

## Every test, on SQLite and on a real MariaDB server started on 127.0.0.1.
test: install mariadb chromium lint
	$(BIN)/python -m pytest

## Regenerate sql/mysql/schema_v2.sql from the metadata.
ddl: install
	$(BIN)/python -m dropout_pipelines.warehouse.ddl

bench-migration: install mariadb
	$(BIN)/python -m benchmarks.migration

bench-ingest: install
	$(BIN)/python -m benchmarks.ingest

bench-predict: install mariadb
	$(BIN)/python -m benchmarks.predict

bench-orchestration: install
	$(BIN)/python -m benchmarks.orchestration

bench-api: install mariadb
	$(BIN)/python -m benchmarks.api

bench-quality: install
	$(BIN)/python -m benchmarks.quality

clean:
	rm -rf $(VENV) .dagster_home data
