"""The bundled Open edX + xAPI LRS simulator: a real HTTP server on loopback serving
deterministic, seeded course data in the shapes edx-platform and an xAPI 1.0.3 LRS use.

Start it from Python with :func:`start_simulator` (tests, the demo) or from the shell with
``python -m dropout_pipelines.simulator``. The fault grammar is in
:mod:`dropout_pipelines.simulator.openedx.faults`.
"""

from dropout_pipelines.simulator.openedx.config import Credentials, DataParams, SimulatorConfig
from dropout_pipelines.simulator.openedx.faults import FaultPlan, FaultSpecError
from dropout_pipelines.simulator.openedx.server import RunningSimulator, start_simulator

__all__ = [
    "Credentials",
    "DataParams",
    "FaultPlan",
    "FaultSpecError",
    "RunningSimulator",
    "SimulatorConfig",
    "start_simulator",
]
