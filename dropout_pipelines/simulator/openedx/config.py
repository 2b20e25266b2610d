"""Configuration of the bundled Open edX + LRS simulator.

One frozen dataclass holds everything that shapes a run, so a test fixture, the CLI and the
demo describe a simulator the same way and two runs with equal configs serve equal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from dropout_pipelines.simulator.openedx.faults import FaultPlan

ACTOR_IDS = ("username", "email", "external_id")
ENVELOPES = ("cursor", "page")
LRS_PATH = "/xAPI"  # where the simulator serves its LRS, below its base URL


def utc_today() -> date:
    """Today's UTC date: the default clock, so a demo's 'current semester' is current."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Credentials:
    """Who may call the simulator.

    The staff OAuth2 client and session are what the pipelines use; the learner ones exist so
    clients can be tested against the 403 a non-staff account gets from staff-only APIs.
    """

    client_id: str = "dropout-client"
    client_secret: str = "dropout-secret"
    learner_client_id: str = "learner-client"
    learner_client_secret: str = "learner-secret"
    sessionid: str = "sim-staff-sessionid"
    learner_sessionid: str = "sim-learner-sessionid"
    lrs_username: str = "lrs"
    lrs_password: str = "lrs-secret"

    def environment(self, base_url: str) -> dict[str, str]:
        """The product's Open edX and LRS variables, pointed at a simulator serving on
        `base_url` with these credentials (the demo, `make dev`, tests and benchmarks)."""
        return {
            "OPENEDX_BASE_URL": base_url,
            "OPENEDX_CLIENT_ID": self.client_id,
            "OPENEDX_CLIENT_SECRET": self.client_secret,
            "LRS_URL": f"{base_url}{LRS_PATH}",
            "LRS_USERNAME": self.lrs_username,
            "LRS_PASSWORD": self.lrs_password,
        }


@dataclass(frozen=True)
class DataParams:
    """The inputs of data generation; equal params give byte-identical data.

    ``today`` is where the simulator clock starts (its midnight, UTC). ``late_courses`` adds
    courses to the running semester that are announced (listed by the course API, open for
    enrollment) ``late_announce_days`` days after today, one more each following week.
    """

    seed: int = 7
    today: date = field(default_factory=utc_today)
    courses_per_semester: int = 3
    students_per_course: int = 200
    late_courses: int = 0
    late_announce_days: int = 7

    def __post_init__(self) -> None:
        if self.courses_per_semester < 1:
            raise ValueError("courses_per_semester must be at least 1")
        if self.students_per_course < 1:
            raise ValueError("students_per_course must be at least 1")
        if self.late_courses < 0:
            raise ValueError("late_courses must not be negative")
        if self.late_announce_days < 0:
            raise ValueError("late_announce_days must not be negative")


@dataclass(frozen=True)
class SimulatorConfig:
    """A whole simulator run: data, credentials, API flavour and injected faults.

    `platform_url` is the LMS root used in xAPI activity IRIs (`{platform_url}/course/{id}`);
    when None it is the server's own base URL, as on a real LMS whose API and LMS_ROOT_URL are
    the same host. `actor_id` chooses how statements identify learners (Open edX event routing
    defaults to an anonymous external id; deployments switch to username or e-mail).
    `envelope` switches list APIs between the cursor envelope most releases serve and the
    page-number envelope newer releases move to. `gradebook_fork_fields` adds the full_name /
    letter_grade / passed fields some forks put in gradebook entries.
    """

    data: DataParams = field(default_factory=DataParams)
    credentials: Credentials = field(default_factory=Credentials)
    faults: FaultPlan = field(default_factory=FaultPlan)
    host: str = "127.0.0.1"
    port: int = 0
    platform_url: str | None = None
    actor_id: str = "username"
    envelope: str = "cursor"
    gradebook_fork_fields: bool = False
    token_lifetime_s: int = 36000

    def __post_init__(self) -> None:
        if self.actor_id not in ACTOR_IDS:
            raise ValueError(f"actor_id must be one of {ACTOR_IDS}, got {self.actor_id!r}")
        if self.envelope not in ENVELOPES:
            raise ValueError(f"envelope must be one of {ENVELOPES}, got {self.envelope!r}")
