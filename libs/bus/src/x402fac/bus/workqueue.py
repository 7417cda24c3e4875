"""Work that must outlive the process doing it: requests on a JetStream work-queue stream.

A caller publishes a request to the stream with a reply subject in a header and waits there; a
queue consumer hands each request to one replica, which acknowledges it only after replying and
says "still working" while it waits (so a long confirmation is not taken for a crash). A replica that
dies mid-way never acknowledges: after `ack_wait` the request is delivered to another replica, which
answers the same caller. Whatever the request does must therefore be safe to run again (settlement
is: the ledger's claim and one-success rules make a second attempt resume the first).
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry.trace import SpanKind, Tracer

from x402fac.telemetry import BUS_LATENCY, HANDLER_LATENCY, client_span, server_span, tracer

from . import reply_mux
from .jetstream import FastJetStream
from .rpc import BusTimeout, Unavailable
from .tracing import inject

log = logging.getLogger(__name__)
_tracer = tracer("x402fac.bus")

REPLY_HEADER = "X402fac-Reply-To"
REPLY_PREFIX = "_X402R"
DELIVERY_HEADER = "Nats-Num-Delivered"  # set for the handler: 1 on a request's first delivery
SUCCESS_HEADER = "X402fac-Success"  # on an answer that hands a success over
# Returned by a handler that must not answer: another attempt of the same request is answering.
NO_REPLY = None


class HandOff(Exception):
    """Raised by a handler (or anything it calls) that cannot do the work here and now, having left
    nothing claimed: the request goes back to the queue, and another replica takes it."""


HAND_OFF_DELAY_SECONDS = 0.2

ANSWER_CONFIRM_SECONDS = 2.0
STORE_RETRY_SECONDS = 0.25  # between publishes of a request whose storing is not acknowledged
SUCCEEDED_MEMORY = 100_000  # requests an inbox remembers having taken a success for


class Answered(Enum):
    """What became of an answer sent to a caller's inbox."""

    TAKEN = b"taken"  # the caller was waiting and took it
    UNCLAIMED = b"unclaimed"  # nobody took it (the caller gave up, or its process is gone)
    # The caller took a success for this request before (from an earlier attempt that died before
    # acknowledging the work): that success stands, this answer is not needed.
    SUCCEEDED = b"succeeded"


async def answer_confirmed(nc: Client, reply_to: str, answer: bytes, success: bool = False) -> Answered:
    """Send `answer` (a success if `success`) to a caller's inbox and learn what became of it: a gateway
    that died or gave up does not take it, and the answerer can undo what it promised."""
    headers = {SUCCESS_HEADER: "1"} if success else None
    try:
        ack = await reply_mux.request(nc, reply_to, answer, ANSWER_CONFIRM_SECONDS, headers)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
        return Answered.UNCLAIMED
    try:
        return Answered(ack.data)
    except ValueError:
        return Answered.UNCLAIMED


WorkHandler = Callable[[bytes, Mapping[str, str]], Awaitable[bytes | None]]


class ReplyInbox:
    """One subscription per process for the replies to everything it published as work."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._js = FastJetStream(nc)
        self.id = uuid.uuid4().hex
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._succeeded: OrderedDict[str, None] = OrderedDict()  # tokens a success was taken for
        self._saying: set[asyncio.Task] = set()
        self._sub = None

    async def start(self) -> None:
        # Handed over in the connection's read loop (`reply_mux.Handover`): no queue and task per answer.
        handover: Any = reply_mux.Handover(self._on_reply)
        self._sub = await self.nc.subscribe(f"{REPLY_PREFIX}.*.{self.id}.*", future=handover)

    def address(self, subject: str, token: str) -> str:
        """`_X402R.<family>.<inbox>.<token>`: the work subject's last token names the family, so the bus
        lets only that family's workers answer here (x402fac.bus.access)."""
        return f"{REPLY_PREFIX}.{subject.rsplit('.', 1)[-1]}.{self.id}.{token}"

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    def _on_reply(self, msg: Msg) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        future = self._waiting.get(token)
        taken = future is not None and not future.done()  # a second attempt's answer is dropped
        if taken:
            future.set_result(msg.data)
            if (msg.headers or {}).get(SUCCESS_HEADER):
                self._succeeded[token] = None
                if len(self._succeeded) > SUCCEEDED_MEMORY:
                    self._succeeded.popitem(last=False)
        if msg.reply:  # the answering worker learns whether the answer reached a waiting caller
            if taken:
                answered = Answered.TAKEN
            else:
                answered = Answered.SUCCEEDED if token in self._succeeded else Answered.UNCLAIMED
            self._say(msg.reply, answered.value)

    def _say(self, subject: str, answer: bytes) -> None:
        """Publish from the read loop: at once when the client can (`LeanClient.publish_now`), else by
        a task of its own (a reply that fails is an answer the worker takes as unclaimed)."""
        publish_now = getattr(self.nc, "publish_now", None)
        try:
            if publish_now is not None and publish_now(subject, answer):
                return
        except Exception:  # refused (a subject that is not one): as a failed publish
            return
        task = asyncio.ensure_future(self._say_later(subject, answer))
        self._saying.add(task)
        task.add_done_callback(self._saying.discard)

    async def _say_later(self, subject: str, answer: bytes) -> None:
        with contextlib.suppress(Exception):
            await self.nc.publish(subject, answer)

    async def request(
        self, subject: str, payload: bytes, headers: dict[str, str], token: str, timeout: float
    ) -> bytes:
        """Publish `payload` as work and wait up to `timeout` for its answer.

        `token` identifies the request: it is the reply address and the stream's de-duplication id, so
        a publish retried after an unclear acknowledgement is stored once.
        """
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        timer: asyncio.TimerHandle | None = None
        self._waiting[token] = future
        try:
            with client_span(_tracer, f"nats {subject}", **{"messaging.destination.name": subject}):
                headers = inject(
                    {**headers, REPLY_HEADER: self.address(subject, token), "Nats-Msg-Id": token}
                )
                until = started + timeout
                await self._store(subject, payload, headers, future, until)
                # A timer bounds the wait (`asyncio.wait_for` costs a waiter and a loop turn more)
                timer = loop.call_later(max(until - time.perf_counter(), 0.001), reply_mux.expire, future)
                try:
                    return await future
                except nats.errors.TimeoutError:
                    raise BusTimeout(subject) from None
        finally:
            if timer is not None:
                timer.cancel()
            self._waiting.pop(token, None)
            BUS_LATENCY.labels(subject).observe(time.perf_counter() - started)

    async def _store(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str],
        answer: asyncio.Future[bytes],
        until: float,
    ) -> None:
        """Publish until the stream acknowledges. An acknowledgement that did not come (a NATS node
        going away) may hide a stored request that a worker will settle: giving up then would answer
        the caller before its deadline, and its retry would find the payment delivered to a request
        nobody waits for. So it is published again (the stream keeps one copy by its Nats-Msg-Id)
        until `until`, or until its answer came (it was stored, then). Only a refusal before any unclear
        attempt means nothing was stored."""
        unclear = False
        while (remaining := until - time.perf_counter()) > 0 and not answer.done():
            try:
                await self._js.publish(
                    subject, payload, headers=headers, timeout=min(max(remaining, 0.1), 5.0)
                )
                return
            except nats.js.errors.NoStreamResponseError:
                if not unclear:
                    raise Unavailable(subject) from None
            except nats.errors.TimeoutError:
                unclear = True
            except nats.js.errors.APIError:  # refused by a stream between leaders: not stored, try again
                pass
            await asyncio.sleep(min(STORE_RETRY_SECONDS, max(until - time.perf_counter(), 0)))
        if not answer.done():
            raise BusTimeout(subject)


