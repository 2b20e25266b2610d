"""The bundled Open edX + xAPI LRS simulator: a real HTTP server on loopback serving
deterministic, seeded course data in the shapes edx-platform and an xAPI 1.0.3 LRS use.

Start it from Python with :func:`start_simulator` (tests, the demo) or from the shell with
``python -m dropout_pipelines.simulator``. The fault grammar is in
:mod:`dropout_pipelines.simulator.openedx.faults`.

The world is generated over the whole of every course run and served as of a simulator clock
that starts at ``DataParams.today`` and only moves forward, so a test can run a term end to
end: ``sim.clock.advance(days=7)`` in process, or the test-only ``/_sim/`` control endpoints
(:mod:`dropout_pipelines.simulator.openedx.app`) over HTTP.
"""

from dropout_pipelines.simulator.openedx.clock import ClockError, SimulatorClock
from dropout_pipelines.simulator.openedx.config import Credentials, DataParams, SimulatorConfig
from dropout_pipelines.simulator.openedx.faults import FaultPlan, FaultSpecError
from dropout_pipelines.simulator.openedx.server import RunningSimulator, start_simulator

__all__ = [
    "ClockError",
    "Credentials",
    "DataParams",
    "FaultPlan",
    "FaultSpecError",
    "RunningSimulator",
    "SimulatorClock",
    "SimulatorConfig",
    "start_simulator",
]
