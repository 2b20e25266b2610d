"""`dropout-registry` as an operator runs it: the installed console script, a subprocess
with DROPOUT_DB_URL and DROPOUT_MODELS_DIR in its environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from dropout_pipelines.predict.registry.cli import main
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse.engine import get_engine

COURSE = "course-v1:DHQG-HCM+FM101+2025_S2"


# `make install` puts the `[project.scripts]` entry point next to the virtualenv's python.
CLI_SCRIPT = Path(sys.executable).parent / "dropout-registry"


def run_cli(db_url: str, models_dir, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DROPOUT_DB_URL": db_url,
        "DROPOUT_MODELS_DIR": str(models_dir),
    }
    assert CLI_SCRIPT.exists(), f"{CLI_SCRIPT} is not installed: run make install"
    return subprocess.run(
        [str(CLI_SCRIPT), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_operator_workflow(db_url, model_store, stored_model, snapshot, default_models):
    stored_model("fm101", "1", seed=1)
    v2 = stored_model("fm101", "2", seed=2)
    root = model_store.root

    done = run_cli(
        db_url,
        root,
        "register",
        "fm101",
        "1",
        "--default",
        "--trained-on",
        "2025_S1",
        "--metrics",
        '{"auc": 0.8, "accuracy": 0.75}',
    )
    assert done.returncode == 0, done.stderr
    assert "registered model fm101 version 1" in done.stdout
    assert "now the default model" in done.stdout

    done = run_cli(
        db_url,
        root,
        "register",
        "fm101",
        "2",
        "--model-path",
        str(v2.model_path),
        "--features-csv",
        str(v2.features_csv_path),
    )
    assert done.returncode == 0, done.stderr

    done = run_cli(
        db_url, root, "map", COURSE, "fm101", "--frequency", "hourly", "--shadow", "fm101"
    )
    assert done.returncode == 0, done.stderr
    assert f"course {COURSE} → fm101 (newest active version, now 2), hourly" in done.stdout
    assert "not in the courses table" in done.stderr  # a warning, not an error

    listing = run_cli(db_url, root, "list")
    assert listing.returncode == 0, listing.stderr
    models, mappings = listing.stdout.split("course mappings:")
    lines = [line.split() for line in models.splitlines()[2:] if line.strip()]
    assert [line[:4] for line in lines] == [
        ["name", "version", "active", "default"],
        ["fm101", "1", "True", "True"],
        ["fm101", "2", "True", "False"],
    ]
    assert COURSE in mappings and "hourly" in mappings

    before = snapshot(get_engine(db_url))
    done = run_cli(db_url, root, "set-default", "nope", "1")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: model nope version 1 is not registered")
    assert "Traceback" not in done.stderr
    assert snapshot(get_engine(db_url)) == before
    assert default_models(get_engine(db_url)) == [("fm101", "1")]


def call_main(monkeypatch, capsys, db_url: str, models_dir, *args: str):
    """The same CLI in process (the subprocess tests above cover the entry point)."""
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    monkeypatch.setenv("DROPOUT_MODELS_DIR", str(models_dir))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_command_and_its_refusals(
    monkeypatch, capsys, sqlite_url, model_store, stored_model, snapshot, default_models
):
    stored_model("fm101", "1", seed=1)
    stored_model("fm101", "2", seed=2)
    root = model_store.root

    def ok(*args):
        code, out, err = call_main(monkeypatch, capsys, sqlite_url, root, *args)
        assert code == 0, (args, out, err)
        return out, err

    ok("register", "fm101", "1", "--default")
    ok("register", "fm101", "2", "--domain", "finance", "--training-rows", "300")
    ok("map", COURSE, "fm101", "--ab", "fm101", "--ab-share", "0.2", "--no-auto-predict")
    out, _ = ok("set-default", "fm101", "2")
    assert "model fm101 version 2 is now the default model (was model fm101 version 1)" in out
    out, _ = ok("deactivate", "fm101", "1")
    assert "model fm101 version 1 is now inactive" in out
    out, _ = ok("resolve", COURSE)
    assert f"course {COURSE}: fm101:2 (from the mapping)" in out and "A/B: fm101:2 for 20%" in out
    out, _ = ok("activate", "fm101", "1")
    assert "is now active" in out
    out, _ = ok("list", "--mappings")
    assert "models:" not in out and COURSE in out and "0.2" in out
    out, err = ok("deactivate", "fm101", "2", "--force")
    assert "warning: model fm101 version 2 was the default model: there is now NO default" in err
    assert default_models(get_engine(sqlite_url)) == []
    code, _, err = call_main(monkeypatch, capsys, sqlite_url, root, "resolve", "course-v1:X+Y+Z")
    assert code == 2 and "error: no model for course course-v1:X+Y+Z" in err
    assert "dropout-registry map course-v1:X+Y+Z NAME" in err
    ok("activate", "fm101", "2")
    ok("set-default", "fm101", "2")

    before = snapshot(get_engine(sqlite_url))
    refused = [
        (("set-default", "fm101", "7"), "registered versions of fm101: 1, 2"),
        (("register", "fm101", "2"), "already registered"),
        (("register", "fm101", "3"), "model fm101 version 3 is not in the store"),
        (("register", "fm101", "4", "--metrics", "{oops"), "--metrics is not valid JSON"),
        (("map", COURSE, "nope"), "model nope is not registered"),
        (("map", COURSE, "fm101", "--ab-share", "0.3"), "ab_share is set without ab_model_name"),
        (("map", COURSE, "fm101", "--ab", "fm101", "--ab-share", "1.5"), "strictly between"),
        (("deactivate", "fm101", "2"), "is the default model"),
        (("deactivate", "nope", "1"), "not registered"),
    ]
    for args, message in refused:
        code, out, err = call_main(monkeypatch, capsys, sqlite_url, root, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and re.search(message, err), (args, err)
    assert snapshot(get_engine(sqlite_url)) == before


def test_bad_arguments_and_a_database_without_registry(sqlite_url, tmp_path):
    done = run_cli(sqlite_url, tmp_path, "map", COURSE, "fm101", "--frequency", "monthly")
    assert done.returncode == 2 and "invalid choice: 'monthly'" in done.stderr
    done = run_cli(sqlite_url, tmp_path, "list")
    assert done.returncode == 2
    assert "has no course_model_mapping, model_registry table" in done.stderr


def test_the_password_never_appears(mariadb_url, model_store, stored_model):
    password = sa.make_url(mariadb_url).password
    assert password
    stored_model("fm101", "1")
    outputs = []
    for args in (
        ("register", "fm101", "1", "--default"),
        ("list",),
        ("set-default", "nope", "1"),  # refused: exit 2
    ):
        done = run_cli(mariadb_url, model_store.root, *args)
        outputs.append((done.returncode, done.stdout + done.stderr))
    assert [code for code, _ in outputs] == [0, 0, 2]

    # A server that refuses the connection: a database error (exit 1), still masked.
    url = sa.make_url(mariadb_url).set(port=1).render_as_string(hide_password=False)
    done = run_cli(url, model_store.root, "list")
    assert done.returncode == 1 and "error: database" in done.stderr
    outputs.append((done.returncode, done.stdout + done.stderr))

    for _, text in outputs:
        assert "***" in text  # the masked URL is shown: the check below is not vacuous
        for secret in {password, quote(password, safe="")}:
            assert secret not in text
