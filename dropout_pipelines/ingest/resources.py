"""Dagster resources for Open edX and the LRS, configured from environment variables.

Secrets are `EnvVar`s: Dagster resolves them at run time, so the UI and the stored run
config show the variable's name, never its value. The secret fields are also excluded from
the resources' `repr`, and the clients keep them out of every message and log line.
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from dropout_pipelines.ingest.clients.actors import ACTOR_IDS, load_external_id_map
from dropout_pipelines.ingest.clients.http import PageCallback
from dropout_pipelines.ingest.clients.lrs import DEFAULT_COURSE_ACTIVITY_TEMPLATE, LrsClient
from dropout_pipelines.ingest.clients.openedx import OpenEdxClient


class OpenEdxResource(ConfigurableResource):
    """An Open edX LMS: OAuth2 client credentials, or a staff `sessionid` cookie."""

    base_url: str = Field(description="LMS root URL, e.g. https://lms.example.edu.vn")
    client_id: str | None = Field(
        default=None, repr=False, description="OAuth2 application id (EnvVar)."
    )
    client_secret: str | None = Field(
        default=None, repr=False, description="OAuth2 application secret (EnvVar)."
    )
    sessionid: str | None = Field(
        default=None,
        repr=False,
        description="A staff user's Django session cookie (EnvVar); used instead of OAuth2.",
    )
    timeout_s: float = Field(default=30.0, description="Read timeout of one request.")
    max_retries: int = Field(default=5, description="Retries on 429 / 5xx / timeouts.")

    def client(self, on_page: PageCallback | None = None) -> OpenEdxClient:
        """A new client (one per thread); `on_page(endpoint, page, records)` reports progress."""
        return OpenEdxClient(
            self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            sessionid=self.sessionid,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            on_page=on_page,
        )


class LrsResource(ConfigurableResource):
    """An xAPI Learning Record Store (basic auth) and how to read its statements."""

    url: str = Field(description="xAPI endpoint root; statements are at {url}/statements.")
    username: str = Field(repr=False, description="LRS key / user (EnvVar).")
    password: str = Field(repr=False, description="LRS secret / password (EnvVar).")
    platform_url: str | None = Field(
        default=None, description="LMS root URL used in activity IRIs (OPENEDX_BASE_URL)."
    )
    actor_id: str = Field(
        default="username", description=f"What identifies a learner: one of {ACTOR_IDS}."
    )
    course_activity_template: str = Field(
        default=DEFAULT_COURSE_ACTIVITY_TEMPLATE,
        description="Course activity IRI; placeholders {platform_url}, {course_id}, "
        "{course_id_encoded}.",
    )
    external_id_map_path: str | None = Field(
        default=None,
        description="CSV/JSON file mapping external ids to usernames (actor_id=external_id).",
    )
    timeout_s: float = Field(default=30.0, description="Read timeout of one request.")
    max_retries: int = Field(default=5, description="Retries on 429 / 5xx / timeouts.")

    def client(self, on_page: PageCallback | None = None) -> LrsClient:
        """A new client (one per thread)."""
        external_ids = (
            load_external_id_map(self.external_id_map_path) if self.external_id_map_path else None
        )
        return LrsClient(
            self.url,
            self.username,
            self.password,
            actor_id=self.actor_id,
            external_ids=external_ids,
            platform_url=self.platform_url,
            course_activity_template=self.course_activity_template,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            on_page=on_page,
        )


def openedx_resource_from_env() -> OpenEdxResource:
    """`OPENEDX_BASE_URL` plus `OPENEDX_SESSIONID` when that variable is set when the code
    location loads, else `OPENEDX_CLIENT_ID` / `OPENEDX_CLIENT_SECRET`."""
    if os.environ.get("OPENEDX_SESSIONID"):
        return OpenEdxResource(
            base_url=EnvVar("OPENEDX_BASE_URL"), sessionid=EnvVar("OPENEDX_SESSIONID")
        )
    return OpenEdxResource(
        base_url=EnvVar("OPENEDX_BASE_URL"),
        client_id=EnvVar("OPENEDX_CLIENT_ID"),
        client_secret=EnvVar("OPENEDX_CLIENT_SECRET"),
    )


def lrs_resource_from_env() -> LrsResource:
    """`LRS_URL`, `LRS_USERNAME`, `LRS_PASSWORD`; activity IRIs on `LRS_PLATFORM_URL` if set,
    else `OPENEDX_BASE_URL`. Optional, read when the code location loads (not secrets):
    `LRS_ACTOR_ID`, `LRS_COURSE_ACTIVITY_TEMPLATE`, `LRS_EXTERNAL_ID_MAP`."""
    platform = "LRS_PLATFORM_URL" if os.environ.get("LRS_PLATFORM_URL") else "OPENEDX_BASE_URL"
    return LrsResource(
        url=EnvVar("LRS_URL"),
        username=EnvVar("LRS_USERNAME"),
        password=EnvVar("LRS_PASSWORD"),
        platform_url=EnvVar(platform),
        actor_id=os.environ.get("LRS_ACTOR_ID") or "username",
        course_activity_template=(
            os.environ.get("LRS_COURSE_ACTIVITY_TEMPLATE") or DEFAULT_COURSE_ACTIVITY_TEMPLATE
        ),
        external_id_map_path=os.environ.get("LRS_EXTERNAL_ID_MAP") or None,
    )
