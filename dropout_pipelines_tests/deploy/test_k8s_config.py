"""deploy/helm/values.yaml checked with Dagster's own config schemas.

No Helm binary or cluster here: `chart_instance_yaml` writes the parts of the instance's
dagster.yaml that the chart's templates (configmap-instance.yaml and its helpers, chart
1.13) derive from these values — the PostgreSQL storage it always writes, the
K8sRunLauncher, run monitoring and retries, concurrency, then `additionalInstanceConfig`
appended — and Dagster validates it, loads it and opens it on the MariaDB test server. The
chart's `scheduler` and `run_coordinator` blocks are left out: they name the classes Dagster
uses by default (DagsterDaemonScheduler, QueuedRunCoordinator).
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance, materialize
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import ConfigurableClassData
from dagster_k8s import K8sRunLauncher
from dagster_mysql import MySQLEventLogStorage, MySQLRunStorage, MySQLScheduleStorage

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines_tests.deploy.test_instance_configs import instance_probe
from dropout_pipelines_tests.support.dagster_instances import MYSQL_INSTANCE_YAML, mysql_env

VALUES_PATH = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
DOCKERFILE = PROJECT_ROOT / "deploy" / "Dockerfile"
RELEASE = "dagster"
NAMESPACE = "dropout"
STORAGE_CLASSES = {
    "run_storage": MySQLRunStorage,
    "event_log_storage": MySQLEventLogStorage,
    "schedule_storage": MySQLScheduleStorage,
}
# runLauncher.config.k8sRunLauncher keys the chart's K8sRunLauncher template knows (its schema
# forbids any other), and the launcher config key each one becomes.
LAUNCHER_KEYS = {
    "image": "job_image",
    "imagePullPolicy": "image_pull_policy",
    "jobNamespace": "job_namespace",
    "loadInclusterConfig": "load_incluster_config",
    "kubeconfigFile": "kubeconfig_file",
    "envConfigMaps": "env_config_maps",
    "envSecrets": "env_secrets",
    "envVars": "env_vars",
    "volumeMounts": "volume_mounts",
    "volumes": "volumes",
    "labels": "labels",
    "resources": "resources",
    "failPodOnRunFailure": "fail_pod_on_run_failure",
    "schedulerName": "scheduler_name",
    "securityContext": "security_context",
    "runK8sConfig": "run_k8s_config",
}
RUN_K8S_CONFIG_KEYS = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}
KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "test", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    "current-context": "test",
}


def load_values() -> dict[str, Any]:
    return yaml.safe_load(VALUES_PATH.read_text())


def chart_fullname(release: str = RELEASE) -> str:
    return release if "dagster" in release else f"{release}-dagster"


def k8s_run_launcher_config(values: dict[str, Any], namespace: str = NAMESPACE) -> dict:
    """The `run_launcher.config` the chart renders for `runLauncher.type: K8sRunLauncher`."""
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    unknown = set(launcher) - set(LAUNCHER_KEYS)
    if unknown:
        raise ValueError(f"runLauncher.config.k8sRunLauncher: unknown keys {sorted(unknown)}")
    fullname = chart_fullname()
    config: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or namespace,
        "image_pull_policy": launcher.get("imagePullPolicy"),
        "service_account_name": fullname,
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{fullname}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if launcher.get("image"):
        image = launcher["image"]
        config["job_image"] = f"{image['repository']}:{image['tag']}"
    for key in ("envConfigMaps", "envSecrets"):
        if launcher.get(key):
            config[LAUNCHER_KEYS[key]] = [
                entry["name"] for entry in launcher[key] if "name" in entry
            ]
    for key in (
        "kubeconfigFile",
        "envVars",
        "volumeMounts",
        "volumes",
        "labels",
        "resources",
        "schedulerName",
        "securityContext",
    ):
        if launcher.get(key):
            config[LAUNCHER_KEYS[key]] = launcher[key]
    if launcher.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if launcher.get("runK8sConfig"):
        config["run_k8s_config"] = {
            RUN_K8S_CONFIG_KEYS[key]: value
            for key, value in launcher["runK8sConfig"].items()
            if value
        }
    return config


def _instance_sections(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The instance's top-level sections in the order the chart writes them."""
    postgres = {
        "postgres_db": {
            "username": "test",
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": "",
            "db_name": "test",
            "port": 5432,
            "params": {},
        }
    }
    daemon = values["dagsterDaemon"]
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    concurrency = values["concurrency"]
    sections: list[dict[str, Any]] = [
        {"schedule_storage": _pg_class("schedule_storage", postgres)},
        {
            "run_launcher": {
                "module": "dagster_k8s",
                "class": "K8sRunLauncher",
                "config": k8s_run_launcher_config(values),
            }
        },
        {"run_storage": _pg_class("run_storage", postgres)},
        {"event_log_storage": _pg_class("event_log", postgres)},
        {
            "run_monitoring": {
                "enabled": monitoring["enabled"],
                "start_timeout_seconds": monitoring["startTimeoutSeconds"],
                "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
                "poll_interval_seconds": monitoring["pollIntervalSeconds"],
                "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
            }
        },
        {
            "run_retries": {
                "enabled": retries["enabled"],
                "max_retries": retries["maxRetries"],
                "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
            }
        },
        {"telemetry": {"enabled": values["telemetry"]["enabled"]}},
    ]
    if concurrency["enabled"]:
        runs, pools = concurrency["runs"], concurrency["pools"]
        sections.append(
            {
                "concurrency": {
                    "pools": {"default_limit": pools["defaultLimit"]},
                    "runs": {
                        "max_concurrent_runs": runs["maxConcurrentRuns"],
                        "tag_concurrency_limits": runs["tagConcurrencyLimits"],
                    },
                }
            }
        )
    return sections


