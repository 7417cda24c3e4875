"""JSON POSTs over pooled HTTP/1.1 keep-alive connections: what a node client needs and nothing more.

A request to a node is one write of a prepared head and body, and its answer is parsed by httptools
(sized, chunked or ended by the connection) as it arrives: a general-purpose client spent more CPU
on its own machinery than the verify that made the call. No redirects, compression, proxies or
cookies: none of them belongs between a facilitator and its node.
"""

import asyncio
import base64
import ssl
import time
from collections import deque
from urllib.parse import unquote, urlsplit

import httptools

# A pooled connection idle this long is closed rather than reused (a node may drop it meanwhile).
IDLE_SECONDS = 15.0
_ssl_context: ssl.SSLContext | None = None


class HttpFailure(Exception):
    """The exchange failed at transport level."""


class ConnectFailed(HttpFailure):
    """No connection could be made: the request never reached the node."""


class BadStatus(HttpFailure):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _tls() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.done: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.keep_alive = False
        self.headed = False  # the answer's head is read
        self.framed = False  # it says its length (sized or chunked); else it ends with the connection
        self.idle_since = 0.0

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpFailure(f"malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.done is not None and not self.done.done():
            if self.headed and not self.framed:  # an answer without a length ends with the connection
                self.done.set_result((self.parser.get_status_code(), b"".join(self.body)))
            else:
                self._fail(HttpFailure("the node closed the connection"))

    # ---- httptools callbacks ----

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headed = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # read now: the parser resets after this
        if self.done is not None and not self.done.done():
            self.done.set_result((self.parser.get_status_code(), b"".join(self.body)))

    # ----

    def _fail(self, exc: Exception) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.body, self.keep_alive, self.headed, self.framed = [], False, False, False
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.done

    def reusable(self) -> bool:
        return not self.closed and self.keep_alive


class HttpNode:
    """POSTs to one URL over a pool of keep-alive connections (at most `max_connections` at once)."""

    def __init__(self, url: str, max_connections: int = 64) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an RPC URL must be http:// or https:// with a host")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if parts.port is None else f"{host}:{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
        head += "Accept: application/json\r\n"
        if parts.username is not None:
            login = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            head += f"Authorization: Basic {base64.b64encode(login).decode()}\r\n"
        self._head = head.encode() + b"Content-Length: "
        self.max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, body: bytes, timeout: float) -> bytes:
        """The response body of a 2xx-4xx answer (429 aside); raises HttpFailure (ConnectFailed when
        nothing was sent) on anything else."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a pool is bound to the loop its connections live on
            self._loop, self._idle = loop, deque()
            self._slots = asyncio.Semaphore(self.max_connections)
        assert self._slots is not None
        request = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
        async with self._slots, asyncio.timeout(timeout):
            connection = self._take() or await self._open(loop)
            try:
                status, answer = await connection.exchange(request)
            except BaseException:
                connection.close()  # whatever the node does with it, its answer is not for the next request
                raise
            if connection.reusable():
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                connection.close()
        if status >= 500 or status == 429:
            raise BadStatus(status)
        return answer

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest still open
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self.host,
                self.port,
                ssl=_tls() if self.tls else None,
                server_hostname=self.host if self.tls else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(f"{type(exc).__name__}: cannot connect") from None
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
