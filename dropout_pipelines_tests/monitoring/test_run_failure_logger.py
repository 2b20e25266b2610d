"""`run_failure_logger`: the line's wording as a pure function, then the sensor evaluated on
runs that really failed in a Dagster instance (one with a warehouse error on the real
MariaDB server, whose password must never show)."""

from __future__ import annotations

from urllib.parse import quote

from dagster import DagsterInstance, build_run_status_sensor_context
from dagster._utils.error import SerializableErrorInfo

from dropout_pipelines.definitions import defs
from dropout_pipelines.monitoring.failures import (
    FailedRun,
    courses_in_config,
    failure_line,
    first_line,
    is_database_error,
    scrub,
    secret_values,
)
from dropout_pipelines.monitoring.sensors import run_failure_logger
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.support.mariadb_server import TEST_PASSWORD, MariaDBServer

COURSE = "course-v1:DHQG-HCM+FM101+2026_S2"
RUN_ID = "3f2a9c1e-0000-4000-8000-000000000000"


def _error(cls_name: str, message: str, cause: SerializableErrorInfo | None = None):
    return SerializableErrorInfo(message=message, stack=[], cls_name=cls_name, cause=cause)


def test_the_line_names_job_course_steps_and_error():
    run = FailedRun(RUN_ID, "predict_course_job", partition=COURSE, step_keys=["predictions"],
                    error="Failure: no model for the course")  # fmt: skip
    assert failure_line(run) == (
        f"run 3f2a9c1e failed: job=predict_course_job course={COURSE} steps=predictions "
        'error="Failure: no model for the course"'
    )


def test_config_courses_are_listed_five_at_most_else_the_courses_tag():
    courses = [f"course-v1:ORG+C{i}+2026" for i in range(7)]
    config = {"ops": {"plan_course_refresh": {"config": {"course_ids": courses}}}}
    assert courses_in_config(config) == courses
    assert courses_in_config({}) == []
    run = FailedRun(RUN_ID, "refresh_courses_job", courses=courses_in_config(config),
                    courses_tag="7 courses, batch 1/1",
                    step_keys=["refresh_and_score_course[c0_a]", "refresh_and_score_course[c3_b]"],
                    error="UpstreamError: 503 from Open edX")  # fmt: skip
    line = failure_line(run)
    assert f"courses={','.join(courses[:5])} (+2 more)" in line
    assert "steps=refresh_and_score_course[c0_a],refresh_and_score_course[c3_b]" in line
    tagged = FailedRun(RUN_ID, "refresh_courses_job", courses_tag="7 courses, batch 1/1")
    assert "courses=[7 courses, batch 1/1] steps=- " in failure_line(tagged)


def test_a_long_or_multiline_error_stays_one_short_line():
    run = FailedRun(RUN_ID, "ingest_course_job", error="ValueError: bad\nsecond line " + "x" * 500)
    line = failure_line(run)
    assert "\n" not in line and len(line) < 400 and line.endswith('…"')


def test_secrets_are_masked_in_urls_and_wherever_they_appear():
    password = "Pw'd@s3cr3t!x"
    url = f"mysql+pymysql://dropout:{quote(password, safe='')}@db.internal:3306/warehouse"
    environ = {"DROPOUT_DB_URL": url, "LRS_PASSWORD": "lrs-secret-42", "OPENEDX_SESSIONID": ""}
    secrets = secret_values(environ)
    assert set(secrets) == {password, "lrs-secret-42"}
    text = (
        f"cannot reach {url}; LRS https://key:lrs-secret-42@lrs.example/xAPI said no; "
        f"raw {password} and lrs-secret-42"
    )
    masked = scrub(text, secrets)
    assert "mysql+pymysql://dropout:***@db.internal:3306/warehouse" in masked
    assert "lrs-secret-42" not in masked and password not in masked
    assert quote(password, safe="") not in masked
    assert "https://key:***@lrs.example/xAPI" in masked
    run = FailedRun(RUN_ID, "j", error=f"OperationalError: {url}", database=scrub(url))
    assert "s3cr3t" not in failure_line(run, secrets)


def test_first_line_is_the_users_error_not_dagsters_wrapper():
    database = _error(
        "OperationalError",
        "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost "
        "connection to MySQL server during query')\n(Background on this error at: …)\n",
        cause=_error("OperationalError", "pymysql.err.OperationalError: (2013, 'Lost …')\n"),
    )
    wrapped = _error(
        "DagsterExecutionStepExecutionError",
        "dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while "
        'executing op "predictions":\n',
        cause=database,
    )
    assert first_line(wrapped) == (
        "OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL "
        "server during query')"
    )
    assert is_database_error(wrapped)
    failure = _error("Failure", "dagster._core.definitions.events.Failure: c1: no model\n")
    assert first_line(failure) == "Failure: c1: no model"
    assert not is_database_error(failure)


def _failed_predict_run(instance: DagsterInstance, course: str):
    instance.add_dynamic_partitions(courses_partitions.name, [course])
    result = defs.resolve_job_def("predict_course_job").execute_in_process(
        partition_key=course, instance=instance, raise_on_error=False
    )
    assert not result.success
    return result


def _sensor_lines(instance: DagsterInstance, result, capfd) -> list[str]:
    capfd.readouterr()
    context = build_run_status_sensor_context(
        sensor_name="run_failure_logger",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"warehouse": WarehouseResource()},
    ).for_run_failure()
    assert run_failure_logger(context) is None
    logged = capfd.readouterr()
    return [line for line in (logged.out + logged.err).splitlines() if " failed: job=" in line]


def test_the_sensor_logs_one_line_for_a_failed_run(db_url, monkeypatch, capfd):
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    create_schema(get_engine(db_url))  # no features: scoring the course fails
    instance = DagsterInstance.ephemeral()
    result = _failed_predict_run(instance, COURSE)

    (line,) = _sensor_lines(instance, result, capfd)
    assert " - ERROR - " in line
    assert f"run {result.run_id[:8]} failed: job=predict_course_job course={COURSE} " in line
    assert "steps=predictions " in line
    assert f'error="Failure: {COURSE}: no student_features for course {COURSE}' in line
    assert "warehouse=" not in line  # not a database error


def test_a_warehouse_error_names_the_database_with_the_password_masked(
    mariadb_server: MariaDBServer, monkeypatch, capfd
):
    url = mariadb_server.url_for("dp_missing_database")
    monkeypatch.setenv("DROPOUT_DB_URL", url)
    instance = DagsterInstance.ephemeral()
    result = _failed_predict_run(instance, COURSE)

    (line,) = _sensor_lines(instance, result, capfd)
    assert "steps=predictions " in line
    assert "OperationalError: (pymysql.err.OperationalError) (1049" in line
    assert "dp_missing_database" in line
    assert f"warehouse=mysql+pymysql://dropout_test:***@127.0.0.1:{mariadb_server.port}/" in line
    for form in (TEST_PASSWORD, quote(TEST_PASSWORD, safe=""), "s3cr3t"):
        assert form not in line


def test_the_sensor_runs_by_default():
    sensor = defs.resolve_sensor_def("run_failure_logger")
    assert sensor.default_status.value == "RUNNING"
