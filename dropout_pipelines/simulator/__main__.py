"""CLI for the bundled Open edX + xAPI LRS simulator.

    python -m dropout_pipelines.simulator --port 8900 --seed 7 [--today 2026-11-29]
        [--courses 3] [--students 200] [--late-courses 0 --late-announce-days 7]
        [--latency-ms 0] [--faults SPEC]
        [--client-id ID --client-secret S --lrs-username U --lrs-password P]

Prints the LMS base URL and the LRS URL, then serves until interrupted. The simulator clock
starts at midnight of ``--today`` and moves only through the test-only ``/_sim/`` endpoints
(documented in ``dropout_pipelines.simulator.openedx.app``). The fault grammar is documented
in ``dropout_pipelines.simulator.openedx.faults``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import date

from dropout_pipelines.simulator.openedx.app import SimulatorState
from dropout_pipelines.simulator.openedx.config import (
    ACTOR_IDS,
    ENVELOPES,
    Credentials,
    DataParams,
    SimulatorConfig,
    utc_today,
)
from dropout_pipelines.simulator.openedx.faults import FaultPlan, FaultSpecError
from dropout_pipelines.simulator.openedx.server import serve_forever

DEFAULTS = Credentials()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dropout_pipelines.simulator",
        description="Serve a simulated Open edX LMS and xAPI LRS on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the simulated date (YYYY-MM-DD); default: today's UTC date",
    )
    parser.add_argument("--courses", type=int, default=3, help="courses per semester")
    parser.add_argument("--students", type=int, default=200, help="learners per course")
    parser.add_argument(
        "--late-courses", type=int, default=0, help="courses announced mid-term (see DataParams)"
    )
    parser.add_argument(
        "--late-announce-days", type=int, default=7, help="days after today the first is announced"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay on every request")
    parser.add_argument("--faults", default="", help="fault spec, e.g. rate429=0.1,burst5xx=3")
    parser.add_argument("--client-id", default=DEFAULTS.client_id)
    parser.add_argument("--client-secret", default=DEFAULTS.client_secret)
    parser.add_argument("--sessionid", default=DEFAULTS.sessionid)
    parser.add_argument("--lrs-username", default=DEFAULTS.lrs_username)
    parser.add_argument("--lrs-password", default=DEFAULTS.lrs_password)
    parser.add_argument("--actor-id", choices=ACTOR_IDS, default="username")
    parser.add_argument("--envelope", choices=ENVELOPES, default="cursor")
    parser.add_argument("--platform-url", default=None, help="LMS root in xAPI activity IRIs")
    parser.add_argument("--gradebook-fork-fields", action="store_true")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """Translate parsed arguments into a SimulatorConfig (FaultSpecError on a bad spec)."""
    faults = FaultPlan.parse(args.faults).with_latency(args.latency_ms)
    return SimulatorConfig(
        data=DataParams(
            seed=args.seed,
            today=args.today or utc_today(),
            courses_per_semester=args.courses,
            students_per_course=args.students,
            late_courses=args.late_courses,
            late_announce_days=args.late_announce_days,
        ),
        credentials=Credentials(
            client_id=args.client_id,
            client_secret=args.client_secret,
            sessionid=args.sessionid,
            lrs_username=args.lrs_username,
            lrs_password=args.lrs_password,
        ),
        faults=faults,
        host=args.host,
        port=args.port,
        platform_url=args.platform_url,
        actor_id=args.actor_id,
        envelope=args.envelope,
        gradebook_fork_fields=args.gradebook_fork_fields,
    )


def _announce(base_url: str, state: SimulatorState) -> None:
    summary = state.data.summary()
    print(f"Open edX simulator: {base_url}")
    print(f"xAPI LRS:           {base_url}/xAPI")
    print(
        f"seed {summary['seed']}, today {summary['today']}, {summary['users']} users, "
        f"{summary['statements']} statements"
    )
    for course in summary["courses"]:  # type: ignore[union-attr]
        print(
            f"  {course['course_id']:<48} {course['phase']:<8} "
            f"{course['start'][:10]} → {course['end'][:10]}  {course['enrollments']} enrolled"
            + (f"  (announced {course['announced'][:10]})" if course["announced"] else "")
        )
    if state.config.faults.spec:
        print(f"faults: {state.config.faults.spec}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (FaultSpecError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(config, on_ready=_announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
