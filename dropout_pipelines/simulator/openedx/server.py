"""Running the simulator: in-process on a background thread (tests, demo) or in the
foreground (the CLI), always as a real uvicorn HTTP server on loopback.

    with start_simulator(SimulatorConfig(data=DataParams(seed=7))) as sim:
        requests.get(f"{sim.base_url}/api/courses/v1/courses/")
        requests.get(f"{sim.lrs_url}/statements", auth=("lrs", "lrs-secret"),
                     headers={"X-Experience-API-Version": "1.0.3"})
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType

import uvicorn

from dropout_pipelines.simulator.openedx.app import SimulatorState, build_app
from dropout_pipelines.simulator.openedx.auth import LmsAuth
from dropout_pipelines.simulator.openedx.config import DataParams, SimulatorConfig
from dropout_pipelines.simulator.openedx.data import Dataset, build_dataset
from dropout_pipelines.simulator.openedx.faults import FaultInjector
from dropout_pipelines.simulator.openedx.lrs import StatementStore

STARTUP_TIMEOUT_S = 30.0


@lru_cache(maxsize=4)
def cached_dataset(params: DataParams) -> Dataset:
    """Datasets are read-only, so simulators with equal data params in one process share one
    (a test session starting several fault scenarios generates the data once)."""
    return build_dataset(params)


def build_state(config: SimulatorConfig) -> SimulatorState:
    data = cached_dataset(config.data)
    data.users.index_of_username("")  # build the username index before the first request
    return SimulatorState(
        config=config,
        data=data,
        auth=LmsAuth(
            config.credentials,
            config.data.seed,
            config.token_lifetime_s,
            config.faults.token_expires_after,
        ),
        store=StatementStore(data, config.actor_id),
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
    """A simulator serving on a background thread; stop it (or leave the ``with``) to end."""

    config: SimulatorConfig
    state: SimulatorState
    base_url: str
    _server: uvicorn.Server
    _thread: threading.Thread
    _socket: socket.socket

    @property
    def lrs_url(self) -> str:
        """The LRS endpoint root (statements are at ``{lrs_url}/statements``)."""
        return f"{self.base_url}/xAPI"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def data(self) -> Dataset:
        """The generated world (ground truth for tests: engagement, outcomes)."""
        return self.state.data

    @property
    def platform_url(self) -> str:
        """The LMS root used in xAPI activity IRIs."""
        return self.config.platform_url or self.base_url

    def reset_faults(self) -> None:
        self.state.faults.reset()

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
