"""The API end to end on PostgreSQL (needs BERTH_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from berth.store import upgrade
from store.pg import postgres_base_url, temporary_schema

from .conftest import MakeApi
from .payloads import batch

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url() -> Iterator[str]:
    """A throw-away PostgreSQL schema instead of the SQLite file."""
    with temporary_schema(postgres_base_url()) as url:
        upgrade(url)
        yield url


def test_scoring_logs_predictions_on_postgres(make_api: MakeApi) -> None:
    api = make_api()
    for n in (1, 4):
        assert api.score(batch(n)).status_code == 200
    assert api.services.writer.flush(timeout=10)
    assert api.services.store.count_predictions() == 5
    assert api.client.get("/readyz").status_code == 200
    created = api.client.post(
        "/v1/feedback",
        json={"customer_id": "C-0", "action": "call", "taken_at": "2025-07-01T00:00:00Z"},
        headers=api.headers(),
    )
    assert created.status_code == 201
    assert api.client.get("/v1/customers/C-0/score", headers=api.headers()).status_code == 404
