"""Fixtures of the API tests: an in-process app on a temporary SQLite database and a fake scorer."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from berth.api.app import create_app
from berth.api.deps import Services
from berth.scoring import Scorer
from berth.settings import Settings
from berth.store import upgrade

from .fakes import FakeScorer
from .payloads import batch


@dataclass
class Api:
    """A running app, its client and keys with each scope combination."""

    app: FastAPI
    client: TestClient
    score_key: str
    admin_key: str
    all_key: str

    @property
    def services(self) -> Services:
        """The app's services (store, holder, writer, ...)."""
        services: Services = self.app.state.services
        return services

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Auth headers (the score key by default)."""
        return {"X-API-Key": key or self.score_key}

    def score(self, body: Any = None, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """POST /v1/scores."""
        headers = {**self.headers(key), **kwargs.pop("headers", {})}
        return self.client.post(
            "/v1/scores", json=batch() if body is None else body, headers=headers, **kwargs
        )


MakeApi = Callable[..., Api]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database file, copied by each test (migrating takes most of a second)."""
    path = tmp_path_factory.mktemp("template") / "berth.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A fresh, migrated SQLite database per test."""
    path = tmp_path / "berth.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_api(db_url: str) -> Iterator[MakeApi]:
    """Build and start apps (closed at the end of the test): ``make_api(scorer=..., **settings)``."""
    stack = ExitStack()

    def make(
        *,
        scorer: Scorer | None = None,
        loader: Callable[[], Scorer] | None = None,
        raise_server_exceptions: bool = True,
        **overrides: Any,
    ) -> Api:
        settings = Settings(**{"database_url": db_url, **overrides})
        fixed = scorer if scorer is not None else FakeScorer()
        app = create_app(settings, loader if loader is not None else lambda: fixed)
        client = stack.enter_context(TestClient(app, raise_server_exceptions=raise_server_exceptions))
        store = app.state.services.store
        _, score_key = store.create_api_key(["score"], "crm")
        _, admin_key = store.create_api_key(["admin"], "ops")
        _, all_key = store.create_api_key(["score", "admin"], "both")
        return Api(app, client, score_key, admin_key, all_key)

    with stack:
        yield make


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """The default app: auth on, fake scorer version 1."""
    return make_api()


def assert_problem(response: httpx.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    """Check the RFC 9457 shape of an error response and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:berth:problem:") or body["type"] == "about:blank"
    if kind is not None:
        assert body["type"] == f"urn:berth:problem:{kind}"
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body
