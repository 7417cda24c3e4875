"""A JetStream context whose `publish` costs half the CPU of nats-py's.

Every ledger transition, pending-index entry and usage counter is a JetStream publish awaiting its
acknowledgement, nine per settle. nats-py's `publish` makes each a `request` (a random token, an
`asyncio.wait_for`) and parses the acknowledgement with `json` and dataclass introspection; here the
request goes through the connection's `ReplyMux` and msgspec decodes the acknowledgement: ~43 -> ~22
µs of CPU per publish at concurrency 32. The answers and errors are `JetStreamContext.publish`'s
(`PubAck`, `APIError` and its subclasses, `NoStreamResponseError`, `nats.errors.TimeoutError`), and
everything else (key-value buckets made from this context, consumers, stream management) is
nats-py's own.
"""

from typing import Any

import msgspec
import nats.errors
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NoStreamResponseError

from .reply_mux import request


class FastJetStream(JetStreamContext):
    async def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> api.PubAck:
        if stream is not None:
            headers = {**(headers or {}), api.Header.EXPECTED_STREAM: stream}
        if msg_ttl is not None:
            headers = {**(headers or {}), api.Header.MSG_TTL: str(int(msg_ttl))}
        wait = self._timeout if timeout is None else timeout
        try:
            msg = await request(self._nc, subject, payload, wait, headers)
        except nats.errors.NoRespondersError:
            raise NoStreamResponseError from None
        return _pub_ack(msg.data)


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
