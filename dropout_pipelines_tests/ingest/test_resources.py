"""Dagster resources for Open edX and the LRS: built from environment variables, secrets kept
out of repr, run config, Dagster's event log, Python logging and the process output."""

import logging

import pytest
from dagster import AssetExecutionContext, DagsterInstance, EnvVar, asset, materialize

from dropout_pipelines.ingest.clients.errors import IngestError
from dropout_pipelines.ingest.resources import (
    LrsResource,
    OpenEdxResource,
    lrs_resource_from_env,
    openedx_resource_from_env,
)
from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines_tests.ingest.conftest import RUNNING_COURSE, SIM_CREDENTIALS

SECRETS = (
    SIM_CREDENTIALS.client_secret,
    SIM_CREDENTIALS.sessionid,
    SIM_CREDENTIALS.lrs_password,
    SIM_CREDENTIALS.learner_client_secret,
    SIM_CREDENTIALS.learner_sessionid,
)


def set_env(monkeypatch, simulator: RunningSimulator, sessionid: bool = False) -> None:
    env = simulator.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("LRS_PLATFORM_URL", "LRS_ACTOR_ID", "LRS_EXTERNAL_ID_MAP"):
        monkeypatch.delenv(name, raising=False)
    if sessionid:
        monkeypatch.setenv("OPENEDX_SESSIONID", simulator.config.credentials.sessionid)
    else:
        monkeypatch.delenv("OPENEDX_SESSIONID", raising=False)


def test_from_env_uses_env_vars_and_chooses_the_credential(monkeypatch, openedx_simulator):
    set_env(monkeypatch, openedx_simulator)
    oauth = openedx_resource_from_env()
    assert (
        isinstance(oauth.client_secret, EnvVar) and oauth.client_secret == "OPENEDX_CLIENT_SECRET"
    )
    assert oauth.client_id == "OPENEDX_CLIENT_ID" and oauth.sessionid is None
    assert oauth.base_url == "OPENEDX_BASE_URL"
    set_env(monkeypatch, openedx_simulator, sessionid=True)
    session = openedx_resource_from_env()
    assert session.sessionid == "OPENEDX_SESSIONID" and session.client_secret is None
    lrs = lrs_resource_from_env()
    assert (lrs.url, lrs.username, lrs.password) == ("LRS_URL", "LRS_USERNAME", "LRS_PASSWORD")
    assert lrs.platform_url == "OPENEDX_BASE_URL" and lrs.actor_id == "username"
    monkeypatch.setenv("LRS_PLATFORM_URL", "https://lms.example.edu.vn")
    monkeypatch.setenv("LRS_ACTOR_ID", "email")
    configured = lrs_resource_from_env()
    assert configured.platform_url == "LRS_PLATFORM_URL" and configured.actor_id == "email"


def test_repr_never_shows_secrets(openedx_simulator) -> None:
    credentials = openedx_simulator.config.credentials
    resources = [
        OpenEdxResource(
            base_url=openedx_simulator.base_url,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
        ),
        OpenEdxResource(base_url=openedx_simulator.base_url, sessionid=credentials.sessionid),
        LrsResource(
            url=openedx_simulator.lrs_url,
            username=credentials.lrs_username,
            password=credentials.lrs_password,
            platform_url=openedx_simulator.platform_url,
        ),
    ]
    shown = " ".join(f"{r!r} {r} {r.client()!r}" for r in resources)
    for secret in SECRETS:
        assert secret not in shown
    assert "OpenEdxClient(" in shown and "LrsClient(" in shown


