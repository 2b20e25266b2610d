"""`make dev`: the Dagster UI and daemon (`dagster dev`) with the bundled Open edX + LRS
simulator on loopback, so the schedules and sensors, switched on, run the term by
themselves. With `OPENEDX_BASE_URL` set, the real Open edX and LRS are used instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.simulator.bundled import start_bundled_simulator


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def main() -> int:
    simulator = start_bundled_simulator(say)
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", "3000"]
    say("Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops it and the simulator)")
    try:
        return subprocess.call(command, cwd=PROJECT_ROOT)
    except KeyboardInterrupt:
        return 0
    finally:
        if simulator is not None:
            simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
