"""A NATS micro service whose endpoints run concurrently, share load in a queue group, drain cleanly.

nats-py hands a subscription's messages to its callback one at a time, so each request is spawned as
its own task: a settle waiting for a confirmation must not hold up the next verify. The task is made
from the connection's read loop (`reply_mux.Handover`), not from the subscription's queue and task:
one loop turn less per request. It runs micro's own request handling, which keeps the endpoint's
statistics ($SRV.STATS).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Endpoint, Service
from opentelemetry.trace import SpanKind

from x402fac.telemetry import HANDLER_LATENCY, labelled, server_span, tracer

from .reply_mux import Handover
from .rpc import ERROR_HEADER

Handler = Callable[[bytes, Mapping[str, str]], Awaitable[bytes]]
log = logging.getLogger(__name__)


class ServiceRunner:
    def __init__(self, nc: Client, name: str, version: str, queue_group: str) -> None:
        self.nc = nc
        self.name = name
        self.version = version
        self.queue_group = queue_group
        self._service: Service | None = None
        self._inflight: set[asyncio.Task] = set()
        self._tracer = tracer(f"x402fac.{name}")

    @property
    def inflight(self) -> int:
        """Requests being handled now."""
        return len(self._inflight)

    async def start(self, endpoints: Mapping[str, tuple[str, Handler]]) -> None:
        """`endpoints`: endpoint name -> (subject, handler)."""
        self._service = await add_service(
            self.nc, name=self.name, version=self.version, queue_group=self.queue_group
        )
        for endpoint, (subject, handler) in endpoints.items():
            await self._service.add_endpoint(
                name=endpoint, subject=subject, handler=self._server(endpoint, handler)
            )
            self._hand_over(self._service._endpoints[-1])
        # Started means the server routes requests here (no "no responders"). nats-py writes a flush's
        # PING ahead of commands still buffered, so the first PONG may come before the server saw the
        # subscriptions; the second PING is written after them.
        await self.nc.flush()
        await self.nc.flush()

    def _hand_over(self, endpoint: Endpoint) -> None:
        """Each request of `endpoint` goes from the read loop to a task of its own."""

        def spawn(msg: Msg) -> None:
            task = asyncio.create_task(endpoint._handle_request(msg))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        assert endpoint._subscription is not None
        endpoint._subscription._future = Handover(spawn)  # type: ignore[assignment]

    async def _drain_endpoints(self, timeout: float = 5.0) -> None:
        """The server stops routing requests here, and those it already sent are served.

        nats-py's micro `Service.stop` unsubscribes its endpoints at once, which drops the requests
        already on their way or queued here (their callers would wait out their timeout, not knowing
        whether anything was done), so the endpoints are drained first and left out of it. Not by
        `Subscription.drain` either: it writes its PING ahead of its UNSUB (still buffered), so the
        PONG can come before the server saw the UNSUB, and the requests routed here in between
        arrived after the subscription was gone."""
        assert self._service is not None
        endpoints, self._service._endpoints = self._service._endpoints, []
        subscriptions = [e._subscription for e in endpoints if e._subscription is not None]
        try:
            await asyncio.wait_for(self._unsubscribed(subscriptions), timeout)
        except Exception as exc:  # NATS away meanwhile: nothing more can arrive anyway
            log.warning("%s: endpoint drain: %r", self.name, exc)
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _unsubscribed(self, subscriptions: list[Subscription]) -> None:
        """Until the server routes nothing more to `subscriptions` and what it routed to them before
        has arrived (and was handed over: `_hand_over` does it in the read loop)."""
        for subscription in subscriptions:
            await self.nc._send_unsubscribe(subscription._id)
        await self.nc._flush_pending(force_flush=True)  # the UNSUBs are written...
        await self.nc.flush()  # ...then a PING, whose PONG the server sends after them

    def _server(self, endpoint: str, handler: Handler) -> Callable[[Request], Awaitable[None]]:
        async def serve(request: Request) -> None:
            await self._serve(endpoint, handler, request)

        return serve

    async def _serve(self, endpoint: str, handler: Handler, request: Request) -> None:
        started = time.perf_counter()
        headers = request.headers or {}
        with server_span(self._tracer, f"{self.name}.{endpoint}", headers, SpanKind.INTERNAL):
            try:
                reply = await handler(request.data, headers)
            except Exception as exc:
                log.exception("%s.%s failed", self.name, endpoint)
                await request.respond(
                    f"{type(exc).__name__}".encode(), headers={ERROR_HEADER: "internal_error"}
                )
                return
            finally:
                labelled(HANDLER_LATENCY, f"{self.name}.{endpoint}").observe(time.perf_counter() - started)
        await request.respond(reply)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking requests, then let the ones in flight finish (settles must not be cut off)."""
        if self._service is not None:
            await self._drain_endpoints()
            await self._service.stop()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)
