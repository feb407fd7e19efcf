"""One pure-ASGI middleware for every request: request id, size, time and media-type guards,
credentials in the query string refused, metrics, client disconnects told apart from errors, and
the last-resort 500 problem (so no stack trace ever reaches a client).

Pure ASGI rather than ``BaseHTTPMiddleware``: it adds a few microseconds, not a task per request.
"""

from __future__ import annotations

import asyncio
import re
import time
import traceback
import uuid
from collections.abc import Sequence
from typing import Final
from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth._logging import get_logger
from berth.api.errors import problem_response
from berth.api.metrics import UNMATCHED_ROUTE, Metrics

REQUEST_ID_HEADER: Final = "X-Request-ID"
_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
# Query parameters that look like credentials (compared lower-case, after percent-decoding): a
# request carrying one is refused, and the access log shows it as [redacted].
SECRET_QUERY_NAMES: Final = frozenset(
    {
        "api_key", "apikey", "api-key", "x-api-key", "x_api_key", "key", "token", "access_token",
        "auth", "authorization", "secret", "password",
    }
)  # fmt: skip
REDACTED: Final = "[redacted]"
_VALUE_END = re.compile(r'[^\s"]*')
# What metrics count a request under when its client went away before the answer (nginx's code).
CLIENT_CLOSED_REQUEST: Final = 499

log = get_logger(__name__)


class BodyTooLargeError(HTTPException):
    """The streamed body passed the size limit (raised from ``receive``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


class BodyTimeoutError(HTTPException):
    """The body did not arrive within the time limit (raised from ``receive``); the connection closes."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"request body not received within {seconds:g} s", headers={"Connection": "close"}
        )


def secret_query_names(query_string: bytes) -> list[str]:
    """The credential-like parameter names in a raw query string (``SECRET_QUERY_NAMES``)."""
    found = []
    for part in query_string.split(b"&"):
        name = unquote_plus(part.split(b"=", 1)[0].decode("latin-1")).strip().lower()
        if name in SECRET_QUERY_NAMES:
            found.append(name)
    return found


def scrub_query(target: str) -> str:
    """``target`` (a path with its query) with the values of credential-like parameters redacted."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    parts = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote_plus(name).strip().lower() in SECRET_QUERY_NAMES:
            # the value ends at the first blank or quote (a whole log line may be passed)
            match = _VALUE_END.match(value)
            part = f"{name}={REDACTED}{value[match.end() if match else 0 :]}"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}"


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The matched route's path template (``/v1/customers/{customer_id}/score``), bounded cardinality.

    A request refused before routing (400, 413 or 415 from this middleware) has no route in its
    scope: it is matched against ``routes`` by path, so it counts under its endpoint too.
    """
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class ServiceMiddleware:
    """Request id, 400/408/413/415 guards, metrics, disconnects and the catch-all 500 for one app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        body_timeout_s: float = 30.0,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id: bytes | None = None
        content_length: bytes | None = None
        content_type: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value if _REQUEST_ID_OK.match(value) else None
            elif name == b"content-length":
                content_length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        # The server's id is unique per request (the prediction log's key, quoted in problems); the
        # caller's X-Request-ID is a correlation id, kept beside it and echoed, never trusted unique.
        client_request_id = request_id
        request_id = uuid.uuid4().hex.encode()
        rid = request_id.decode()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["client_request_id"] = client_request_id.decode() if client_request_id else None
        id_headers = [(b"x-request-id", request_id)]
        if client_request_id:
            id_headers.append((b"x-client-request-id", client_request_id))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), *id_headers]
            await send(message)

        limit = self.max_body_bytes
        received = 0
        # The body's deadline runs from the request's start; once the body is complete, receive
        # only waits for a disconnect, which must not time out.
        timeout_s = self.body_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout_s
        body_complete = False

        async def receive_with_limit() -> Message:
            nonlocal received, body_complete
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
                body_complete = not message.get("more_body", False)
            return message

        path = scope["path"]
        method = scope["method"]
        query_string: bytes = scope.get("query_string", b"")
        if query_string and (secrets := secret_query_names(query_string)):
            await problem_response(
                400,
                f"credentials are accepted only in the X-API-Key header, never in the query string "
                f"(parameter {secrets[0]!r}); the request was refused: treat that key as exposed",
                instance=path,
                request_id=rid,
                kind="credentials-in-query",
            )(scope, receive, send_with_id)
            self._observe(scope, method, status, started_at)
            return
        try:
            declared = int(content_length) if content_length is not None else None
            if declared is not None and declared < 0:
                raise ValueError
        except ValueError:
            await problem_response(400, "invalid Content-Length", instance=path, request_id=rid)(
                scope, receive, send_with_id
            )
            self._observe(scope, method, status, started_at)
            return
        try:
            if declared is not None and declared > limit:
                await problem_response(
                    413,
                    f"request body of {declared} bytes exceeds the limit of {limit} bytes",
                    instance=path,
                    request_id=rid,
                    extra={"limit": limit},
                )(scope, receive, send_with_id)
            elif (
                method in _BODY_METHODS
                and (chunked or (declared or 0) > 0)
                and (content_type is None or not _is_json(content_type))
            ):
                shown = content_type.decode("latin-1") if content_type is not None else "none"
                await problem_response(
                    415,
                    f"expected Content-Type application/json, got {shown}",
                    instance=path,
                    request_id=rid,
                    headers={"Accept": "application/json"},
                )(scope, receive, send_with_id)
            else:
                await self.app(scope, receive_with_limit, send_with_id)
        except BodyTooLargeError as exc:
            if response_started:
                raise
            await problem_response(
                413, str(exc.detail), instance=path, request_id=rid, extra={"limit": limit}
            )(scope, receive, send_with_id)
        except BodyTimeoutError as exc:
            if response_started:
                raise
            await problem_response(408, str(exc.detail), instance=path, request_id=rid, headers=exc.headers)(
                scope, receive, send_with_id
            )
        except ClientDisconnect:
            # Not an error of ours: no traceback, and counted apart from the 5xx that alert someone.
            log.info("client disconnected before the response", request_id=rid, method=method, path=path)
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
        except Exception as exc:
            # format_exc, not log.exception: the rich traceback renderer takes seconds per error
            log.error(
                "unhandled error",
                request_id=rid,
                method=method,
                path=path,
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            if response_started:
                raise
            await problem_response(
                500, f"internal error; quote request id {rid}", instance=path, request_id=rid
            )(scope, receive, send_with_id)
        finally:
            self._observe(scope, method, status, started_at)

    def _observe(self, scope: Scope, method: str, status: int, started_at: float) -> None:
        self.metrics.observe_request(
            method, route_template(scope, self.routes), status, time.perf_counter() - started_at
        )
