"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

This is the one place where exceptions become HTTP responses. Bodies carry ``type``, ``title``,
``status``, ``detail``, ``instance`` (the request path) and ``request_id``; validation problems add
``errors`` with the field path (``loc``), a JSON pointer into the body and the reason. A stack
trace never leaves the process: unexpected errors are logged with the request id and answered
with a generic 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth._logging import get_logger
from berth.errors import BerthError, DataContractError, InsufficientHistoryError, ModelNotReadyError

PROBLEM_JSON: Final = "application/problem+json"
PROBLEM_BASE: Final = "urn:berth:problem:"

log = get_logger(__name__)

_TYPE_BY_STATUS: Final = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    500: "internal-error",
    503: "unavailable",
    504: "timeout",
}


class ModelLoadError(ModelNotReadyError):
    """Loading a model failed; whatever was serving before keeps serving."""


class ProblemError(Exception):
    """An error a route or dependency wants to answer with a specific problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_type(status: int, kind: str | None = None) -> str:
    """The problem ``type`` URI for a status (or a more specific ``kind``)."""
    slug = kind or _TYPE_BY_STATUS.get(status)
    return PROBLEM_BASE + slug if slug else "about:blank"


def problem_body(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    kind: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a problem-details document."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": problem_type(status, kind),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    kind: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    """A ``application/problem+json`` response."""
    body = problem_body(
        status, detail, instance=instance, request_id=request_id, kind=kind, errors=errors, extra=extra
    )
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def validation_issues(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error dicts → ``{loc, pointer, msg, type}`` without echoing the input."""
    issues = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        in_body = bool(loc) and loc[0] == "body"
        issue = {
            "loc": loc,
            "pointer": "/" + "/".join(str(p) for p in loc[1:]) if in_body else None,
            "msg": str(error.get("msg", "invalid value")),
            "type": str(error.get("type", "value_error")),
        }
        issues.append(issue)
    return issues


def _summary(issues: Sequence[Mapping[str, Any]]) -> str:
    first = issues[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return f"{where}: {first['msg']}{more}"


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = validation_issues(exc.errors())
    detail = _summary(issues) if issues else "the request is not valid"
    return problem_response(
        422,
        detail,
        instance=request.url.path,
        request_id=_request_id(request),
        kind="validation-error",
        errors=issues,
    )


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(
        exc.status_code,
        detail,
        instance=request.url.path,
        request_id=_request_id(request),
        headers=exc.headers,
    )


async def _on_api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        instance=request.url.path,
        request_id=_request_id(request),
        kind=exc.kind,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _on_berth_error(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    if isinstance(exc, ModelNotReadyError):
        status, kind, detail = 503, "model-not-ready", str(exc) or "no model is loaded"
    elif isinstance(exc, DataContractError | InsufficientHistoryError):
        status, kind, detail = 422, "data-contract", str(exc)
    else:
        log.error("berth error", request_id=request_id, error=repr(exc))
        status, kind, detail = 500, "internal-error", f"internal error; quote request id {request_id}"
    return problem_response(status, detail, instance=request.url.path, request_id=request_id, kind=kind)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    log.error("database error", request_id=request_id, error=type(exc).__name__)
    return problem_response(
        503,
        "the database is unavailable; try again later",
        instance=request.url.path,
        request_id=request_id,
        kind="database-unavailable",
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem-details handlers (unexpected errors are caught by the middleware)."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(ProblemError, _on_api_problem)
    app.add_exception_handler(BerthError, _on_berth_error)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem+json bodies for ``statuses``."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        status: {"description": HTTPStatus(status).phrase, "content": content} for status in sorted(statuses)
    }
