"""Serving the gateway with uvicorn (uvloop + httptools), behind a connection guard.

uvicorn alone keeps a connection that never finishes its request headers (or its body) open forever
and accepts connections until the process runs out of file descriptors. The guard closes a connection
whose request is not fully received within `request_read_timeout` (slowloris, stalled bodies, a socket
that never sends), and holds open connections under a cap below the descriptor limit: at the cap, an
idle keep-alive connection is closed to make room, else the new one is answered 503 and closed.
Forwarded headers are never read by uvicorn: the app decides (app.client_ip, `trustProxy`).

A stopping gateway answers a connection it accepted whose request has not come in yet: the request gets
a moment to arrive and is answered with `connection: close` (uvicorn closes such a connection at once,
and the client, its request already on the way, loses it).
"""

import asyncio
import resource
import time
from email.utils import formatdate

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from x402fac.bus import Credentials
from x402fac.telemetry import freeze_startup
from x402fac.telemetry.metrics import GATEWAY_CONNECTIONS, GATEWAY_CONNECTIONS_CLOSED

from .app import create_app
from .config import GatewayConfig
from .direct import payment_routes

KEEP_ALIVE_SECONDS = 75
# Turns of the event loop between a stop and the listener's close: connections the kernel already
# accepted are taken (and their requests answered) rather than reset.
STOP_TURNS = 3
# On SIGTERM a settle in flight is answered by `settle_timeout` at the latest (the gateway's own wait);
# this much more lets its answer be written before the remaining connections are cut.
DRAIN_MARGIN_SECONDS = 5.0
# On stop: how long a connection accepted but still silent may take to send its request.
FIRST_REQUEST_GRACE_SECONDS = 2.0
# Descriptors kept free of HTTP connections: NATS, log files, the listening socket, accepts in flight.
RESERVED_DESCRIPTORS = 64
OVER_CAP = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: 88\r\n\r\n"
    b'{"error":"overloaded","message":"too many open connections; retry shortly","status":503}'
)


def connection_cap(configured: int) -> int:
    """`configured`, held below the process's descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - RESERVED_DESCRIPTORS))


class _CycleTransport:
    """The transport as a request's cycle sees it.

    - A close while the request body is still coming (an answer before the body was read: 413, 401,
      a refusal) waits until the body is in (read and dropped) or the read deadline passes. Closing
      with unread bytes in the socket sends a reset, and the client, still sending, loses the answer.
    - The status line and headers of an answer with a known length wait for its body: one socket
      write per answer instead of two (uvicorn writes them apart, and every write that wakes the
      client costs a syscall on both sides). An interim `100 Continue`, a HEAD answer (no body
      follows) and a chunked one are written as they come.
    """

    def __init__(self, transport: asyncio.Transport, protocol, cycle) -> None:
        self._transport = transport
        self._protocol = protocol
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if not self._head_seen and self._cycle.response_started:
            self._head_seen = True
            if not self._cycle.chunked_encoding and self._cycle.scope["method"] != "HEAD":
                self._head = data  # uvicorn writes the body next, even an empty one
                return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        if self._protocol._read_deadline is None:  # the request is all in
            self._transport.close()
        else:
            self._protocol._close_when_read = True

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def guarded_protocol(read_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    class GuardedProtocol(HttpToolsProtocol):
        _read_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            GATEWAY_CONNECTIONS.set(len(self.connections))
            if len(self.connections) > max_connections and not self._evict_idle():
                GATEWAY_CONNECTIONS_CLOSED.labels("over_cap").inc()
                transport.write(OVER_CAP)
                transport.close()
                return
            self._start_read_deadline()  # the first request's headers must come in time

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_read_deadline()
            super().connection_lost(exc)
            GATEWAY_CONNECTIONS.set(len(self.connections))

        _request_began = False

        def on_message_begin(self) -> None:
            self._request_began = True
            super().on_message_begin()
            if self._read_deadline is None:
                self._start_read_deadline()

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            if self.cycle is not None:
                self.cycle.transport = _CycleTransport(self.transport, self, self.cycle)
                if self._stopping:
                    self.cycle.keep_alive = False

        _stopping = False

        def shutdown(self) -> None:
            """The server stops: a connection whose first request has not come in yet is kept for it
            (bounded by the read deadline and a short grace); any other closes as uvicorn's does."""
            self._stopping = True
            if self.cycle is None and not self.transport.is_closing():
                self.loop.call_later(FIRST_REQUEST_GRACE_SECONDS, self._close_if_silent)
                return
            super().shutdown()

        def _close_if_silent(self) -> None:
            if self.cycle is None and not self._request_began and not self.transport.is_closing():
                self.transport.close()

        def on_message_complete(self) -> None:
            self._stop_read_deadline()
            super().on_message_complete()
            if self._close_when_read:
                self.transport.close()

        _close_when_read = False

        def _idle(self) -> bool:
            return self._read_deadline is None and (self.cycle is None or self.cycle.response_complete)

        def _evict_idle(self) -> bool:
            for other in self.connections:
                if other is not self and isinstance(other, GuardedProtocol) and other._idle():
                    GATEWAY_CONNECTIONS_CLOSED.labels("idle_evicted").inc()
                    other.transport.close()
                    return True
            return False

        def _start_read_deadline(self) -> None:
            self._read_deadline = self.loop.call_later(read_timeout, self._read_timed_out)

        def _stop_read_deadline(self) -> None:
            if self._read_deadline is not None:
                self._read_deadline.cancel()
                self._read_deadline = None

        def _read_timed_out(self) -> None:
            self._read_deadline = None
            if not self.transport.is_closing():
                GATEWAY_CONNECTIONS_CLOSED.labels("read_timeout").inc()
                self.transport.close()

    return GuardedProtocol