def _pg_class(kind: str, config: dict) -> dict:
    classes = {
        "schedule_storage": "PostgresScheduleStorage",
        "run_storage": "PostgresRunStorage",
        "event_log": "PostgresEventLogStorage",
    }
    return {"module": f"dagster_postgres.{kind}", "class": classes[kind], "config": config}


def chart_instance_yaml(values: dict[str, Any]) -> str:
    """The instance dagster.yaml text: sections one after another, then
    `additionalInstanceConfig`, so a key can appear twice as it does in the chart's output."""
    parts = [yaml.safe_dump(section, sort_keys=False) for section in _instance_sections(values)]
    if values.get("additionalInstanceConfig"):
        parts.append(yaml.safe_dump(values["additionalInstanceConfig"], sort_keys=False))
    return "".join(parts)


def _validate(config_schema, config: dict):
    return process_config(resolve_to_config_type(config_schema), config)


def test_the_run_launcher_config_is_valid_for_dagster_k8s():
    config = k8s_run_launcher_config(load_values())

    result = _validate(K8sRunLauncher.config_type(), config)

    assert result.success, result.errors
    assert config["env_secrets"] == ["dagster-mysql", "dropout-secrets"]
    assert config["job_namespace"] == NAMESPACE


def test_a_broken_run_launcher_config_fails_validation():
    config = k8s_run_launcher_config(load_values())

    misspelled = {**config, "env_secret": config["env_secrets"]}
    del misspelled["env_secrets"]
    assert not _validate(K8sRunLauncher.config_type(), misspelled).success
    wrong_type = {**config, "load_incluster_config": "yes"}
    assert not _validate(K8sRunLauncher.config_type(), wrong_type).success

    values = load_values()
    values["runLauncher"]["config"]["k8sRunLauncher"]["envSecret"] = [{"name": "x"}]
    with pytest.raises(ValueError, match="envSecret"):
        k8s_run_launcher_config(values)


