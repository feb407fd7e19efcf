"""Limits before work: head size (431), head and body read time (408), disconnects, keys in URLs.

The server-level limits are checked against a real uvicorn server (in a thread, on a loopback
port) started with ``berth.api.server.uvicorn_options``, over raw sockets; the application-level
ones also in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from structlog.testing import capture_logs

from berth.api.app import create_app
from berth.api.middleware import secret_query_names
from berth.api.server import QuerySecretFilter, install_access_log_filter, uvicorn_options
from berth.settings import Settings
from berth.store import Store

from .conftest import Api, MakeApi, assert_problem
from .fakes import FakeScorer

# -- a real server -------------------------------------------------------------------------------


@dataclass
class Served:
    """A uvicorn server in a thread, its port, an API key and the access-log lines it wrote."""

    port: int
    key: str
    access_lines: list[str]

    def exchange(self, data: bytes, *, wait_s: float = 5.0) -> bytes:
        """Send ``data`` on a new connection and read until the server closes it (or ``wait_s``)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait_s) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(data)  # the server may close while we send: its answer is still readable
            return _read_until_closed(sock)


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


LIMITS: dict[str, Any] = {"max_header_bytes": 8192, "body_timeout_s": 0.5, "keep_alive_timeout_s": 1}


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    """``create_app`` with tight limits behind uvicorn, configured as ``berth serve`` configures it."""
    store = Store(db_url)
    _, key = store.create_api_key(["score"], "limits")
    store.dispose()
    settings = Settings(database_url=db_url, **LIMITS)
    app = create_app(settings, FakeScorer)
    lines: list[str] = []
    access = logging.getLogger("uvicorn.access")
    handler = _ListHandler(lines)
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    install_access_log_filter()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, lifespan="on", **uvicorn_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120  # a first run compiles the scanner
        while not server.started:
            assert thread.is_alive(), "server stopped"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield Served(sock.getsockname()[1], key, lines)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        access.removeHandler(handler)
        access.setLevel(level)
        for f in [f for f in access.filters if isinstance(f, QuerySecretFilter)]:
            access.removeFilter(f)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_an_oversized_head_is_431_before_the_app(served: Served) -> None:
    huge = b"x" * 20_000
    response = served.exchange(b"GET /v1/model HTTP/1.1\r\nHost: t\r\nX-API-Key: " + huge + b"\r\n\r\n")
    assert _status(response) == 431
    assert b"x-request-id" not in response.lower()  # refused by the server, not the app
    assert b"connection: close" in response.lower()


