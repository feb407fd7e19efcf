"""Locust load profile for the scoring API (used by tests/serving/test_load.py and by hand).

    BERTH_LOAD_KEY=... BERTH_LOAD_REQUESTS=requests.json \\
      uv run locust -f benchmarks/locustfile.py --headless -u 4 -r 4 -t 60s --host http://127.0.0.1:8000

``BERTH_LOAD_REQUESTS`` is a JSON list of ``POST /v1/scores`` bodies (see ``berth request``); each
simulated CRM user cycles through them with no think time. Loopback only.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from locust import FastHttpUser, task

_BODIES = json.loads(Path(os.environ["BERTH_LOAD_REQUESTS"]).read_text(encoding="utf-8"))
_HEADERS = {"X-API-Key": os.environ.get("BERTH_LOAD_KEY", ""), "Content-Type": "application/json"}


class CrmUser(FastHttpUser):
    """A CRM client scoring one customer at a time, as an account manager opens records."""

    def on_start(self) -> None:
        """Each user starts at a different request body."""
        self._bodies = itertools.cycle([json.dumps(b) for b in _BODIES])

    @task
    def score_one(self) -> None:
        """POST one customer's history."""
        self.client.post("/v1/scores", data=next(self._bodies), headers=_HEADERS, name="POST /v1/scores")
