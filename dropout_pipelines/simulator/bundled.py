"""The bundled simulator as the demo and `make dev` use it: started on loopback, with the
product's OPENEDX_*/LRS_* variables pointed at it, unless a real Open edX is configured."""

from __future__ import annotations

import os
from collections.abc import Callable

from dropout_pipelines.simulator.openedx import (
    DataParams,
    RunningSimulator,
    SimulatorConfig,
    start_simulator,
)

DEMO_SEED = 7


def start_bundled_simulator(say: Callable[[str], None] = print) -> RunningSimulator | None:
    """Start the simulator and point the variables at it; None (nothing started) when
    `OPENEDX_BASE_URL` already names an Open edX."""
    if os.environ.get("OPENEDX_BASE_URL"):
        say(f"using the Open edX at {os.environ['OPENEDX_BASE_URL']} (OPENEDX_BASE_URL)")
        return None
    simulator = start_simulator(SimulatorConfig(data=DataParams(seed=DEMO_SEED)))
    os.environ.update(simulator.environment())
    say(f"bundled Open edX + LRS simulator on {simulator.base_url} (LRS {simulator.lrs_url})")
    return simulator
