"""The LRS span of a first ingestion read as time windows at once: the windows cover the
span without gap or overlap, and the digest is the one a single sequential read gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dropout_pipelines.ingest.digest import LrsCursor
from dropout_pipelines.ingest.fetch import LRS_WINDOWS, fetch_course, lrs_windows
from dropout_pipelines_tests.ingest.conftest import ENDED_COURSE, RUNNING_COURSE

START = datetime(2026, 9, 1, 8, 0, 0)
NOW = datetime(2026, 11, 29, 9, 30, 15, 123456)


def test_a_first_ingestion_is_cut_into_contiguous_windows_open_at_both_ends():
    windows = lrs_windows(None, START, NOW)
    assert len(windows) == LRS_WINDOWS
    assert windows[0][0] is None  # statements stored before the course start are read too
    assert windows[-1][1] is None  # and those stored while the fetch runs
    for (_, until), (since, _) in zip(windows, windows[1:], strict=False):
        assert until == since and until.microsecond == 0  # (since, until]: no gap, no repeat
    bounds = [since for since, _ in windows[1:]]
    assert bounds == sorted(bounds) and START < bounds[0] and bounds[-1] < NOW


def test_a_daily_refresh_is_one_window_from_its_cursor():
    since = NOW - timedelta(days=1)
    assert lrs_windows(since, START, NOW) == [(since, None)]


def test_a_long_gap_since_the_cursor_is_windowed_from_the_cursor():
    since = NOW - timedelta(days=30)
    windows = lrs_windows(since, START, NOW)
    assert len(windows) == LRS_WINDOWS and windows[0][0] == since


def test_aware_and_naive_moments_mix_and_a_course_without_start_is_one_window():
    windows = lrs_windows(None, START, NOW.replace(tzinfo=UTC))
    assert len(windows) == LRS_WINDOWS
    assert lrs_windows(None, None, NOW) == [(None, None)]


def _digest_frames(bundle) -> dict[str, pd.DataFrame]:
    statements = bundle.statements
    frames = {
        "h5p": statements.h5p,
        "attempts": statements.attempts,
        "daily": statements.daily,
        "first_visits": statements.first_visits,
    }
    return {
        name: frame.sort_values(list(frame.columns)).reset_index(drop=True)
        for name, frame in frames.items()
    }


def test_windowed_read_digests_the_same_statements_as_one_sequential_read(
    openedx_simulator, make_openedx_client, make_lrs_client
):
    now = openedx_simulator.now.replace(tzinfo=None)
    for course_id in (RUNNING_COURSE, ENDED_COURSE):
        lrs_clients = []

        def lrs(lrs_clients=lrs_clients):
            client = make_lrs_client(openedx_simulator)
            lrs_clients.append(client)
            return client

        def openedx():
            return make_openedx_client(openedx_simulator)

        windowed = fetch_course(openedx, lrs, course_id, now, LrsCursor(), concurrent=True)
        sequential = fetch_course(openedx, lrs, course_id, now, LrsCursor(), concurrent=False)
        assert windowed.statements.new_statements == sequential.statements.new_statements > 0
        assert windowed.statements.cursor == sequential.statements.cursor
        for name, frame in _digest_frames(windowed).items():
            pd.testing.assert_frame_equal(frame, _digest_frames(sequential)[name], obj=name)
        window_stats = [v for k, v in windowed.stats.items() if k.startswith("lrs_window_")]
        assert len(window_stats) == LRS_WINDOWS - 1
        assert all(stats.requests > 0 for stats in window_stats)  # every window was read
