"""Session fixtures for ingestion tests: live Open edX + LRS simulators on free loopback ports.

Simulators are cheap to start (the seeded dataset is generated once per process and shared),
so `simulator_factory` starts one per distinct configuration and hands it back with its fault
schedules reset, which keeps fault scenarios independent of test order. Credentials are
distinctive strings so a test can search captured output for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

import pytest

from dropout_pipelines.ingest.clients.lrs import LrsClient
from dropout_pipelines.ingest.clients.openedx import OpenEdxClient
from dropout_pipelines.simulator.openedx import (
    Credentials,
    DataParams,
    FaultPlan,
    RunningSimulator,
    SimulatorConfig,
    start_simulator,
)

SIM_TODAY = date(2026, 11, 29)
SIM_PARAMS = DataParams(seed=7, today=SIM_TODAY, courses_per_semester=3, students_per_course=200)
SIM_CREDENTIALS = Credentials(
    client_id="ingest-client",
    client_secret="oauth-secret-Zq81xT",
    learner_client_id="ingest-learner",
    learner_client_secret="learner-secret-Hv20pL",
    sessionid="staff-sessionid-Xw52kQ",
    learner_sessionid="learner-sessionid-Rb77cN",
    lrs_username="lrs-key-ingest",
    lrs_password="lrs-password-Kp37mD",
)
# Running semester, ended semester, and the course whose number has `.`, `-`, `_` and `~`.
RUNNING_COURSE = "course-v1:DHQG-HCM+FM101+2026_S2"
ENDED_COURSE = "course-v1:UEL+NLTT241225+2026_S1"
SPECIAL_COURSE = "course-v1:DHQG-HCM+DS.AI-201_x~v2+2026_S2"


@dataclass
class SimulatorFactory:
    """Starts simulators on free ports; equal requests share one (faults reset on reuse)."""

    params: DataParams
    credentials: Credentials
    _running: dict[tuple, RunningSimulator] = field(default_factory=dict)
    _fresh: list[RunningSimulator] = field(default_factory=list)

    def __call__(self, faults: str = "", *, fresh: bool = False, **overrides) -> RunningSimulator:
        """A simulator with `faults` (the fault grammar) and SimulatorConfig `overrides`
        (envelope, actor_id, gradebook_fork_fields, token_lifetime_s, platform_url, data).
        `fresh=True` gives a private one, for tests that change its state."""
        key = (faults, tuple(sorted(overrides.items())))
        if not fresh and key in self._running:
            simulator = self._running[key]
            simulator.reset_faults()
            return simulator
        config = SimulatorConfig(
            data=overrides.pop("data", self.params),
            credentials=self.credentials,
            faults=FaultPlan.parse(faults),
            **overrides,
        )
        simulator = start_simulator(config)
        if fresh:
            self._fresh.append(simulator)
        else:
            self._running[key] = simulator
        return simulator

    def stop_all(self) -> None:
        for simulator in [*self._running.values(), *self._fresh]:
            simulator.stop()
        self._running.clear()
        self._fresh.clear()


@dataclass
class SleepRecorder:
    """An injectable `sleep` that records the waits instead of sleeping."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="session")
def sim_params() -> DataParams:
    return SIM_PARAMS


@pytest.fixture(scope="session")
def sim_credentials() -> Credentials:
    return SIM_CREDENTIALS


@pytest.fixture(scope="session")
def simulator_factory() -> Iterator[SimulatorFactory]:
    factory = SimulatorFactory(SIM_PARAMS, SIM_CREDENTIALS)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def openedx_simulator(simulator_factory: SimulatorFactory) -> RunningSimulator:
    """Cursor envelopes, upstream gradebook fields, actors identified by username."""
    return simulator_factory()


@pytest.fixture(scope="session")
def page_simulator(simulator_factory: SimulatorFactory) -> RunningSimulator:
    """Page-number envelopes (`count`, `num_pages`, `current_page`, `next`)."""
    return simulator_factory(envelope="page")


@pytest.fixture(scope="session")
def fork_simulator(simulator_factory: SimulatorFactory) -> RunningSimulator:
    """A fork whose gradebook adds `full_name`, `letter_grade` and `passed`."""
    return simulator_factory(gradebook_fork_fields=True)


@pytest.fixture
def recorded_sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_openedx_client(
    recorded_sleep: SleepRecorder,
) -> Callable[..., OpenEdxClient]:
    """`make_openedx_client(simulator, **kwargs)`: a staff OAuth2 (JWT) client by default,
    sleeping through `recorded_sleep`; kwargs override any OpenEdxClient argument."""

    def make(simulator: RunningSimulator, **kwargs) -> OpenEdxClient:
        credentials = simulator.config.credentials
        arguments = {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "sleep": recorded_sleep,
            "timeout": 10.0,
        } | kwargs
        return OpenEdxClient(simulator.base_url, **arguments)

    return make


@pytest.fixture
def make_lrs_client(recorded_sleep: SleepRecorder) -> Callable[..., LrsClient]:
    """`make_lrs_client(simulator, **kwargs)`: basic-auth client on the simulator's LRS with
    activity IRIs on its platform URL; kwargs override any LrsClient argument."""

    def make(simulator: RunningSimulator, **kwargs) -> LrsClient:
        credentials = simulator.config.credentials
        arguments = {
            "platform_url": simulator.platform_url,
            "sleep": recorded_sleep,
            "timeout": 10.0,
        } | kwargs
        return LrsClient(
            simulator.lrs_url, credentials.lrs_username, credentials.lrs_password, **arguments
        )

    return make


@pytest.fixture
def openedx_client(make_openedx_client, openedx_simulator: RunningSimulator) -> OpenEdxClient:
    return make_openedx_client(openedx_simulator)


@pytest.fixture
def lrs_client(make_lrs_client, openedx_simulator: RunningSimulator) -> LrsClient:
    return make_lrs_client(openedx_simulator)