@dataclass(eq=False)
class WorkConsumer:
    """Takes requests from a work-queue stream, shared with the other replicas of a queue group."""

    nc: Client
    name: str
    stream: str
    subject: str
    group: str
    handler: WorkHandler
    ack_wait: float = 5.0
    max_in_flight: int = 1000
    _sub: Any = field(default=None, init=False)
    _inflight: set[asyncio.Task] = field(default_factory=set, init=False)
    _tracer: Tracer = field(init=False)

    def __post_init__(self) -> None:
        self._tracer = tracer(f"x402fac.{self.name.split('.')[0]}")

    @property
    def inflight(self) -> int:
        """Requests being handled now."""
        return len(self._inflight)

    async def start(self) -> None:
        # The queue group is also the durable consumer's name and deliver group (nats-py), and the
        # subject its filter.
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait, max_ack_pending=self.max_in_flight
        )
        self._sub = await self.nc.jetstream().subscribe(
            self.subject, queue=self.group, stream=self.stream, cb=self._spawn, manual_ack=True, config=config
        )
        # Each item goes from the connection's read loop to its task (`reply_mux.Handover`), not through
        # the subscription's queue and task first. The consumer has no flow control and no heartbeats,
        # so nothing of nats-py's JetStream handling is skipped by it.
        self._sub._sub._future = reply_mux.Handover(self._take)

    async def stop(self, grace: float = 10.0) -> None:
        """Take no new work (what is queued goes to the other replicas), finish what is in hand."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()  # the durable consumer stays for the other replicas
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=grace)

    async def _spawn(self, msg: Msg) -> None:
        self._take(msg)

    def _take(self, msg: Msg) -> None:
        task = asyncio.create_task(self._serve(msg))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _serve(self, msg: Msg) -> None:
        # The handler learns whether an earlier attempt had the request (and may have died holding it).
        headers = {**(msg.headers or {}), DELIVERY_HEADER: str(msg.metadata.num_delivered)}
        heartbeat = StillWorking(msg, self.ack_wait / 3)
        started = time.perf_counter()
        try:
            with server_span(self._tracer, self.name, headers, SpanKind.INTERNAL):
                reply = await self.handler(msg.data, headers)
            reply_to = headers.get(REPLY_HEADER)
            if reply is not NO_REPLY and reply_to:
                await self.nc.publish(reply_to, reply)
            await msg.ack()
        except HandOff as handoff:
            log.info("%s: handed to another replica: %s", self.name, handoff)
            with contextlib.suppress(Exception):  # not taken back: it comes again after ack_wait
                await msg.nak(delay=HAND_OFF_DELAY_SECONDS)
        except Exception:
            # Not acknowledged: it is delivered again (here or to another replica) after ack_wait.
            log.exception("%s failed; the request will be delivered again", self.name)
        finally:
            heartbeat.stop()
            HANDLER_LATENCY.labels(self.name).observe(time.perf_counter() - started)


class StillWorking:
    """Tells the stream every `every` seconds that a work item is still being handled, until stopped.

    A timer rather than a task of its own: nearly every item is done before the first beat, and a task
    costs two loop turns (its start and its cancellation) per item."""

    def __init__(self, msg: Msg, every: float) -> None:
        self.msg = msg
        self.every = every
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(every, self._beat)
        self._saying: asyncio.Task | None = None

    def _beat(self) -> None:
        if self._saying is None or self._saying.done():
            self._saying = self._loop.create_task(self._say())
        self._timer = self._loop.call_later(self.every, self._beat)

    async def _say(self) -> None:
        with contextlib.suppress(Exception):
            await self.msg.in_progress()

    def stop(self) -> None:
        self._timer.cancel()
        if self._saying is not None:
            self._saying.cancel()