def test_a_head_streamed_past_the_limit_is_refused_before_it_ends(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/model HTTP/1.1\r\nHost: t\r\nX-Padding: ")
        sent, refused = 0, False
        while sent < 1_000_000:  # the head never ends; the server must not wait for it
            try:
                sock.sendall(b"y" * 4096)
            except (BrokenPipeError, ConnectionResetError):
                refused = True
                break
            sent += 4096
            time.sleep(0.001)
        response = _read_until_closed(sock)
    assert refused or _status(response) == 431
    assert sent < 200_000


def test_a_head_at_the_limit_is_served(served: Served) -> None:
    padding = b"p" * 6000
    response = served.exchange(
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: " + padding + b"\r\nConnection: close\r\n\r\n"
    )
    assert _status(response) == 200


def test_a_stalled_body_is_answered_408_and_closed_in_time(served: Served) -> None:
    head = (
        b"POST /v1/scores HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + served.key.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    response = served.exchange(head + b'{"as_of": "2025-0')
    elapsed = time.monotonic() - started
    assert _status(response) == 408
    assert b"application/problem+json" in response
    assert b"connection: close" in response.lower()
    assert elapsed < LIMITS["body_timeout_s"] + 2.0


def test_a_slow_head_is_answered_408(served: Served) -> None:
    started = time.monotonic()
    response = served.exchange(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # never finishes its head
    assert _status(response) == 408
    assert time.monotonic() - started < LIMITS["keep_alive_timeout_s"] + 2.0


def test_an_idle_connection_is_closed(served: Served) -> None:
    started = time.monotonic()
    assert served.exchange(b"") == b""
    assert time.monotonic() - started < LIMITS["keep_alive_timeout_s"] + 2.0


def test_a_disconnecting_client_is_no_500(served: Served) -> None:
    head = (
        b"POST /v1/scores HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + served.key.encode() + b"\r\nContent-Length: 5000\r\n\r\n"
    )
    with capture_logs() as logs:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(head + b'{"as_of": ')
            time.sleep(0.1)
        deadline = time.monotonic() + 5
        while not any(e["event"].startswith("client disconnected") for e in logs):
            assert time.monotonic() < deadline, logs
            time.sleep(0.02)
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    metrics = served.exchange(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert b'route="/v1/scores",status="499"} 1.0' in metrics
    assert b'status="500"' not in metrics


def test_a_key_in_the_query_string_is_refused_and_not_logged(served: Served) -> None:
    secret = served.key
    response = served.exchange(
        f"GET /v1/model?api_key={secret}&x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    )
    assert _status(response) == 400
    assert secret.encode() not in response
    assert b"credentials-in-query" in response
    assert served.access_lines, "the access log is on"
    assert not [line for line in served.access_lines if secret in line]
    assert any("api_key=[redacted]&x=1" in line for line in served.access_lines)


# -- in-process ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["api_key=bk_1.s3cret", "KEY=bk_1.s3cret", "x=1&api%5Fkey=bk_1.s3cret"])
def test_credentials_in_the_query_string_are_refused(api: Api, query: str) -> None:
    response = api.client.get(f"/v1/model?{query}", headers=api.headers())
    problem = assert_problem(response, 400, "credentials-in-query")
    assert "s3cret" not in response.text
    assert "X-API-Key header" in problem["detail"]


def test_ordinary_query_parameters_pass(api: Api) -> None:
    assert api.client.get("/v1/model?keyword=1&monkey=2", headers=api.headers()).status_code == 200
    assert secret_query_names(b"keyword=1&monkey=2&=&a") == []
    assert secret_query_names(b"Token=a&api-key=b") == ["token", "api-key"]


def test_the_access_log_filter_redacts_uvicorn_lines() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/model?a=1&api_key=bk_1.s3cret&token=t0k", "1.1", 400),
        None,
    )
    assert QuerySecretFilter().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line
    assert "t0k" not in line
    assert '"GET /v1/model?a=1&api_key=[redacted]&token=[redacted] HTTP/1.1" 400' in line
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, 'GET /p?key=abc HTTP/1.1" 200', None, None)
    QuerySecretFilter().filter(plain)
    assert plain.getMessage() == 'GET /p?key=[redacted] HTTP/1.1" 200'


def _call(api: Api, scope: dict[str, Any], messages: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Run one ASGI call on the started app: ``None`` in ``messages`` means the client stalls."""
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            message = queue.pop(0) if queue else None
            if message is None:
                await asyncio.sleep(3600)
                raise AssertionError("unreachable")
            return message

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await api.app(scope, receive, send)

    api.client.portal.call(run)  # type: ignore[union-attr]
    return sent


def _post_scope(api: Api, length: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/scores",
        "raw_path": b"/v1/scores",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
            (b"x-api-key", api.score_key.encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def test_a_stalled_body_times_out_in_the_app(make_api: MakeApi) -> None:
    api = make_api(body_timeout_s=0.2)
    started = time.monotonic()
    sent = _call(
        api, _post_scope(api, 1000), [{"type": "http.request", "body": b"{", "more_body": True}, None]
    )
    assert time.monotonic() - started < 2.0
    start = sent[0]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]


def test_a_disconnect_is_logged_as_such_and_counted_as_499(make_api: MakeApi) -> None:
    api = make_api()
    with capture_logs() as logs:
        sent = _call(
            api,
            _post_scope(api, 1000),
            [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}],
        )
    assert sent == []  # nobody to answer
    events = [e for e in logs if e["event"].startswith("client disconnected")]
    assert events
    assert events[0]["log_level"] == "info"
    assert not [e for e in logs if e["log_level"] == "error"]
    metrics = api.client.get("/metrics").text
    assert 'berth_http_requests_total{method="POST",route="/v1/scores",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics


# -- offline docs --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_other_hosts(api: Api, page: str) -> None:
    import re

    response = api.client.get(page)
    assert response.status_code == 200
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]", response.text), response.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets
    for asset in assets:
        served = api.client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
