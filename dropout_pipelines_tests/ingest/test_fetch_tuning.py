"""The process settings a fetch changes (garbage collector, GIL switch interval) are put
back after it, also when it fails."""

from __future__ import annotations

import gc
import sys

import pytest

from dropout_pipelines.ingest.fetch import FETCH_SWITCH_INTERVAL_S, tuned_for_fetching


def test_settings_are_restored_after_a_failed_fetch():
    before = sys.getswitchinterval()
    assert gc.isenabled() and before > FETCH_SWITCH_INTERVAL_S
    with pytest.raises(RuntimeError, match="page 3"), tuned_for_fetching():
        assert not gc.isenabled()
        assert sys.getswitchinterval() == pytest.approx(FETCH_SWITCH_INTERVAL_S)
        raise RuntimeError("page 3 was malformed")
    assert gc.isenabled() and sys.getswitchinterval() == before


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with tuned_for_fetching():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
