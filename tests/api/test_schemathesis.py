"""Property-based conformance: generated requests never cause a 5xx and responses match the schema.

The schema comes from ``app.openapi()`` (pure: no lifespan, no database at import). The requests go
to a second app on a temporary database, whose lifespan schemathesis's ASGI client runs itself.
schemathesis's lazy ``from_fixture`` loader is not used: it breaks on pytest 9 (``node._nodeid``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import checks

from berth.api.app import create_app
from berth.settings import Settings
from berth.store import Store, upgrade

from .fakes import FakeScorer

schema = schemathesis.openapi.from_dict(create_app(Settings(database_url="sqlite://"), FakeScorer).openapi())

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def conformance_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[FastAPI, str]:
    """An app on its own database, with a key holding every scope."""
    path: Path = tmp_path_factory.mktemp("schemathesis") / "berth.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = Store(url)
    _, key = store.create_api_key(["score", "events", "admin"], "schemathesis")
    store.dispose()
    return create_app(Settings(database_url=url, max_batch_size=25, request_timeout_s=10), FakeScorer), key


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case: Any, conformance_app: tuple[FastAPI, str]) -> None:
    app, key = conformance_app
    case.call_and_validate(app=app, headers={"X-API-Key": key}, checks=CHECKS)
