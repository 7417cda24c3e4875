"""The x402 payment-identifier extension: an idempotency key chosen by the client, bound to one payment.

The one opt-in exception to "one success per payment" (docs/design.md, 2.4): a settle that carries
`extensions["payment-identifier"].info.id` claims that id here (an atomic KV create), bound to a
digest of the payment. An id is scoped by its payer (the key is payer and id): one payer's id never
blocks another payer's payment, and the gateway claims only for a payer its worker authenticated. Same id + same payment after a success: the stored answer again. Same id +
another payment: a conflict, whatever state the first is in. Same id + same payment while another
request is settling it: busy (the gateway waits for that answer). Only successes are kept: any other
outcome drops the claim, so a forgery or a failed payment leaves nothing behind, and a retry of the
same payment goes through the settlement pipeline again (where its one-success rules apply).
"""

import time

import msgspec
from nats.js.errors import APIError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from x402fac.bus import encode_key, read_entry
from x402fac.protocol.ledger import (
    PaymentIdClaim,
    PaymentIdFinish,
    PaymentIdRecord,
    PaymentIdReply,
    PaymentIdStatus,
)

ATTEMPTS = 8
WRONG_LAST_SEQUENCE = 10071  # how a delete with an expected revision reports a lost race
_decode = msgspec.json.Decoder(PaymentIdRecord).decode
_encode = msgspec.json.encode


def record_key(payer: str, identifier: str) -> str:
    return encode_key(f"{payer}/{identifier}" if payer else identifier)


def _claimed(request: PaymentIdClaim, now: float) -> PaymentIdRecord:
    """The record of an id claimed by `request`'s requester until its deadline: (id, digest, owner,
    owner_until, created_at)."""
    return PaymentIdRecord(request.id, request.digest, request.requester, request.deadline, now)


class PaymentIds:
    def __init__(self, bucket: KeyValue) -> None:
        self.bucket = bucket

    async def claim(self, request: PaymentIdClaim) -> PaymentIdReply:
        key = record_key(request.payer, request.id)
        if request.peek:
            return await self._peek(key, request.digest)
        for _ in range(ATTEMPTS):
            now = time.time()
            try:
                await self.bucket.create(key, _encode(_claimed(request, now)))
                return PaymentIdReply(PaymentIdStatus.NEW)
            except KeyWrongLastSequenceError:
                pass
            found = await read_entry(self.bucket, key)
            if found is None:
                continue  # dropped in between: claim it anew
            held = _decode(found.value)
            abandoned = held.response is None and now >= held.owner_until
            if held.digest != request.digest and not abandoned:
                return PaymentIdReply(PaymentIdStatus.CONFLICT)
            if held.response is not None:
                return PaymentIdReply(PaymentIdStatus.REPLAY, response=held.response)
            if held.owner and held.owner != request.requester and now < held.owner_until:
                return PaymentIdReply(PaymentIdStatus.BUSY, owner_until=held.owner_until)
            # Its request gave up without an answer: this one takes the id over.
            taken = msgspec.structs.replace(
                held, digest=request.digest, owner=request.requester, owner_until=request.deadline
            )
            try:
                await self.bucket.update(key, _encode(taken), last=found.revision)
            except KeyWrongLastSequenceError:
                continue
            return PaymentIdReply(PaymentIdStatus.NEW)
        return PaymentIdReply(PaymentIdStatus.BUSY, owner_until=time.time() + 1.0)

    async def _peek(self, key: str, digest: str) -> PaymentIdReply:
        found = await read_entry(self.bucket, key)
        held = _decode(found.value) if found is not None else None
        if held is not None and held.digest == digest and held.response is not None:
            return PaymentIdReply(PaymentIdStatus.REPLAY, response=held.response)
        return PaymentIdReply(PaymentIdStatus.NEW)

    async def finish(self, request: PaymentIdFinish) -> PaymentIdReply:
        """A success is stored for replay; anything else drops the claim (if this request holds it)."""
        key = record_key(request.payer, request.id)
        for _ in range(ATTEMPTS):
            found = await read_entry(self.bucket, key)
            if found is None:
                return PaymentIdReply(PaymentIdStatus.NEW)
            held = _decode(found.value)
            if held.digest != request.digest:
                return PaymentIdReply(PaymentIdStatus.CONFLICT)
            if held.response is not None:
                return PaymentIdReply(PaymentIdStatus.REPLAY, response=held.response)
            success = request.response is not None and request.response.success
            if held.owner != request.requester and not success:
                return PaymentIdReply(PaymentIdStatus.BUSY, owner_until=held.owner_until)
            try:
                if success:
                    stored = msgspec.structs.replace(
                        held, owner="", owner_until=0.0, response=request.response
                    )
                    await self.bucket.update(key, _encode(stored), last=found.revision)
                    return PaymentIdReply(PaymentIdStatus.REPLAY, response=request.response)
                await self.bucket.delete(key, last=found.revision)
                return PaymentIdReply(PaymentIdStatus.NEW)
            except APIError as exc:
                if not (isinstance(exc, KeyWrongLastSequenceError) or exc.err_code == WRONG_LAST_SEQUENCE):
                    raise
        return PaymentIdReply(PaymentIdStatus.BUSY)
