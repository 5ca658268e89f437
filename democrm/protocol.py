"""The reference CRM's HTTP protocol: uvicorn's httptools protocol with bounds on slow and idle clients.

uvicorn bounds a connection only between requests (its keep-alive timer, restarted by every byte
received), so a client that opens a connection and sends nothing, or sends a request head one byte
at a time, holds the connection and its memory for ever; and its httptools parser takes request
heads of any size. Choice made: a subclass of uvicorn's own protocol (kept as the parser and event
loop the benchmarks measured) that adds three bounds, in the way nginx's ``client_header_timeout``
and ``large_client_header_buffers`` do:

- **idle**: a new connection gets the keep-alive timer at once (uvicorn arms it only after a first
  response), so a connection that never sends is closed after ``timeout_keep_alive``;
- **header timeout**: a request's head (request line and headers) must be complete within
  ``header_timeout_s`` of its first byte, else ``408`` and the connection is closed;
- **header size**: a head over ``MAX_HEAD_BYTES`` gets ``431`` and the connection is closed.

The body has its own bounds in the application (:func:`crmload.democrm.http.read_body`: a size
limit counted while it arrives, and a time limit). Another ASGI server (hypercorn, granian) was
not chosen: it would change the server the reference CRM's figures were measured on.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 64 * 1024


def _answer(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".encode("ascii")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with an idle timer from the start, a header timeout and a head size limit."""

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_head_bytes: int = MAX_HEAD_BYTES

    _header_timer: asyncio.TimerHandle | None = None
    _head_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    # the parser hands the head over in pieces: their sizes are counted as they come
    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(_answer(status, reason))
            self.transport.close()


def bounded_protocol(header_timeout_s: float = HEADER_TIMEOUT_S) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with its own header timeout (tests use a short one)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"header_timeout_s": header_timeout_s})
