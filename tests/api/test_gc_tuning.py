"""``berth serve`` tunes the garbage collector and the GIL's switch interval; embedders and tests
keep CPython's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from berth.api.app import SERVING_GC_THRESHOLDS, SERVING_SWITCH_INTERVAL_S

_PROBE = """
import gc, sys
from fastapi.testclient import TestClient
from berth.api.app import create_app
from berth.settings import Settings
from tests.api.fakes import FakeScorer

tune = sys.argv[1] == "tune"
defaults = gc.get_threshold()
app = create_app(Settings(database_url=sys.argv[2]), lambda: FakeScorer(), tune_runtime=tune)
with TestClient(app):
    print(
        gc.get_threshold() != defaults,
        str(gc.get_threshold()).replace(' ', ''),
        gc.get_freeze_count() > 0,
        sys.getswitchinterval(),
    )
"""


def _probe(mode: str, db_url: str) -> str:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, db_url], cwd=root, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]  # after any start-up log lines


def test_serving_process_tunes_the_collector_and_the_switch_interval(db_url: str) -> None:
    expected = str(SERVING_GC_THRESHOLDS).replace(" ", "")
    assert _probe("tune", db_url) == f"True {expected} True {SERVING_SWITCH_INTERVAL_S}"


def test_apps_built_without_tuning_leave_the_collector_alone(db_url: str) -> None:
    changed, _, frozen, interval = _probe("plain", db_url).split(" ")
    assert (changed, frozen, float(interval)) == ("False", "False", 0.005)
