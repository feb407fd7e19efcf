"""Dependencies of the routes: the app's services, the serving model and API-key auth with scopes.

Scopes are independent: ``score`` reads and writes customer data (scores, customers, feedback,
model info); ``admin`` operates the service (reload). ``admin`` does *not* imply ``score`` — an
operations key that can reload the model has no business reading customer scores. Give a key
both scopes when one caller needs both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from berth.api.errors import ProblemError
from berth.api.holder import LoadedModel, ModelHolder
from berth.api.metrics import Metrics
from berth.api.prediction_log import PredictionLogWriter
from berth.recommend.playbook import Playbook
from berth.settings import Settings
from berth.store import API_SCOPES, ApiKeyRecord, Store, hash_api_key

API_KEY_HEADER: Final = "X-API-Key"
_CACHE_MAX: Final = 10_000

api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from `berth apikey create`; scopes `score`, `events` and/or `admin`.",
)


class ApiKeyAuthenticator:
    """Verifies keys against the store, trusting a verified key for ``ttl_s`` seconds.

    The cache keeps the auth check off the database on the hot path. It is keyed by the key's
    SHA-256, never the key itself. Revocation from another process (``berth apikey revoke``)
    takes effect within ``ttl_s``; unknown keys are never cached, so new keys work at once.
    """

    def __init__(self, store: Store, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[ApiKeyRecord, float]] = {}
        self._lock = threading.Lock()

    async def authenticate(self, plaintext: str) -> ApiKeyRecord | None:
        """The active key matching ``plaintext``, or None."""
        digest = hash_api_key(plaintext)
        hit = self._cache.get(digest)
        now = self._clock()
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await run_in_threadpool(self._store.verify_api_key, plaintext)
        with self._lock:
            if record is None:
                self._cache.pop(digest, None)
            elif self._ttl_s > 0:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[digest] = (record, now + self._ttl_s)
        return record


@dataclass
class Services:
    """Everything the routes need, built in the app's lifespan."""

    settings: Settings
    store: Store
    holder: ModelHolder
    writer: PredictionLogWriter
    authenticator: ApiKeyAuthenticator
    metrics: Metrics
    playbook: Playbook | None = None  # recommendations beside scores (None: not configured)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key id and its scopes."""

    key_id: str
    scopes: frozenset[str]


async def get_services(request: Request) -> Services:
    """The services of the app serving this request (async: a sync dependency costs a thread hop)."""
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ProblemError(503, "the service is starting", kind="unavailable")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_model(services: ServicesDep) -> LoadedModel:
    """A snapshot of the serving model (kept for the whole request, whatever reloads happen)."""
    return services.holder.require()


ModelDep = Annotated[LoadedModel, Depends(get_model)]

_DEV_CALLER = Caller("development", frozenset(API_SCOPES))


async def _authorize(request: Request, services: Services, api_key: str | None, scope: str) -> Caller:
    """The caller behind ``api_key`` if its key holds ``scope``: 401 without a valid key, 403 without it."""
    if services.settings.auth_disabled:
        return _DEV_CALLER
    challenge = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}
    if not api_key:
        raise ProblemError(401, f"missing {API_KEY_HEADER} header", kind="unauthorized", headers=challenge)
    record = await services.authenticator.authenticate(api_key)
    if record is None:
        raise ProblemError(401, "unknown or revoked API key", kind="unauthorized", headers=challenge)
    if scope not in record.scopes:
        raise ProblemError(403, f"this API key lacks the '{scope}' scope", kind="forbidden")
    request.state.api_key_id = record.key_id
    return Caller(record.key_id, record.scopes)


def require_scope(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting callers whose key holds ``scope`` (401 without a valid key, 403 without it)."""
    if scope not in API_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(
        request: Request, services: ServicesDep, api_key: Annotated[str | None, Security(api_key_scheme)]
    ) -> Caller:
        return await _authorize(request, services, api_key, scope)

    return check


@dataclass(frozen=True)
class ScoringContext:
    """What ``POST /v1/scores`` needs: the services, a caller with the ``score`` scope, the model."""

    services: Services
    caller: Caller
    model: LoadedModel


async def get_scoring_context(
    request: Request, api_key: Annotated[str | None, Security(api_key_scheme)]
) -> ScoringContext:
    """Services, ``score`` auth and the model snapshot in one dependency, checked in the order the
    separate dependencies would be (503 starting, 401/403, 503 no model): FastAPI's resolution of
    each dependency costs tens of microseconds, a share of the hot route worth saving."""
    services = await get_services(request)
    caller = await _authorize(request, services, api_key, "score")
    return ScoringContext(services, caller, services.holder.require())


ScoreCaller = Annotated[Caller, Depends(require_scope("score"))]
ScoringContextDep = Annotated[ScoringContext, Depends(get_scoring_context)]
AdminCaller = Annotated[Caller, Depends(require_scope("admin"))]
# Writing history changes later scores (by id): a scope of its own, not every scoring key's right.
EventsCaller = Annotated[Caller, Depends(require_scope("events"))]
