"""PostgreSQL test databases: a throw-away schema on the server named by BERTH_TEST_DATABASE_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV = "BERTH_TEST_DATABASE_URL"
SKIP_REASON = (
    f"PostgreSQL tests are skipped: set {ENV} to run them, "
    "e.g. BERTH_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_base_url() -> str:
    """The server to test against, or skip the test with instructions."""
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(SKIP_REASON)
    return url


@contextmanager
def temporary_schema(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped (with its tables) afterwards."""
    schema = f"berth_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