def test_the_run_launcher_builds_from_that_config(tmp_path):
    """dagster-k8s constructs the launcher (kubeconfig instead of the in-cluster account)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(KUBECONFIG))
    config = {
        **k8s_run_launcher_config(load_values()),
        "load_incluster_config": False,
        "kubeconfig_file": str(kubeconfig),
    }
    launcher = ConfigurableClassData(
        "dagster_k8s", "K8sRunLauncher", yaml.safe_dump(config)
    ).rehydrate(as_type=K8sRunLauncher)

    assert launcher.env_secrets == ["dagster-mysql", "dropout-secrets"]
    assert launcher.resources["limits"] == {"memory": "4Gi"}


@pytest.fixture
def placeholder_mysql_env(monkeypatch):
    """The storage variables set (to placeholders), so that `{env: ...}` resolves."""
    for name, value in mysql_env("mysql+pymysql://dagster:placeholder@db:3306/dagster").items():
        monkeypatch.setenv(name, value)


def test_the_mysql_storage_sections_are_valid_and_match_the_one_machine_config(
    placeholder_mysql_env,
):
    storage = load_values()["additionalInstanceConfig"]
    one_machine = yaml.safe_load(MYSQL_INSTANCE_YAML.read_text())["storage"]["mysql"]

    assert set(storage) == set(STORAGE_CLASSES)
    for section, klass in STORAGE_CLASSES.items():
        entry = storage[section]
        assert (entry["module"], entry["class"]) == (
            klass.__module__.rsplit(".", 1)[0],
            klass.__name__,
        )
        assert _validate(klass.config_type(), entry["config"]).success
        assert entry["config"] == one_machine
    credentials = storage["run_storage"]["config"]["mysql_db"]
    assert all(set(value) == {"env"} for value in credentials.values())


def test_a_broken_storage_config_fails_validation(placeholder_mysql_env):
    config = load_values()["additionalInstanceConfig"]["run_storage"]["config"]
    assert _validate(MySQLRunStorage.config_type(), config).success
    database = config["mysql_db"]

    renamed = {"mysql_db": {**database, "database": database["db_name"]}}
    del renamed["mysql_db"]["db_name"]
    assert not _validate(MySQLRunStorage.config_type(), renamed).success
    assert not _validate(
        MySQLRunStorage.config_type(), {"mysql_db": {**database, "port": "three"}}
    ).success


def test_the_mysql_storage_replaces_the_charts_postgres_storage(tmp_path):
    text = chart_instance_yaml(load_values())
    assert len(re.findall(r"^run_storage:", text, flags=re.MULTILINE)) == 2
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(text)

    config, _ = dagster_instance_config(str(home))

    for section, klass in STORAGE_CLASSES.items():
        assert config[section]["class"] == klass.__name__
    assert config["concurrency"]["pools"]["default_limit"] == 4
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": 2,
        "retry_on_asset_or_op_failure": True,
    }


def test_the_charts_instance_opens_on_mariadb(tmp_path, mariadb_server, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(chart_instance_yaml(load_values()))
    database = mariadb_server.create_database("dagster_chart")
    for name, value in mysql_env(mariadb_server.url_for(database)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    try:
        instance = DagsterInstance.from_config(str(home))
        try:
            assert type(instance.event_log_storage) is MySQLEventLogStorage
            assert materialize([instance_probe], instance=instance).success
            assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
        finally:
            instance.dispose()
    finally:
        mariadb_server.drop_database(database)


def test_the_concurrency_limits_are_set_in_one_place_only():
    values = load_values()
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]

    assert values["concurrency"]["enabled"]
    assert queued["maxConcurrentRuns"] is None and queued["tagConcurrencyLimits"] is None


def test_every_component_runs_the_project_image_with_the_storage_secret():
    values = load_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    images = [
        values["dagsterWebserver"]["image"],
        values["dagsterDaemon"]["image"],
        deployment["image"],
    ]
    assert all(image == images[0] for image in images)
    for component in (values["dagsterWebserver"], values["dagsterDaemon"], deployment):
        assert {"name": "dagster-mysql"} in component["envSecrets"]
    assert values["dagsterWebserver"]["checkDbReadyInitContainer"] is False
    assert values["dagsterDaemon"]["checkDbReadyInitContainer"] is False
    assert values["postgresql"]["enabled"] is False

    module = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"][
        "module_name"
    ]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD"))
    assert module in json.loads(cmd.removeprefix("CMD "))


def test_the_dockerfile_copies_what_the_package_reads_beside_it():
    """settings.PROJECT_ROOT is the folder above the package: sql/ must sit there."""
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    for folder in ("dropout_pipelines", "sql", "models"):
        assert f"COPY {folder} ./{folder}" in text
    assert "pip install -e ." in text
    assert (PROJECT_ROOT / "sql" / "queries").is_dir()