@pytest.mark.parametrize("sessionid", [False, True])
def test_full_fetch_in_dagster_leaks_no_secret(
    monkeypatch, openedx_simulator, caplog, capfd, sessionid
) -> None:
    """Materialize an asset fetching every endpoint through the env-built resources, with
    all logging at DEBUG (urllib3 included), then fail on purpose with bad credentials, and
    search everything produced for the secrets."""
    caplog.set_level(logging.DEBUG)
    # urllib3's own level too: another library in the process (the Kubernetes client) may
    # have raised it to WARNING.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    set_env(monkeypatch, openedx_simulator, sessionid=sessionid)
    counts: dict[str, int] = {}

    @asset
    def fetched(context: AssetExecutionContext, openedx: OpenEdxResource, lrs: LrsResource):
        def on_page(endpoint: str, page: int, records: int) -> None:
            context.log.info(f"{endpoint}: page {page} ({records} records)")

        client = openedx.client(on_page=on_page)
        enrollments = client.enrollments(RUNNING_COURSE)
        counts["enrollments"] = len(enrollments)
        counts["gradebook"] = len(client.gradebook(RUNNING_COURSE))
        counts["completion"] = len(client.completion(RUNNING_COURSE))
        counts["accounts"] = len(client.accounts(enrollments["username"]))
        counts["cutoffs"] = len(client.grade_cutoffs(RUNNING_COURSE))
        statements = lrs.client(on_page=on_page).statements(RUNNING_COURSE)
        counts["statements"] = len(statements)
        context.log.info(f"clients: {client!r}; stats {client.stats.as_metadata()}")
        return None

    instance = DagsterInstance.ephemeral()
    result = materialize(
        [fetched],
        resources={"openedx": openedx_resource_from_env(), "lrs": lrs_resource_from_env()},
        instance=instance,
    )
    assert result.success
    truth = openedx_simulator.data.course(RUNNING_COURSE)
    assert counts["enrollments"] == counts["accounts"] == len(truth.activity.user)
    assert counts["gradebook"] == counts["completion"] == len(truth.active_by_id)
    assert counts["cutoffs"] == 4 and counts["statements"] > 1000
    logs = [entry.message for entry in instance.all_logs(result.run_id)]
    assert any("page 2" in message for message in logs)

    failures = []
    wrong = {
        "OPENEDX_CLIENT_SECRET": "x" + SIM_CREDENTIALS.client_secret,
        "OPENEDX_SESSIONID": SIM_CREDENTIALS.learner_sessionid,
        "LRS_PASSWORD": SIM_CREDENTIALS.lrs_password + "x",
    }
    for name, value in wrong.items():
        monkeypatch.setenv(name, value)
    attempts = (
        lambda: (
            OpenEdxResource(
                base_url=openedx_simulator.base_url,
                client_id=SIM_CREDENTIALS.client_id,
                client_secret=wrong["OPENEDX_CLIENT_SECRET"],
            )
            .client()
            .gradebook(RUNNING_COURSE)
        ),
        lambda: (
            OpenEdxResource(
                base_url=openedx_simulator.base_url, sessionid=SIM_CREDENTIALS.learner_sessionid
            )
            .client()
            .gradebook(RUNNING_COURSE)
        ),
        lambda: (
            LrsResource(
                url=openedx_simulator.lrs_url,
                username=SIM_CREDENTIALS.lrs_username,
                password=wrong["LRS_PASSWORD"],
                platform_url=openedx_simulator.platform_url,
            )
            .client()
            .statements(RUNNING_COURSE)
        ),
    )
    for attempt in attempts:
        with pytest.raises(IngestError) as raised:
            attempt()
        failures.append(str(raised.value))
    failed_run = materialize(
        [fetched],
        resources={"openedx": openedx_resource_from_env(), "lrs": lrs_resource_from_env()},
        instance=instance,
        raise_on_error=False,
    )
    assert not failed_run.success
    failure_logs = [entry.message for entry in instance.all_logs(failed_run.run_id)]
    failure_events = [
        str(event.step_failure_data.error)
        for event in failed_run.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    assert failure_events

    captured = capfd.readouterr()
    everything = "\n".join(
        [
            caplog.text,
            captured.out,
            captured.err,
            *logs,
            *failure_logs,
            *failure_events,
            *failures,
            str(result.dagster_run.run_config),
            str(failed_run.dagster_run.run_config),
        ]
    )
    assert "GET /api/enrollment/v1/enrollments" in caplog.text  # urllib3 did log at DEBUG
    for secret in (*SECRETS, *wrong.values()):
        assert secret not in everything, "a secret leaked"


def test_lrs_resource_with_an_external_id_map(simulator_factory, tmp_path) -> None:
    simulator = simulator_factory(actor_id="external_id")
    course = simulator.data.course(RUNNING_COURSE)
    users = simulator.data.users
    rows = [f"{users.external_id(int(u))},{users.username(int(u))}" for u in course.activity.user]
    mapping_file = tmp_path / "ids.csv"
    mapping_file.write_text("external_user_id,username\n" + "\n".join(rows), encoding="utf-8")
    resource = LrsResource(
        url=simulator.lrs_url,
        username=SIM_CREDENTIALS.lrs_username,
        password=SIM_CREDENTIALS.lrs_password,
        platform_url=simulator.platform_url,
        actor_id="external_id",
        external_id_map_path=str(mapping_file),
    )
    frame = resource.client().statements(RUNNING_COURSE)
    expected = {users.username(int(u)) for u in course.activity.user}
    assert frame["actor"].notna().all() and set(frame["actor"]) <= expected
