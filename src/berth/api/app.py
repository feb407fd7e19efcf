"""The FastAPI application: ``create_app`` for tests and embedding, ``create_app_from_env`` for uvicorn.

The model and the database are opened in the lifespan, never at import. A model that fails to
load at start-up does not stop the process: it starts unready (``/readyz`` answers 503, scoring
answers 503) until ``POST /v1/admin/reload`` succeeds.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.concurrency import run_in_threadpool

from berth._logging import get_logger
from berth.api import columnar
from berth.api.deps import ApiKeyAuthenticator, Services
from berth.api.errors import ModelLoadError, install_error_handlers
from berth.api.holder import LoadedModel, ModelHolder
from berth.api.metrics import Metrics
from berth.api.middleware import ServiceMiddleware
from berth.api.prediction_log import PredictionLogWriter
from berth.api.routes import admin, customers, events, feedback, health, model, scores
from berth.api.schemas import (
    EventsRequest,
    FeedbackCreate,
    FeedbackOutcome,
    Problem,
    ScoreByIdRequest,
    ScoreRequest,
)
from berth.api.server import install_access_log_filter
from berth.errors import ConfigError
from berth.recommend.playbook import Playbook, load_playbook
from berth.scoring import Scorer
from berth.settings import Settings
from berth.store import Store

ScorerLoader = Callable[[], Scorer]

log = get_logger(__name__)

API_VERSION = "1.0.0"
DOCS_STATIC_URL = "/docs/static"

# Bodies the routes parse themselves (berth.api.body); their schemas are added to the components.
_RAW_BODY_MODELS: tuple[type[BaseModel], ...] = (
    ScoreRequest,
    ScoreByIdRequest,
    EventsRequest,
    FeedbackCreate,
    FeedbackOutcome,
)


def resolve_scorer_loader(settings: Settings) -> ScorerLoader:
    """The loader for ``settings``: ``scorer_factory`` (development) or :func:`berth.registry.load_scorer`."""
    factory_path = settings.scorer_factory
    if factory_path is not None:
        module_name, _, attribute = factory_path.partition(":")
        if not module_name or not attribute:
            raise ConfigError(f"scorer_factory must be 'package.module:function', got {factory_path!r}")

        def load_from_factory() -> Scorer:
            factory: Callable[[Settings], Scorer] = getattr(importlib.import_module(module_name), attribute)
            return factory(settings)

        return load_from_factory

    def load_from_registry() -> Scorer:
        from berth.registry import load_scorer  # imported lazily: MLflow stays out of start-up

        return load_scorer(settings)

    return load_from_registry


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Generate the schema once, with the problem-details schemas every error response points to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            mode: JsonSchemaMode = "validation"
            documented: tuple[type[BaseModel], ...] = (Problem, *_RAW_BODY_MODELS)
            models = [(model, mode) for model in documented]
            _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


# Garbage-collector thresholds for the serving process (CPython's default first threshold is 700).
# Decoding a 1,000-customer request creates ~150k objects, which ran a dozen collections over
# everything the process holds and made decoding several times slower; request objects form no
# reference cycles, so collecting far less often costs no memory to speak of.
SERVING_GC_THRESHOLDS = (50_000, 20, 20)
# CPython's GIL switch interval (5 ms by default): how long a thread that wants the GIL waits
# before asking the holder to drop it. Every compiled step of a request (the scanner, the feature
# kernels, the tree walk) releases the GIL; when the prediction-log writer took it meanwhile,
# the event loop could wait up to 5 ms to get it back.
SERVING_SWITCH_INTERVAL_S = 0.0005


def _freeze_startup_objects() -> None:
    """Move modules, settings and the loaded model out of the collector's sight (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def _load_playbook(path: Path) -> Playbook | None:
    """The playbook at ``path`` (an invalid one stops the start-up), or None when there is none."""
    if not path.is_file():
        log.warning("no playbook: scores carry no recommendations", path=str(path))
        return None
    playbook = load_playbook(path)
    log.info("playbook loaded", path=str(path), actions=len(playbook.actions))
    return playbook


def create_app(
    settings: Settings | None = None, scorer_loader: ScorerLoader | None = None, *, tune_runtime: bool = False
) -> FastAPI:
    """Build the app; the model is loaded (with ``scorer_loader``) and the store opened at start-up.

    ``tune_runtime`` (``berth serve``) sets :data:`SERVING_GC_THRESHOLDS`, freezes what start-up
    created and shortens the GIL's switch interval (:data:`SERVING_SWITCH_INTERVAL_S`);
    process-wide, so tests and embedders keep the defaults.
    """
    settings = settings if settings is not None else Settings()
    loader = scorer_loader if scorer_loader is not None else resolve_scorer_loader(settings)
    metrics = Metrics()

    def on_swap(loaded: LoadedModel) -> None:
        metrics.set_model(loaded.info)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.database_url)
        if settings.auto_migrate:
            await run_in_threadpool(store.upgrade)
        holder = ModelHolder(loader, on_swap=on_swap)
        await run_in_threadpool(columnar.warm_up)  # compiled (or read from numba's cache) before requests
        try:
            await run_in_threadpool(holder.load)
        except ModelLoadError as exc:
            log.error("starting without a model; POST /v1/admin/reload once it is fixed", reason=str(exc))
        durable = settings.prediction_log_mode == "durable"
        writer = PredictionLogWriter(
            store,
            max_pending=settings.prediction_log_queue,
            on_drop=metrics.prediction_log_dropped.inc,
            # durable: responses wait for the commit, so the writer neither lingers nor defers
            linger_s=0.0 if durable else 0.05,
            defer_s=0.0 if durable else 0.5,
            max_backlog_rows=settings.prediction_log_max_rows,
            max_backlog_bytes=settings.prediction_log_max_bytes,
        )
        writer.start()
        app.state.services = Services(
            settings=settings,
            store=store,
            holder=holder,
            writer=writer,
            authenticator=ApiKeyAuthenticator(store, settings.api_key_cache_ttl_s),
            metrics=metrics,
            playbook=_load_playbook(settings.playbook_path),
        )
        if settings.auth_disabled:
            log.warning("API-key authentication is DISABLED (development)")
        if tune_runtime:
            gc.set_threshold(*SERVING_GC_THRESHOLDS)
            _freeze_startup_objects()
            sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)
        try:
            yield
        finally:
            await run_in_threadpool(writer.close)
            store.dispose()
            app.state.services = None

    # Swagger UI and ReDoc from the files fastapi-offline ships: the pages work on hosts without
    # internet access (no CDN) and reference no other host.
    app = FastAPIOffline(
        title="Berth scoring API",
        version=API_VERSION,
        description="Churn and loyalty scores for port and freight customers. Errors are RFC 9457 problems.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=DOCS_STATIC_URL,
        swagger_ui_parameters={"validatorUrl": None},  # no call to the online spec validator
    )
    install_error_handlers(app)
    routers = [module.router for module in (scores, customers, events, feedback, model, admin, health)]
    # The routers' own routes (full paths: the prefix is applied when a route is added), for the
    # middleware's metrics of requests it refuses before routing.
    routes = [route for router in routers for route in router.routes]
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        routes=routes,
    )
    for router in routers:
        app.include_router(router)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """The uvicorn factory of ``berth serve``: settings from ``BERTH_*`` environment variables."""
    settings = Settings()
    install_access_log_filter()  # uvicorn configured its loggers before loading the app
    return create_app(settings, resolve_scorer_loader(settings), tune_runtime=True)