class LazyDateState(ServerState):
    """uvicorn's state shared by the connections, whose Date header is made when a response asks for
    it in a new second, instead of by a timer that wakes the process every second at idle."""

    def __init__(self) -> None:
        self._second = -1
        self._headers: list[tuple[bytes, bytes]] = []
        self._others: list[tuple[bytes, bytes]] = []
        self._dated = False
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        if self._dated and (second := int(time.time())) != self._second:
            self._second = second
            self._headers = [(b"date", formatdate(second, usegmt=True).encode()), *self._others]
        return self._headers

    @default_headers.setter
    def default_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        """What uvicorn sets: its Date header (if `date_header`), made here, and the configured ones."""
        self._dated = any(name == b"date" for name, _ in headers)
        self._others = [(name, value) for name, value in headers if name != b"date"]
        self._headers, self._second = list(self._others), -1


class Server(uvicorn.Server):
    """uvicorn's server, whose main loop sleeps until it should stop instead of waking ten times a
    second (at idle those wake-ups were most of a gateway's CPU): the Date header, which uvicorn's
    loop refreshed, is made when a response needs it (LazyDateState). uvicorn sets `should_exit` from
    a signal handler: the loop is woken through `call_soon_threadsafe`, which is safe there."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exiting = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(config)
        self.server_state = LazyDateState()

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._exiting

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exiting = value
        if value and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Tick 0 sets the default headers (and says whether to stop); nothing else needs a tick.
        while not await self.on_tick(0):
            await self._wake.wait()
            self._wake.clear()
        for _ in range(STOP_TURNS):
            await asyncio.sleep(0)


def server_config(config: GatewayConfig, app=None, nats_url: str | None = None) -> uvicorn.Config:
    """How the gateway is served (the CLI and the test stacks alike)."""
    return uvicorn.Config(
        payment_routes(app if app is not None else create_app(config, nats_url=nats_url)),
        host=config.host,
        port=config.port,
        http=guarded_protocol(config.request_read_timeout, connection_cap(config.max_connections)),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(config.settle_timeout, config.verify_timeout) + DRAIN_MARGIN_SECONDS,
        # Longer than the idle timeout of load balancers (60 s) and client pools: the client side
        # closes an idle connection first, so no request is sent down one the server just closed.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        proxy_headers=False,  # X-Forwarded-For is the app's to judge, never trusted from loopback
    )


async def serve(
    config: GatewayConfig,
    nats_url: str | None = None,
    stop: asyncio.Event | None = None,
    credentials: Credentials | None = None,
) -> None:
    """Serve until `stop`; NATS as `credentials` (default: the settings')."""
    app = create_app(config, nats_url=nats_url, credentials=credentials)
    server = Server(server_config(config, app=app))
    server.install_signal_handlers = lambda: None  # the CLI owns signals
    freeze_startup()  # the modules and the app: what a full collection need not walk again
    task = asyncio.create_task(server.serve())
    if stop is not None:
        await stop.wait()
        server.should_exit = True
    await task
