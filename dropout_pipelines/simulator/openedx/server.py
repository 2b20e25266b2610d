"""Running the simulator: in-process on a background thread (tests, demo) or in the
foreground (the CLI), always as a real uvicorn HTTP server on loopback.

    with start_simulator(SimulatorConfig(data=DataParams(seed=7))) as sim:
        requests.get(f"{sim.base_url}/api/courses/v1/courses/")
        requests.get(f"{sim.lrs_url}/statements", auth=("lrs", "lrs-secret"),
                     headers={"X-Experience-API-Version": "1.0.3"})
        sim.clock.advance(days=7)     # a week of the term passes (or POST /_sim/advance)
        sim.fail_next(3)              # the next 3 data requests answer 503
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import TracebackType

import uvicorn

from dropout_pipelines.simulator.openedx.app import SimulatorState, build_app
from dropout_pipelines.simulator.openedx.auth import LmsAuth
from dropout_pipelines.simulator.openedx.clock import SimulatorClock
from dropout_pipelines.simulator.openedx.config import LRS_PATH, DataParams, SimulatorConfig
from dropout_pipelines.simulator.openedx.data import Dataset, Snapshot, build_dataset
from dropout_pipelines.simulator.openedx.faults import FaultInjector
from dropout_pipelines.simulator.openedx.lrs import StatementStore

STARTUP_TIMEOUT_S = 30.0


@lru_cache(maxsize=4)
def cached_dataset(params: DataParams) -> Dataset:
    """Datasets are read-only, so simulators with equal data params in one process share one
    (a test session starting several fault scenarios generates the data once)."""
    return build_dataset(params)


def build_state(config: SimulatorConfig) -> SimulatorState:
    world = cached_dataset(config.data)
    world.users.index_of_username("")  # build the username index before the first request
    return SimulatorState(
        config=config,
        world=world,
        clock=SimulatorClock(world.initial_now),
        auth=LmsAuth(
            config.credentials,
            config.data.seed,
            config.token_lifetime_s,
            config.faults.token_expires_after,
        ),
        store=StatementStore(world, config.actor_id),
        faults=FaultInjector(config.faults),
    )


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


@dataclass
class RunningSimulator:
    """A simulator serving on a background thread; stop it (or leave the ``with``) to end.

    Its clock is its own (simulators with equal data share the generated world, not the
    clock), so a test that moves time should start a private one.
    """

    config: SimulatorConfig
    state: SimulatorState
    base_url: str
    _server: uvicorn.Server
    _thread: threading.Thread
    _socket: socket.socket

    @property
    def lrs_url(self) -> str:
        """The LRS endpoint root (statements are at ``{lrs_url}/statements``)."""
        return f"{self.base_url}{LRS_PATH}"

    def environment(self) -> dict[str, str]:
        """The product's Open edX and LRS variables, pointed at this simulator."""
        return self.config.credentials.environment(self.base_url)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def data(self) -> Snapshot:
        """The world as the APIs show it now (ground truth for tests: engagement, outcomes)."""
        return self.state.data

    @property
    def world(self) -> Dataset:
        """The whole generated world, every course to its end, whatever the clock says."""
        return self.state.world

    @property
    def clock(self) -> SimulatorClock:
        """The simulator clock: ``clock.now``, ``clock.advance(days=7)``, ``clock.set(…)``."""
        return self.state.clock

    @property
    def now(self) -> datetime:
        return self.state.clock.now

    def advance(self, **amounts: float) -> datetime:
        """Move the clock forward (``days=``, ``hours=``, ``minutes=``, ``seconds=``)."""
        return self.state.clock.advance(**amounts)

    def set_now(self, moment: datetime) -> datetime:
        """Move the clock to ``moment`` (naive = UTC); never backward."""
        return self.state.clock.set(moment)

    def set_faults(self, spec: str) -> None:
        """Replace the fault plan at runtime (the grammar of ``--faults``; "" = none)."""
        self.state.set_faults(spec)

    def fail_next(self, count: int, status: int = 503, prefix: str | None = None) -> None:
        """Make exactly the next ``count`` data requests (under ``prefix``) answer ``status``."""
        self.state.faults.fail_next(count, status, prefix)

    @property
    def platform_url(self) -> str:
        """The LMS root used in xAPI activity IRIs."""
        return self.config.platform_url or self.base_url

    def reset_faults(self) -> None:
        """Back to the configured faults: schedules restarted, runtime switches undone."""
        self.state.restore_faults()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _server_for(
    config: SimulatorConfig, sock: socket.socket
) -> tuple[uvicorn.Server, str, SimulatorState]:
    host, port = sock.getsockname()[:2]
    base_url = f"http://{host}:{port}"
    state = build_state(config)
    app = build_app(state)
    app.state.platform_url = config.platform_url or base_url
    uv_config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    return uvicorn.Server(uv_config), base_url, state


def start_simulator(config: SimulatorConfig | None = None) -> RunningSimulator:
    """Start a simulator on ``config.host:config.port`` (port 0 = a free one) in a thread.

    Returns once the server accepts connections.
    """
    config = config or SimulatorConfig()
    sock = _bind(config.host, config.port)
    server, base_url, state = _server_for(config, sock)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="openedx-simulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the simulator did not start on {base_url}")
        time.sleep(0.01)
    return RunningSimulator(config, state, base_url, server, thread, sock)


def serve_forever(
    config: SimulatorConfig, on_ready: Callable[[str, SimulatorState], None] | None = None
) -> None:
    """Serve in the foreground until interrupted (what the CLI does)."""
    sock = _bind(config.host, config.port)
    server, base_url, state = _server_for(config, sock)
    if on_ready is not None:
        on_ready(base_url, state)
    server.run(sockets=[sock])
