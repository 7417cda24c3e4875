"""A JetStream context whose `publish` costs half the CPU of nats-py's.

Every ledger transition, pending-index entry and usage counter is a JetStream publish awaiting its
acknowledgement, nine per settle. nats-py's `publish` makes each a `request`: a random inbox token
(an `os.urandom` call), an `asyncio.wait_for`, and an acknowledgement parsed by `json` and dataclass
introspection. Here acknowledgements come back on one subscription per context, keyed by a counter,
with a timer handle instead of `wait_for`, decoded by msgspec: ~43 -> ~22 µs of CPU per publish at
concurrency 32. The answers and errors are `JetStreamContext.publish`'s (`PubAck`, `APIError` and its
subclasses, `NoStreamResponseError`, `nats.errors.TimeoutError`), and everything else (key-value
buckets made from this context, consumers, stream management) is nats-py's own.
"""

import asyncio
import itertools
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NoStreamResponseError

NO_RESPONDERS = "503"


class FastJetStream(JetStreamContext):
    def __init__(self, nc: Client, **options: Any) -> None:
        super().__init__(nc, **options)
        self._acks: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        self._inbox = ""

    async def start(self) -> "FastJetStream":
        """Subscribe to this context's acknowledgements (re-made by nats-py after a reconnect)."""
        inbox = f"{self._nc.new_inbox()}."
        await self._nc.subscribe(f"{inbox}*", cb=self._on_ack)
        self._inbox = inbox
        return self

    async def _on_ack(self, msg: Msg) -> None:
        waiting = self._acks.pop(msg.subject[len(self._inbox) :], None)
        if waiting is not None and not waiting.done():
            waiting.set_result(msg)

    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> api.PubAck:
        if not self._inbox:
            raise RuntimeError("FastJetStream.start() was not awaited")
        if stream is not None:
            headers = {**(headers or {}), api.Header.EXPECTED_STREAM: stream}
        if msg_ttl is not None:
            headers = {**(headers or {}), api.Header.MSG_TTL: str(int(msg_ttl))}
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Msg] = loop.create_future()
        self._acks[token] = waiting
        timer = loop.call_later(self._timeout if timeout is None else timeout, _expire, waiting)
        try:
            await self._nc.publish(subject, payload, reply=f"{self._inbox}{token}", headers=headers)
            msg = await waiting
        finally:
            timer.cancel()
            self._acks.pop(token, None)
        if msg.headers and msg.headers.get(api.Header.STATUS) == NO_RESPONDERS:
            raise NoStreamResponseError
        return _pub_ack(msg.data)


def _expire(waiting: asyncio.Future) -> None:
    if not waiting.done():
        waiting.set_exception(nats.errors.TimeoutError)


def _pub_ack(data: bytes) -> api.PubAck:
    found = msgspec.json.decode(data)
    if "error" in found:
        raise APIError.from_error(found["error"])
    return api.PubAck(
        stream=found["stream"],
        seq=found["seq"],
        domain=found.get("domain"),
        duplicate=found.get("duplicate"),
        batch_id=found.get("batch"),
        batch_size=found.get("count"),
        val=found.get("val"),
    )


async def fast_jetstream(nc: Client, **options: Any) -> FastJetStream:
    """A started FastJetStream on `nc` (options as `Client.jetstream`'s)."""
    return await FastJetStream(nc, **options).start()
