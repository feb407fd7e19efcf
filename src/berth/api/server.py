"""Limits enforced by the HTTP server before the application sees a request, and uvicorn's options.

uvicorn's httptools protocol (the fast one, chosen by default) puts no bound on a request's head:
a 50 MB header is buffered before the app, and so the API-key check, runs. Its h11 protocol does
bound it (``h11_max_incomplete_event_size``) but answers the overflow with a plain 400, and it
parses several times slower. :class:`HttpProtocol` keeps httptools and adds what is missing:

- a head (request line and headers) larger than ``max_header_bytes`` is answered
  ``431 Request Header Fields Too Large`` and the connection closed: checked as the head arrives
  (so at most one network read past the limit is buffered) and exactly once it is parsed;
- a head that has not fully arrived ``keep_alive_timeout_s`` after its first byte, or after the
  connection opened, is answered ``408 Request Timeout`` and closed (slow-header clients).

Both answers are plain text: the application, and so problem+json and the request id, is not
reached. The body's read time is limited in the application (:mod:`berth.api.middleware`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol

from berth.api.middleware import scrub_query
from berth.settings import Settings

HTTP_PROTOCOL: Final = "berth.api.server:HttpProtocol"
DEFAULT_MAX_HEADER_BYTES: Final = 64 * 1024


class HeadTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a head above the limit."""


class HttpProtocol(_HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded head size (431) and head read time (408).

    The limit is uvicorn's ``h11_max_incomplete_event_size`` (the same meaning for h11) and the
    time its ``timeout_keep_alive``: both travel to worker processes with uvicorn's own config.
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size
        self.max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES if limit is None else int(limit)
        self.head_timeout_s: float = float(config.timeout_keep_alive)
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_bytes = 0  # bytes read towards the current head (whole reads, see data_received)
        self._heads_begun = 0
        self._head_started = False  # a head's first byte arrived and its end did not
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head timer: a connection that never sends a request is closed too."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head timer with the connection."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser (as uvicorn does), answering 431 for a head over the limit."""
        self._unset_keepalive_if_required()
        begun = self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLargeError):
                self._refuse(431, "request header fields too large")
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        # A read that began a head may also hold the end of the previous request: it is not
        # counted, so a head can pass the limit by one read before this check (exact on completion).
        if self._in_head and self._heads_begun == begun and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                self._refuse(431, "request header fields too large")

    def on_message_begin(self) -> None:
        """A new request's head starts."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._heads_begun += 1
        self._head_started = True
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        """Check the parsed head's size, then start the request as uvicorn does."""
        self._in_head = False
        self._head_started = False
        self._cancel_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            raise HeadTooLargeError(size)
        super().on_headers_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_started:
            self._refuse(408, "request head not received in time")
        else:
            self.transport.close()  # nothing was sent: nothing to answer

    def _refuse(self, status: int, message: str) -> None:
        """A plain-text answer and a closed connection, before any application code."""
        self._cancel_head_timer()
        self.logger.warning("refused a request: %s (%d)", message, status)
        body = message.encode("ascii")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


class QuerySecretFilter(logging.Filter):
    """Redacts credential-like query parameters (``?api_key=...``) from uvicorn's access log lines.

    Such requests are refused (400), but the access log writes the request line first; the key
    must not land in log storage all the same.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path argument; never drops a record."""
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(scrub_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and "?" in record.msg and not record.args:
            record.msg = scrub_query(record.msg)
        return True


def install_access_log_filter(logger_name: str = "uvicorn.access") -> None:
    """Attach :class:`QuerySecretFilter` to uvicorn's access logger once (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, QuerySecretFilter) for f in logger.filters):
        logger.addFilter(QuerySecretFilter())


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The limits of ``settings`` as keyword arguments of ``uvicorn.run`` / ``uvicorn.Config``."""
    return {
        "http": HTTP_PROTOCOL,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
    }
