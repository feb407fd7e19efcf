"""API keys: 401 for missing, unknown and revoked keys, 403 for a missing scope; open endpoints."""

from __future__ import annotations

import pydantic
import pytest

from berth.api.deps import ApiKeyAuthenticator
from berth.settings import Settings

from .conftest import Api, MakeApi, assert_problem


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/scores"),
        ("get", "/v1/customers/C-1/score"),
        ("post", "/v1/feedback"),
        ("patch", "/v1/feedback/1"),
        ("get", "/v1/model"),
        ("post", "/v1/admin/reload"),
    ],
)
def test_missing_key_is_401_everywhere(api: Api, method: str, path: str) -> None:
    response = api.client.request(method, path, json={})
    problem = assert_problem(response, 401, "unauthorized")
    assert "X-API-Key" in problem["detail"]
    assert response.headers["www-authenticate"].startswith("ApiKey")


@pytest.mark.parametrize(
    "key",
    ["nonsense", "bk_000000000000.wrongsecret", "", "bk_" + "x" * 300, "bk_ü.ß".encode("latin-1")],
)
def test_unknown_or_malformed_key_is_401(api: Api, key: str | bytes) -> None:
    response = api.client.get("/v1/model", headers={"X-API-Key": key})
    assert_problem(response, 401, "unauthorized")


def test_right_id_wrong_secret_is_401(api: Api) -> None:
    key_id = api.score_key.split(".")[0]
    assert_problem(api.client.get("/v1/model", headers={"X-API-Key": key_id + ".guess"}), 401)


def test_revoked_key_is_401(make_api: MakeApi) -> None:
    api = make_api(api_key_cache_ttl_s=0)
    assert api.client.get("/v1/model", headers=api.headers()).status_code == 200
    assert api.services.store.revoke_api_key(api.score_key.split(".")[0])
    problem = assert_problem(api.client.get("/v1/model", headers=api.headers()), 401)
    assert "revoked" in problem["detail"]


def test_revocation_is_seen_after_the_cache_ttl() -> None:
    class Store:
        def __init__(self) -> None:
            self.active = True
            self.lookups = 0

        def verify_api_key(self, plaintext: str) -> object:
            self.lookups += 1
            return object() if self.active else None

    import anyio

    now = [0.0]
    store = Store()
    auth = ApiKeyAuthenticator(store, ttl_s=10, clock=lambda: now[0])  # type: ignore[arg-type]

    async def check() -> bool:
        return await auth.authenticate("bk_1.x") is not None

    assert anyio.run(check)
    store.active = False
    now[0] = 5.0
    assert anyio.run(check)  # still cached
    assert store.lookups == 1
    now[0] = 10.5
    assert not anyio.run(check)  # expired: looked up again, revoked
    assert store.lookups == 2


def test_admin_key_cannot_score_and_score_key_cannot_reload(api: Api) -> None:
    problem = assert_problem(api.score(key=api.admin_key), 403, "forbidden")
    assert "'score'" in problem["detail"]
    problem = assert_problem(api.client.post("/v1/admin/reload", headers=api.headers()), 403)
    assert "'admin'" in problem["detail"]
    assert api.score(key=api.all_key).status_code == 200
    assert api.client.post("/v1/admin/reload", headers=api.headers(api.all_key)).status_code == 200


def test_auth_comes_before_validation_and_batch_limits(make_api: MakeApi) -> None:
    api = make_api(max_batch_size=1)
    response = api.client.post("/v1/scores", json={"customers": [1, 2, 3], "junk": True})
    assert_problem(response, 401)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_operational_endpoints_need_no_key(api: Api, path: str) -> None:
    assert api.client.get(path).status_code == 200


def test_auth_can_be_disabled_in_development(make_api: MakeApi) -> None:
    api = make_api(environment="development", auth_disabled=True)
    assert api.client.post("/v1/scores", json=api_batch()).status_code == 200
    assert api.client.post("/v1/admin/reload").status_code == 200


def api_batch() -> dict[str, object]:
    from .payloads import batch

    return batch()


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_settings_refuse_disabled_auth_outside_development(environment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="auth_disabled"):
        Settings(environment=environment, auth_disabled=True)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="scorer_factory"):
        Settings(environment=environment, scorer_factory="x:y")  # type: ignore[arg-type]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("BERTH_ENVIRONMENT", "development")
    monkeypatch.setenv("BERTH_AUTH_DISABLED", "true")
    settings = Settings()
    assert settings.max_batch_size == 7
    assert settings.auth_disabled
    assert Settings.model_fields["database_url"].default == "sqlite:///berth.db"
