"""Requests whose replies come back on one subscription per connection, keyed by a counter.

nats-py's `request` costs a random token (an `os.urandom` call) and an `asyncio.wait_for` per call;
here a counter names the reply and a timer handle bounds the wait: about half the CPU per request
at concurrency 32. Every ledger call, every settle's answer to its gateway, every verify the gateway
forwards and every JetStream publish of the ledger (`jetstream.FastJetStream`) goes through it.
Errors are nats-py's: `nats.errors.TimeoutError`, `nats.errors.NoRespondersError`.

Replies are handed over from the connection's read loop (`Handover`): a subscription with a callback
queues each message for a task of its own, one more loop turn and queue round per reply.
"""

import asyncio
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

NO_RESPONDERS = "503"
STATUS = "Status"


class Handover:
    """What nats-py's `subscribe(future=...)` hands every message of the subscription to, in its read
    loop (`set_result`); it never gives up (`cancelled`), unlike the one-reply future it expects.
    `deliver` runs in the read loop: it must not block or raise."""

    def __init__(self, deliver: Callable[[Msg], None]) -> None:
        self.set_result = deliver

    @staticmethod
    def cancelled() -> bool:
        return False


class ReplyMux:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        self._inbox = ""

    async def start(self) -> "ReplyMux":
        """Subscribe to the replies (nats-py subscribes again after a reconnect)."""
        inbox = f"{self.nc.new_inbox()}."
        handover: Any = Handover(self._on_reply)
        await self.nc.subscribe(f"{inbox}*", future=handover)
        self._inbox = inbox
        return self

    def _on_reply(self, msg: Msg) -> None:
        waiting = self._waiting.pop(msg.subject[len(self._inbox) :], None)
        if waiting is not None and not waiting.done():
            waiting.set_result(msg)

    async def request(
        self, subject: str, payload: bytes, timeout: float, headers: dict[str, Any] | None = None
    ) -> Msg:
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = waiting
        timer = loop.call_later(timeout, expire, waiting)
        try:
            await self.nc.publish(subject, payload, reply=f"{self._inbox}{token}", headers=headers)
            msg = await waiting
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        if msg.headers and msg.headers.get(STATUS) == NO_RESPONDERS:
            raise nats.errors.NoRespondersError
        return msg


def expire(waiting: asyncio.Future) -> None:
    """A timer's end of a wait: nats-py's timeout error, unless the answer came."""
    if not waiting.done():
        waiting.set_exception(nats.errors.TimeoutError)


_muxes: "weakref.WeakKeyDictionary[Client, asyncio.Future[ReplyMux]]" = weakref.WeakKeyDictionary()
_started: "weakref.WeakKeyDictionary[Client, ReplyMux]" = weakref.WeakKeyDictionary()


async def reply_mux(nc: Client) -> ReplyMux:
    """The connection's mux, started on first use."""
    started = _started.get(nc)
    if started is not None:
        return started
    found = _muxes.get(nc)
    if found is None:
        found = _muxes[nc] = asyncio.ensure_future(ReplyMux(nc).start())
    try:
        started = _started[nc] = await asyncio.shield(found)
        return started
    except Exception:
        if _muxes.get(nc) is found:  # not started (the connection was away): the next call tries again
            del _muxes[nc]
        raise


async def request(
    nc: Client, subject: str, payload: bytes, timeout: float, headers: dict[str, Any] | None = None
) -> Msg:
    """`nc.request` through the connection's mux."""
    return await (await reply_mux(nc)).request(subject, payload, timeout, headers)
